"""No stuck record, no silent divergence (issue 16): a write that failed is retried from what the
item holds now, so nothing is lost and the record does not fail for good. Each scenario runs on
the connectors where it could turn out differently (runs_on.py)."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest

from crm.models import Appointment, Contact, Task
from fieldsync.models.sync import MailboxSyncState, SyncConflict, SyncLink

from .mailboxes import fail_next_update
from .runs_on import connector_scenario, engine_scenario, runs_on

pytestmark = pytest.mark.django_db


def _item_id(record) -> str:
    return SyncLink.objects.get(crm_id=record.pk).item_id


def _edited_on_both_sides_then_failed(sync, sally, mailbox) -> tuple[Contact, str]:
    """Ann synced; then an Outlook edit of her job title and a CRM edit of her last name; the
    run that takes both fails to write the item (a transient error on that one item)."""
    ann = Contact.objects.create(owner=sally, first_name="Ann", last_name="Lee", job_title="Buyer")
    sync()
    item_id = _item_id(ann)
    mailbox.edit("contacts", item_id, job_title="Outlook Title")
    ann.last_name = "Leigh"
    ann.save()
    fail_next_update(mailbox, item_id)
    report = sync()
    assert report.failed == [str(ann.pk)]
    return ann, item_id


@connector_scenario
def test_a_failed_write_is_retried_from_the_item_as_it_is_now(sync, sally, mailbox):
    ann, item_id = _edited_on_both_sides_then_failed(sync, sally, mailbox)
    report = sync()
    assert report.failed == []
    ann.refresh_from_db()
    item = mailbox.items("contacts")[item_id]
    assert (ann.last_name, ann.job_title) == ("Leigh", "Outlook Title")
    assert (item.fields["last_name"], item.fields["job_title"]) == ("Leigh", "Outlook Title")
    assert MailboxSyncState.objects.get(owner=sally, entity="contact").retry_ids == []
    assert sync().failed == []
    assert not SyncConflict.objects.exists()


@engine_scenario
def test_a_record_deleted_after_a_failed_write_keeps_the_outlook_only_values(sync, sally, mailbox):
    ann, item_id = _edited_on_both_sides_then_failed(sync, sally, mailbox)
    ann.delete()
    report = sync()
    assert report.failed == []
    assert item_id not in mailbox.items("contacts")
    kept = SyncConflict.objects.get()
    assert (kept.field, kept.exchange_value) == ("job_title", "Outlook Title")


# -- 9. the tracked category ----------------------------------------------------------------------


@connector_scenario
def test_an_item_tracked_under_any_case_of_the_category_enters_the_crm(sync, sally, mailbox):
    mailbox.create(
        "contacts", {"first_name": "Tom", "last_name": "Lower"}, categories=("tracked to crm",)
    )
    mailbox.create("contacts", {"first_name": "Una", "last_name": "Other"}, categories=("VIP",))
    assert sync().counts["crm_created"] == 1
    assert list(Contact.objects.values_list("last_name", flat=True)) == ["Lower"]


@connector_scenario
def test_removing_the_category_untracks_the_item_and_the_crm_record_stays(sync, sally, mailbox):
    ann = Contact.objects.create(owner=sally, first_name="Ann", last_name="Lee", job_title="Buyer")
    sync()
    item_id = _item_id(ann)
    mailbox.set_categories("contacts", item_id, ("VIP",))
    report = sync()
    assert report.counts["untracked"] == 1
    assert SyncLink.objects.get(crm_id=ann.pk).state == "untracked"
    ann.refresh_from_db()  # the record stays, as it was
    assert (ann.last_name, ann.job_title) == ("Lee", "Buyer")
    # Neither side reaches the other any more, and nothing is deleted.
    ann.job_title = "CRM only"
    ann.save()
    mailbox.edit("contacts", item_id, last_name="Outlook only")
    sync()
    ann.refresh_from_db()
    assert ann.last_name == "Lee"
    assert mailbox.items("contacts")[item_id].fields["job_title"] == "Buyer"
    # Tracked again (whatever the case): the sync resumes and merges both edits.
    mailbox.set_categories("contacts", item_id, ("VIP", "TRACKED TO CRM"))
    sync()
    ann.refresh_from_db()
    assert (ann.last_name, ann.job_title) == ("Outlook only", "CRM only")
    assert mailbox.items("contacts")[item_id].fields["job_title"] == "CRM only"


# -- 6. values the server normalizes --------------------------------------------------------------


# Only where the server normalizes the value: Exchange (and the in-memory mailbox made to).
@runs_on("exchange", "memory")
def test_a_value_exchange_does_not_keep_is_a_conflict_and_both_sides_then_agree(
    sync, sally, mailbox
):
    """Exchange resets a task not started to 0 % done; the demo has such tasks at 50 %. (The
    in-memory mailbox is made to do the same.)"""
    if mailbox.kind == "memory":
        from connectors.base import NewItem

        create = mailbox.connector.create_items

        def reset_percent(folder, items):  # type: ignore[no-untyped-def]
            def fix(fields: dict) -> dict:
                if fields.get("status", "not_started") == "not_started":
                    return fields | {"percent_complete": 0}
                return fields

            return create(folder, [NewItem(i.crm_id, fix(i.fields), i.categories) for i in items])

        mailbox.connector.create_items = reset_percent
    task = Task.objects.create(
        owner=sally, subject="Call back", status="not_started", percent_complete=50
    )
    assert sync("task").counts["exchange_created"] == 1
    item = mailbox.items("tasks")[_item_id(task)]
    assert item.fields["percent_complete"] == 0
    # Until the next run, Verify explains the difference as that run's, never as drift.
    from fieldsync.service.verify import verify_mailbox

    (before,) = verify_mailbox(owner=sally, connector=mailbox.connector, entities=["task"])
    assert before.drift == [] and before.explained["pending_run"] == 1
    # The next run's change list brings the write back as the server stored it (no read-back
    # right after the write): the difference is a conflict, not "0 changed" while the sides
    # differ, and the CRM takes what Exchange holds in that run; the conflict keeps the 50.
    report = sync("task")
    assert report.counts["conflicts"] == 1
    kept = SyncConflict.objects.get()
    assert (kept.field, kept.crm_value, kept.exchange_value, kept.reason) == (
        "percent_complete",
        50,
        0,
        "server_normalized",
    )
    task.refresh_from_db()
    assert task.percent_complete == 0
    assert mailbox.items("tasks")[_item_id(task)].fields["percent_complete"] == 0  # no write back
    assert sync("task").plan.records == ()
    assert SyncConflict.objects.count() == 1


# -- 3. all-day events across the spring DST change -------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def _all_day(owner, subject: str, first: datetime.date, last: datetime.date) -> Appointment:
    start = datetime.datetime.combine(first, datetime.time(), BERLIN)
    end = datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time(), BERLIN)
    return Appointment.objects.create(
        owner=owner,
        subject=subject,
        organizer=owner.email,
        scheduled_start=start,
        scheduled_end=end,
        is_all_day_event=True,
    )


@connector_scenario
@pytest.mark.parametrize(
    ("first", "last"),
    [
        (datetime.date(2027, 3, 27), datetime.date(2027, 3, 28)),  # spring: the 28th is 23 h
        (datetime.date(2027, 3, 28), datetime.date(2027, 3, 28)),
        (datetime.date(2027, 10, 30), datetime.date(2027, 10, 31)),  # autumn: the 31st is 25 h
    ],
)
def test_an_all_day_event_across_a_dst_change_keeps_its_days(sync, sally, mailbox, first, last):
    event = _all_day(sally, "Trade fair", first, last)
    start, end = event.scheduled_start, event.scheduled_end
    sync("appointment")
    mailbox.edit("calendar", _item_id(event), subject="Trade fair (booth 4)")
    report = sync("appointment")
    assert report.failed == []
    event.refresh_from_db()
    assert event.subject == "Trade fair (booth 4)"
    assert (event.scheduled_start, event.scheduled_end) == (start, end)
    assert event.is_all_day_event
    assert sync("appointment").plan.records == ()


# -- 4. a series' UNTIL ---------------------------------------------------------------------------


@runs_on("memory", "exchange", "dav", "graph")
def test_a_series_at_half_past_midnight_keeps_its_last_occurrence(sync, sally, mailbox):
    from crm.models import RecurringAppointment

    start = datetime.datetime(2026, 11, 3, 0, 30, tzinfo=BERLIN)  # a Tuesday
    # The last occurrence, Tuesday 5 January 00:30 in Berlin, is Monday 23:30 UTC.
    rule = "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270104T233000Z"
    series = RecurringAppointment.objects.create(
        owner=sally,
        subject="Night shift handover",
        scheduled_start=start,
        scheduled_end=start + datetime.timedelta(minutes=30),
        recurrence_pattern=rule,
    )
    report = sync("recurring_appointment")
    assert report.counts["exchange_created"] == 1 and report.counts["conflicts"] == 0
    item = mailbox.items("calendar")[_item_id(series)]
    assert item.fields["recurrence_pattern"] == rule
    assert sync("recurring_appointment").plan.records == ()


@connector_scenario
@pytest.mark.parametrize(
    ("rule", "weekday"),
    [
        ("FREQ=WEEKLY;COUNT=5", 0),  # no BYDAY: the start's weekday, a Monday in Berlin
        ("FREQ=WEEKLY;INTERVAL=2;COUNT=5", 6),  # 00:30 Sunday in Berlin is Saturday in UTC
        ("FREQ=DAILY;INTERVAL=3;COUNT=4", 0),
    ],
)
def test_a_crm_series_settles_in_one_run(sync, sally, mailbox, rule, weekday):
    """A weekly rule without BYDAY means the start's weekday (in the series' zone); Exchange and
    Graph store it with the day spelled out, and make the mailbox's owner the organizer: the
    series is in step after the run that wrote it, with nothing to plan next and no conflict."""
    from crm.models import RecurringAppointment

    start = datetime.datetime(2026, 11, 2, 9, 0, tzinfo=BERLIN)
    start += datetime.timedelta(days=weekday)
    if weekday == 6:
        start = start.replace(hour=0, minute=30)
    series = RecurringAppointment.objects.create(
        owner=sally,
        subject="Stand-up",
        scheduled_start=start,
        scheduled_end=start + datetime.timedelta(minutes=15),
        recurrence_pattern=rule,
    )
    report = sync("recurring_appointment")
    assert report.failed == [] and report.counts["exchange_created"] == 1
    assert report.counts["conflicts"] == 0
    assert sync("recurring_appointment").plan.records == ()
    assert not SyncConflict.objects.exists()
    series.refresh_from_db()
    assert series.recurrence_pattern == rule  # the CRM keeps the user's own spelling
    # The organizer is the server's to set (read into the CRM, never written): the run that
    # wrote the series does not copy it back, and it is no change for the next run either.
    assert series.organizer == ""


@runs_on("exchange", "graph")  # Outlook's own way of ending a series: a date UNTIL
def test_an_outlook_series_enters_the_crm_with_a_utc_until(sync, sally, mailbox):
    from crm.models import RecurringAppointment

    start = datetime.datetime(2026, 11, 3, 0, 30, tzinfo=BERLIN)
    mailbox.create(
        "calendar",
        {
            "subject": "Night shift handover",
            "scheduled_start": start,
            "scheduled_end": start + datetime.timedelta(minutes=30),
            "is_all_day_event": False,
            "recurrence_pattern": "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270105",  # Outlook's end date
        },
    )
    assert sync("recurring_appointment").counts["crm_created"] == 1
    (series,) = RecurringAppointment.objects.all()
    # RFC 5545: a timed series ends with a date-time UNTIL, here its last start in UTC.
    assert series.recurrence_pattern == "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270104T233000Z"


# -- 5. values the CRM refuses ---------------------------------------------------------------------

LEGACY = "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=ann"


@connector_scenario
@pytest.mark.parametrize("offered", ['"ann lee"@contoso.test', LEGACY, "call her mobile"])
def test_an_email_the_crm_refuses_is_a_rejected_change_never_a_record_it_cannot_edit(
    sync, sally, mailbox, offered, client
):
    from fieldsync.models.sync import RejectedChange

    item_id = mailbox.create(
        "contacts", {"first_name": "Ann", "last_name": "Lee", "email": offered}
    )
    report = sync()
    assert report.counts["crm_created"] == 1 and report.failed == []
    (ann,) = Contact.objects.all()
    assert ann.email == ""  # the record is made, without the value the CRM refuses
    kept = RejectedChange.objects.get()
    assert (kept.field, kept.offered_value) == ("email", offered)
    assert kept.reason.startswith("invalid_value")
    # Outlook keeps its value; the CRM record stays editable through the API.
    assert mailbox.items("contacts")[item_id].fields["email"] == offered
    client.force_login(sally)
    answer = client.patch(
        f"/api/v1/contacts/{ann.pk}/", {"last_name": "Leigh"}, content_type="application/json"
    )
    assert answer.status_code == 200, answer.content
    # An Outlook edit to another refused value is one more rejected change, nothing else.
    mailbox.edit("contacts", item_id, email="not an address", job_title="CFO")
    sync()
    ann.refresh_from_db()
    assert (ann.email, ann.last_name, ann.job_title) == ("", "Leigh", "CFO")
    assert RejectedChange.objects.count() == 2
    assert sync().plan.records == ()


# -- 7. Verify -----------------------------------------------------------------------------------


@engine_scenario
def test_verify_explains_each_difference_and_reports_drift_with_both_values(
    sync, sally, mailbox, set_direction
):
    from django.db import models

    from fieldsync.models.mailboxes import VerifyReport
    from fieldsync.service.verify import verify_mailbox

    ann = Contact.objects.create(owner=sally, first_name="Ann", last_name="Lee", job_title="Buyer")
    bob = Contact.objects.create(owner=sally, first_name="Bob", last_name="Ray", department="Sales")
    sync()
    (clean,) = verify_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    assert (clean.records, clean.drift_count, clean.error) == (2, 0, "")
    assert clean.fields_compared > 2

    set_direction("contact", "department", "to_outlook")
    mailbox.edit("contacts", _item_id(bob), department="Outlook only")  # stays in Outlook
    sync()
    # A write that bypassed the sync's change tracking: the sides now silently differ.
    models.QuerySet.update(Contact.objects.filter(pk=ann.pk), job_title="Sneaked in")
    (report,) = verify_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    assert report.explained["direction"] == 1
    assert report.drift == [
        {
            "crm_id": str(ann.pk),
            "item_id": _item_id(ann),
            "field": "job_title",
            "crm_value": "Sneaked in",
            "exchange_value": "Buyer",
        }
    ]
    assert VerifyReport.objects.filter(owner=sally).count() == 2
    # A CRM edit not synced yet is a pending run, not drift.
    Contact.objects.filter(pk=ann.pk).update(job_title="Sneaked in")  # a tracked edit
    models.QuerySet.update(Contact.objects.filter(pk=ann.pk), job_title="Buyer")
    ann.refresh_from_db()
    ann.job_title = "Head buyer"
    ann.save()
    (pending,) = verify_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    assert pending.drift == [] and pending.explained["pending_run"] == 1
    sync()


@engine_scenario
def test_a_crm_edit_made_while_the_run_writes_is_merged_next_run_nothing_lost(sync, sally, mailbox):
    ann = Contact.objects.create(
        owner=sally, first_name="Ann", last_name="Lee", job_title="Buyer", department="Sales"
    )
    sync()
    item_id = _item_id(ann)
    mailbox.edit("contacts", item_id, job_title="Outlook Title")
    Contact.objects.filter(pk=ann.pk).update(last_name="Leigh")
    original = mailbox.connector.update_items

    def crm_edit_first(folder, updates, **kw):  # type: ignore[no-untyped-def]
        Contact.objects.filter(pk=ann.pk).update(department="Purchasing")  # after the read
        return original(folder, updates, **kw)

    mailbox.connector.update_items = crm_edit_first
    report = sync()
    mailbox.connector.update_items = original
    assert report.failed == [str(ann.pk)]  # its CRM write was refused: the record moved on
    assert sync().failed == []
    ann.refresh_from_db()
    item = mailbox.items("contacts")[item_id].fields
    assert (ann.last_name, ann.job_title, ann.department) == (
        "Leigh",
        "Outlook Title",
        "Purchasing",
    )
    assert (item["last_name"], item["job_title"], item["department"]) == (
        "Leigh",
        "Outlook Title",
        "Purchasing",
    )
    assert not SyncConflict.objects.exists()
