"""A service activity made in Outlook (a copy carrying the type, a client that wrote one): the
sync leaves it in Outlook and says why in the user's words; it is not a rejected change an
administrator would be asked to resolve, run after run."""

from __future__ import annotations

import datetime

import pytest

from connectors.base import ACTIVITY_TYPE
from crm.models import Appointment, ServiceActivity
from fieldsync.management.commands.sync_mailbox import describe
from fieldsync.models.sync import RejectedChange
from fieldsync.service.sync import SyncReport

from .conftest import make_mailbox

pytestmark = pytest.mark.django_db

START = datetime.datetime(2026, 12, 7, 9, tzinfo=datetime.UTC)


@pytest.fixture
def mailbox(request):  # type: ignore[no-untyped-def]
    return make_mailbox(request, "memory")


def test_a_service_activity_made_in_outlook_stays_there_and_is_no_rejected_change(
    sync, sally, mailbox
):
    ServiceActivity.objects.create(
        owner=sally,
        subject="Boiler maintenance",
        scheduled_start=START,
        scheduled_end=START + datetime.timedelta(hours=2),
    )
    sync("service_activity")
    made = {
        "subject": "Typed in Outlook",
        "scheduled_start": START,
        "scheduled_end": START + datetime.timedelta(hours=1),
        "is_all_day_event": False,
        ACTIVITY_TYPE: "service_activity",
    }
    item_id = mailbox.create("calendar", made)  # tracked: the user asked for it to sync

    report = sync("service_activity")

    assert ServiceActivity.objects.count() == 1 and not Appointment.objects.exists()
    assert not RejectedChange.objects.exists()  # nothing for an administrator to resolve
    assert report.counts["rejected"] == 0 and report.counts["crm_created"] == 0
    (note,) = report.notes
    assert note.startswith("Not brought into the CRM: 1 item made in Outlook.")
    assert "Service activities go from the CRM to Outlook only" in note
    assert "permission" not in note and "may not" not in note
    lines = describe(SyncReport(owner="sally", dry_run=False, entities={"x": report}))
    assert any("Service activities go from the CRM to Outlook only" in line for line in lines)
    assert "rejected changes 0" in "\n".join(lines)
    # Outlook keeps the item as the user made it, and the CRM id is not stamped on it.
    kept = mailbox.items("calendar")[item_id]
    assert kept.fields["subject"] == "Typed in Outlook" and kept.crm_id in (None, "")

    # Edited again in Outlook: still nothing recorded, and the run says so again.
    mailbox.edit("calendar", item_id, subject="Typed in Outlook, edited")
    again = sync("service_activity")
    assert not RejectedChange.objects.exists() and ServiceActivity.objects.count() == 1
    assert len(again.notes) == 1
    # A quiet run has nothing to say.
    assert sync("service_activity").notes == []


def test_a_user_who_may_not_create_tasks_still_gets_a_rejected_change(sync, sally, mailbox):
    """The one-way words are for one-way entities only: a missing right stays a rejection."""
    from security.services import role_upsert

    levels = {("task", a): "user" for a in ("read", "write", "sync")}
    role_upsert(name="Salesperson", levels=levels, users=[sally])
    mailbox.create("tasks", {"subject": "Plain to-do"})
    report = sync("task")
    assert report.notes == []
    (rejected,) = RejectedChange.objects.all()
    assert rejected.reason == "no_create_permission"
