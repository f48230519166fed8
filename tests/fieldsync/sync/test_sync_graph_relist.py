"""Microsoft Graph lists a calendar's window only (a year back, two years ahead). A sync state
Graph no longer knows (410 Gone, syncStateNotFound, resyncRequired) makes the sync list the
window again: what was deleted in Outlook meanwhile, inside the window or a whole series, is
deleted; what lies outside the window is kept unless Graph says it is gone."""

from __future__ import annotations

import datetime

import pytest

from connectors.base import RemoteItem
from crm.models import Appointment, RecurringAppointment
from fieldsync.models.sync import SyncLink

from .conftest import make_mailbox

pytestmark = pytest.mark.django_db

NOW = datetime.datetime.now(datetime.UTC).replace(minute=0, second=0, microsecond=0)
DAY = datetime.timedelta(days=1)
HOUR = datetime.timedelta(hours=1)
CALENDAR = ("appointment", "recurring_appointment")


@pytest.fixture
def mailbox(request):  # type: ignore[no-untyped-def]
    """Sally's mailbox on the Graph test server (the default window: 365 days back, 730
    ahead)."""
    return make_mailbox(request, "graph")


def appointment(sally, subject: str, start: datetime.datetime) -> Appointment:  # type: ignore[no-untyped-def]
    return Appointment.objects.create(
        owner=sally, subject=subject, scheduled_start=start, scheduled_end=start + HOUR
    )


def series(sally, subject: str, start: datetime.datetime, count: int) -> RecurringAppointment:  # type: ignore[no-untyped-def]
    return RecurringAppointment.objects.create(
        owner=sally,
        subject=subject,
        scheduled_start=start,
        scheduled_end=start + HOUR,
        recurrence_pattern=f"FREQ=WEEKLY;COUNT={count}",
    )


def link_state(record) -> str:  # type: ignore[no-untyped-def]
    return SyncLink.objects.get(crm_id=record.pk).state


def item_id_of(record) -> str:  # type: ignore[no-untyped-def]
    return SyncLink.objects.get(crm_id=record.pk).item_id


def settled(sync) -> None:  # type: ignore[no-untyped-def]
    """Graph gives a new series its organizer and its pattern in its own terms (BYDAY added),
    which mean what the CRM said: after the run that wrote them, nothing is left to do."""
    for entity in CALENDAR:
        sync(entity)
    for entity in CALENDAR:
        assert sync(entity).plan.records == (), entity


@pytest.mark.parametrize("how", ["gone", "syncStateNotFound", "resyncRequired"])
def test_deletions_while_the_state_was_expired_reach_the_crm_and_nothing_outside_the_window_is_lost(
    sync, sally, mailbox, how
):
    inside = appointment(sally, "Inside the window", NOW + 10 * DAY)
    kept = appointment(sally, "Kept inside", NOW + 12 * DAY)
    old = appointment(sally, "Two years ago", NOW - 800 * DAY)
    far = appointment(sally, "In three years", NOW + 1100 * DAY)
    # A series from before the window into it (listed through its occurrences in the window),
    # and one wholly before the window.
    weekly = series(sally, "Weekly since last year", NOW - 400 * DAY, 70)
    past = series(sally, "Weekly two years ago", NOW - 800 * DAY, 4)
    records = (inside, kept, old, far, weekly, past)
    settled(sync)  # items the sync made outside the window are not taken as deleted either
    assert all(link_state(r) == "active" for r in records)

    mailbox.graph.expire_delta(mailbox.connector.mailbox, how)
    mailbox.delete("calendar", item_id_of(inside))
    mailbox.delete("calendar", item_id_of(weekly))
    single, recurring = (sync(entity).counts for entity in CALENDAR)

    # The delete policy (default: stop syncing the record, the CRM keeps it).
    assert (single["untracked"], recurring["untracked"]) == (1, 1)
    assert (link_state(inside), link_state(weekly)) == ("untracked", "untracked")
    assert all(link_state(r) == "active" for r in (kept, old, far, past))
    held = mailbox.user.get_items("calendar", [item_id_of(r) for r in records], ["subject"])
    assert [isinstance(r, RemoteItem) for r in held] == [False, True, True, True, False, True]
    assert Appointment.objects.count() == 4 and RecurringAppointment.objects.count() == 2
    settled(sync)  # and Verify (the sync fixture) finds no drift


def test_an_item_moved_out_of_the_window_while_the_state_was_expired_keeps_its_change(
    sync, sally, mailbox
):
    moved = appointment(sally, "Planning", NOW + 5 * DAY)
    sync("appointment")
    mailbox.graph.expire_delta(mailbox.connector.mailbox)
    later = NOW + 1000 * DAY
    mailbox.edit("calendar", item_id_of(moved), scheduled_start=later, scheduled_end=later + HOUR)
    assert sync("appointment").counts["crm_updated"] == 1
    moved.refresh_from_db()
    assert (moved.scheduled_start, link_state(moved)) == (later, "active")


def test_a_relisting_reads_what_the_window_leaves_out_by_id_in_batches_of_20(sync, sally, mailbox):
    for n in range(30):
        appointment(sally, f"Old {n}", NOW - (400 + n) * DAY)
    appointment(sally, "Next week", NOW + 7 * DAY)
    sync("appointment")
    sync("appointment")
    mailbox.graph.expire_delta(mailbox.connector.mailbox)
    mailbox.reset_counts()
    report = sync("appointment")
    assert report.plan.records == ()
    sent = mailbox.requests()
    # The expired delta, the window listed again (one page), its one item read (one $batch),
    # and the 30 items before the window read by id: two $batch requests of up to 20.
    assert sent["SyncFolderItems"] == 2
    assert sent["GetItem"] == 1 + 2


def test_a_contact_deleted_while_the_state_was_expired_is_deleted_by_the_full_listing(
    sync, sally, mailbox
):
    from crm.models import Contact

    gone, kept = (Contact.objects.create(owner=sally, last_name=n) for n in ("Gone", "Kept"))
    sync()
    mailbox.graph.expire_delta(mailbox.connector.mailbox)
    mailbox.delete("contacts", item_id_of(gone))
    assert sync().counts["untracked"] == 1
    assert (link_state(gone), link_state(kept)) == ("untracked", "active")
