"""latest_wins through the sync service and the in-memory connector: the item's modified time
from the connector against the record's modified_on; the later edit wins, the loss is recorded."""

from __future__ import annotations

import pytest

from crm.models import Contact
from fieldsync.models.sync import SyncConflict, SyncLink, SyncPolicy

from .runs_on import runs_on

pytestmark = [pytest.mark.django_db, runs_on("memory")]


def synced_ann(sync, sally) -> tuple[Contact, str]:
    SyncPolicy.objects.update_or_create(pk=1, defaults={"conflict_policy": "latest_wins"})
    ann = Contact.objects.create(owner=sally, first_name="Ann", last_name="Lee", job_title="Clerk")
    sync()
    return ann, SyncLink.objects.get(crm_id=ann.pk).item_id


def edit_crm(ann: Contact) -> None:
    ann.job_title = "CRM title"
    ann.save()


def edit_outlook(mailbox, item_id: str) -> None:
    mailbox.edit("contacts", item_id, job_title="Outlook title")


@pytest.mark.parametrize("later", ["outlook", "crm"])
def test_the_later_edit_wins_and_the_conflict_keeps_both_values(sync, sally, mailbox, later):
    ann, item_id = synced_ann(sync, sally)
    if later == "outlook":
        edit_crm(ann)
        edit_outlook(mailbox, item_id)
    else:
        edit_outlook(mailbox, item_id)
        edit_crm(ann)
    report = sync()
    winner = "Outlook title" if later == "outlook" else "CRM title"
    ann.refresh_from_db()
    assert ann.job_title == winner
    assert mailbox.items("contacts")[item_id].fields["job_title"] == winner
    assert report.counts["conflicts"] == 1
    c = SyncConflict.objects.get()
    assert (c.field, c.base_value, c.crm_value, c.exchange_value) == (
        "job_title",
        "Clerk",
        "CRM title",
        "Outlook title",
    )
    assert c.outcome == ("exchange" if later == "outlook" else "crm")
    assert c.reason == "latest_wins"
