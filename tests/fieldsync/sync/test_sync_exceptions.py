"""Single occurrences of a recurring series changed or cancelled on either side are synchronized
with the series, on the connectors that hold them (`holds_exceptions`), and settle without
drift."""

from __future__ import annotations

import datetime

import pytest

from crm.models import AppointmentException, RecurringAppointment
from crm.services import exception_save
from fieldsync.models.sync import SyncLink

from .conftest import _counter, make_mailbox
from .mailboxes import DavMailbox, MemoryMailbox, XandikosMailbox
from .runs_on import runs_on

pytestmark = pytest.mark.django_db

MONDAY = datetime.datetime(2026, 12, 7, 9, tzinfo=datetime.UTC)
WEEK = datetime.timedelta(weeks=1)


@pytest.fixture(params=["memory", "exchange", "dav", "xandikos", "graph"])
def mailbox(request):  # type: ignore[no-untyped-def]
    """The connectors that hold a series' exceptions (all of them): in memory, EWS (the
    master's modified and deleted occurrences) on the EWS test server, CalDAV (RECURRENCE-ID
    overrides and EXDATE) on Radicale and Xandikos, and Microsoft Graph (the master's cancelled
    and exception occurrences)."""
    if request.param == "memory":
        return MemoryMailbox()
    if request.param in ("exchange", "graph"):
        return make_mailbox(request, request.param)
    if request.param == "dav":
        made = DavMailbox(request.getfixturevalue("radicale"), f"series{next(_counter)}")
    else:
        server = request.getfixturevalue("xandikos")
        made = XandikosMailbox(server, f"series{next(_counter)}")
    request.addfinalizer(made.close)
    return made


@pytest.fixture
def series(sally):  # type: ignore[no-untyped-def]
    return RecurringAppointment.objects.create(
        owner=sally,
        subject="Weekly pipeline",
        location="Teams",
        scheduled_start=MONDAY,
        scheduled_end=MONDAY + datetime.timedelta(minutes=30),
        recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=10",
    )


def item_id_of(record) -> str:  # type: ignore[no-untyped-def]
    return SyncLink.objects.get(crm_id=record.pk).item_id


def exceptions_in(mailbox, series) -> list[tuple]:  # type: ignore[no-untyped-def]
    """The occurrences the mailbox holds as changed or cancelled, as they take place: (original
    start, cancelled, start, subject, location); a client may repeat the series' values in an
    occurrence (CalDAV does) or leave them out (None here)."""
    got = mailbox.items("calendar")[item_id_of(series)].fields.get("exceptions") or []
    series.refresh_from_db()
    out = []
    for e in got:
        if e["cancelled"]:
            out.append((e["original_start"], True, None, None, None))
            continue
        subject = None if e["subject"] in (None, series.subject) else e["subject"]
        location = None if e["location"] in (None, series.location) else e["location"]
        start = e["start"] if e["start"] != e["original_start"] else None
        out.append((e["original_start"], False, start, subject, location))
    return out


def settled(sync) -> None:  # type: ignore[no-untyped-def]
    sync("recurring_appointment")
    assert sync("recurring_appointment").plan.records == ()


def test_occurrences_changed_or_cancelled_in_the_crm_reach_the_mailbox(sync, mailbox, series):
    sync("recurring_appointment")
    AppointmentException.objects.create(
        series=series,
        original_start=MONDAY + WEEK,
        scheduled_start=MONDAY + WEEK + datetime.timedelta(hours=2),
        subject="Pipeline (moved)",
    )
    AppointmentException.objects.create(
        series=series, original_start=MONDAY + 2 * WEEK, is_cancelled=True
    )
    assert sync("recurring_appointment").counts["exchange_updated"] == 1
    assert exceptions_in(mailbox, series) == [
        (
            MONDAY + WEEK,
            False,
            MONDAY + WEEK + datetime.timedelta(hours=2),
            "Pipeline (moved)",
            None,
        ),
        (MONDAY + 2 * WEEK, True, None, None, None),
    ]
    # Putting an occurrence back to the pattern goes out too.
    series.exceptions.get(is_cancelled=True).delete()
    sync("recurring_appointment")
    assert [e[0] for e in exceptions_in(mailbox, series)] == [MONDAY + WEEK]
    settled(sync)


def test_occurrences_changed_or_cancelled_in_outlook_reach_the_crm(sync, mailbox, series):
    sync("recurring_appointment")
    moved = MONDAY + 3 * WEEK + datetime.timedelta(hours=1)
    mailbox.edit(
        "calendar",
        item_id_of(series),
        exceptions=[
            {
                "original_start": MONDAY + 3 * WEEK,
                "cancelled": False,
                "start": moved,
                "end": moved + datetime.timedelta(minutes=30),
                # A client that writes every property of the occurrence: only the change counts.
                "subject": "Weekly pipeline",
                "location": "Room 4",
                "description": None,
            },
            {
                "original_start": MONDAY + 4 * WEEK,
                "cancelled": True,
                "start": None,
                "end": None,
                "subject": None,
                "location": None,
                "description": None,
            },
        ],
    )
    before = RecurringAppointment.objects.get(pk=series.pk).change_number
    assert sync("recurring_appointment").counts["crm_updated"] == 1
    rows = list(series.exceptions.order_by("original_start"))
    assert [(e.original_start, e.is_cancelled) for e in rows] == [
        (MONDAY + 3 * WEEK, False),
        (MONDAY + 4 * WEEK, True),
    ]
    changed = rows[0]
    assert (changed.scheduled_start, changed.scheduled_end) == (moved, None)  # the usual length
    assert (changed.subject, changed.location) == (None, "Room 4")  # subject as the series
    assert changed.effective()["end"] == moved + datetime.timedelta(minutes=30)
    series.refresh_from_db()
    assert series.change_number > before  # the series changed, once, with its exceptions
    settled(sync)
    # The CRM side of what came from Outlook does not go back as a change.
    assert exceptions_in(mailbox, series)[1] == (MONDAY + 4 * WEEK, True, None, None, None)


def test_the_same_occurrence_changed_on_both_sides_is_decided_by_the_conflict_policy(
    sync, mailbox, series
):
    sync("recurring_appointment")
    AppointmentException.objects.create(
        series=series, original_start=MONDAY + WEEK, subject="CRM's title"
    )
    mailbox.edit(
        "calendar",
        item_id_of(series),
        exceptions=[
            {
                "original_start": MONDAY + WEEK,
                "cancelled": True,
                "start": None,
                "end": None,
                "subject": None,
                "location": None,
                "description": None,
            }
        ],
    )
    sync("recurring_appointment")  # the default policy: the CRM wins
    (kept,) = series.exceptions.all()
    assert (kept.is_cancelled, kept.subject) == (False, "CRM's title")
    assert exceptions_in(mailbox, series) == [(MONDAY + WEEK, False, None, "CRM's title", None)]
    settled(sync)


def test_an_occurrence_after_a_daylight_saving_change_cancelled_in_the_crm_reaches_the_mailbox(
    sync, sally, mailbox
):
    # 09:00 in Berlin on Mondays: 07:00 UTC in summer time, 08:00 UTC after it ends (25 October).
    sally.time_zone = "Europe/Berlin"  # the zone the CRM and the mailboxes expand the series in
    sally.save(update_fields=["time_zone"])
    summer = datetime.datetime(2026, 10, 19, 7, tzinfo=datetime.UTC)
    series = RecurringAppointment.objects.create(
        owner=sally,
        subject="Monday review",
        scheduled_start=summer,
        scheduled_end=summer + datetime.timedelta(minutes=30),
        recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=4",
    )
    sync("recurring_appointment")
    winter = datetime.datetime(2026, 10, 26, 8, tzinfo=datetime.UTC)
    exception_save(
        series=series, values={"original_start": winter, "is_cancelled": True}, actor=sally
    )
    assert sync("recurring_appointment").counts["exchange_updated"] == 1
    assert exceptions_in(mailbox, series) == [(winter, True, None, None, None)]
    settled(sync)
    assert [(e.original_start, e.is_cancelled) for e in series.exceptions.all()] == [(winter, True)]


def test_a_series_created_in_outlook_brings_its_exceptions(sync, sally, mailbox):
    mailbox.create(
        "calendar",
        {
            "subject": "Stand-up",
            "scheduled_start": MONDAY,
            "scheduled_end": MONDAY + datetime.timedelta(minutes=15),
            "is_all_day_event": False,
            "recurrence_pattern": "FREQ=DAILY;COUNT=5",
            "exceptions": [
                {
                    "original_start": MONDAY + datetime.timedelta(days=2),
                    "cancelled": True,
                    "start": None,
                    "end": None,
                    "subject": None,
                    "location": None,
                    "description": None,
                }
            ],
        },
    )
    sync("recurring_appointment")
    (made,) = RecurringAppointment.objects.all()
    assert [(e.original_start, e.is_cancelled) for e in made.exceptions.all()] == [
        (MONDAY + datetime.timedelta(days=2), True)
    ]
    settled(sync)


@pytest.fixture(params=["dav", "xandikos"])
def caldav(request):  # type: ignore[no-untyped-def]
    kind = request.param
    if kind == "dav":
        made = DavMailbox(request.getfixturevalue("radicale"), f"raw{next(_counter)}")
    else:
        made = XandikosMailbox(request.getfixturevalue("xandikos"), f"raw{next(_counter)}")
    request.addfinalizer(made.close)
    return made


def test_an_occurrence_another_caldav_client_moved_or_cancelled_reaches_the_crm(
    sally, series, caldav
):
    """As Thunderbird or Apple Calendar write it: an EXDATE on the master, and a VEVENT of the
    same UID with a RECURRENCE-ID (the master untouched but for that)."""
    from fieldsync.service.sync import sync_mailbox

    def run() -> None:
        sync_mailbox(owner=sally, connector=caldav.connector, entities=["recurring_appointment"])

    run()
    item_id = item_id_of(series)
    coll = caldav.user.collections["calendar"]
    (fetched,) = caldav.user._multiget("calendar", [item_id]).values()
    text = fetched.data.replace("\r\n", "\n")
    master_end = text.rindex("END:VEVENT")
    uid = next(ln[4:] for ln in text.splitlines() if ln.startswith("UID:"))
    override = (
        f"BEGIN:VEVENT\nUID:{uid}\nRECURRENCE-ID:20261221T090000Z\nDTSTAMP:20261201T000000Z\n"
        "DTSTART:20261221T130000Z\nDTEND:20261221T133000Z\nSUMMARY:Weekly pipeline\n"
        "LOCATION:Room 9\nEND:VEVENT\n"
    )
    text = text[:master_end].replace("RRULE:", "EXDATE:20261228T090000Z\nRRULE:", 1) + text[
        master_end:
    ].replace("END:VEVENT\n", "END:VEVENT\n" + override, 1)
    caldav.user.dav.request(
        "PUT",
        coll.resolve(item_id),
        body=text.replace("\n", "\r\n").encode(),
        headers={"Content-Type": coll.content_type},
    )
    run()
    rows = [
        (e.original_start, e.is_cancelled, e.scheduled_start, e.subject, e.location)
        for e in series.exceptions.order_by("original_start")
    ]
    assert rows == [
        (MONDAY + 2 * WEEK, False, MONDAY + 2 * WEEK + datetime.timedelta(hours=4), None, "Room 9"),
        (MONDAY + 3 * WEEK, True, None, None, None),
    ]
    run()  # the echo of this run's own writes
    before = RecurringAppointment.objects.get(pk=series.pk).change_number
    run()  # settled: a further run changes nothing in the CRM
    assert RecurringAppointment.objects.get(pk=series.pk).change_number == before


def test_an_occurrence_outlook_moved_or_cancelled_through_graph_reaches_the_crm(
    request, sally, series
):
    """As Outlook on the web writes it through Graph: a PATCH of one occurrence (it becomes an
    exception) and a DELETE of another (cancelled), by the ids the series' instances give."""
    from fieldsync.service.sync import sync_mailbox

    outlook = make_mailbox(request, "graph")

    def run() -> None:
        sync_mailbox(owner=sally, connector=outlook.connector, entities=["recurring_appointment"])

    run()
    user = outlook.user
    listed = user.client.request(
        "GET",
        f"{user.user}/events/{item_id_of(series)}/instances",
        params={"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2027-01-31T00:00:00Z"},
    ).body["value"]
    by_start = {o["originalStart"]: o["id"] for o in listed}
    moved = user.client.request(
        "PATCH",
        f"{user.user}/events/{by_start['2026-12-21T09:00:00Z']}",
        body={
            "start": {"dateTime": "2026-12-21T13:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-21T13:30:00", "timeZone": "UTC"},
            "location": {"displayName": "Room 9"},
        },
    )
    assert moved.status == 200, moved.message
    gone = user.client.request("DELETE", f"{user.user}/events/{by_start['2026-12-28T09:00:00Z']}")
    assert gone.status == 204, gone.message
    run()
    rows = [
        (e.original_start, e.is_cancelled, e.scheduled_start, e.subject, e.location)
        for e in series.exceptions.order_by("original_start")
    ]
    assert rows == [
        (MONDAY + 2 * WEEK, False, MONDAY + 2 * WEEK + datetime.timedelta(hours=4), None, "Room 9"),
        (MONDAY + 3 * WEEK, True, None, None, None),
    ]
    run()  # the echo of this run's own writes
    before = RecurringAppointment.objects.get(pk=series.pk).change_number
    outlook.reset_counts()
    run()  # settled: a further run changes nothing, and costs one change listing
    assert RecurringAppointment.objects.get(pk=series.pk).change_number == before
    assert outlook.requests() == {"SyncFolderItems": 1}


def test_an_occurrence_left_as_the_series_gives_it_is_no_exception_on_either_side():
    """Exchange keeps no exception that overrides nothing, CalDAV and the CRM may: both read
    the same, so such an occurrence is no difference (no drift, nothing to write)."""
    from fieldsync.service.values import entity_fields

    fields = entity_fields("recurring_appointment", exceptions=True)
    row = {
        "subject": "Weekly pipeline",
        "location": "Teams",
        "description": "",
        "scheduled_start": MONDAY,
        "scheduled_end": MONDAY + datetime.timedelta(minutes=30),
    }
    as_the_series = {
        "original_start": MONDAY + WEEK,
        "cancelled": False,
        "start": MONDAY + WEEK,
        "end": MONDAY + WEEK + datetime.timedelta(minutes=30),
        "subject": "Weekly pipeline",
        "location": "Teams",
        "description": None,
    }
    moved = {**as_the_series, "original_start": MONDAY + 2 * WEEK, "start": None, "end": None}
    moved["location"] = "Room 4"
    with_empty = fields.values({**row, "exceptions": [as_the_series, moved]})["exceptions"]
    without = fields.values({**row, "exceptions": [moved]})["exceptions"]
    assert with_empty == without
    assert [e[0] for e in without] == ["2026-12-21T09:00:00+00:00"]


@runs_on("exchange")  # Exchange drops a series' exceptions when its pattern or time changes
def test_exceptions_of_occurrences_a_new_pattern_no_longer_has_go_on_both_sides(
    sync, mailbox, series
):
    """A series moved to another time in the CRM: Exchange keeps no exception of an occurrence
    the new pattern does not have, and the CRM lets them go too instead of keeping a
    difference the mailbox can never hold."""
    AppointmentException.objects.create(
        series=series, original_start=MONDAY + WEEK, location="Room 9"
    )
    AppointmentException.objects.create(
        series=series, original_start=MONDAY + 2 * WEEK, is_cancelled=True
    )
    sync("recurring_appointment")
    assert len(exceptions_in(mailbox, series)) == 2
    series.scheduled_start = MONDAY + datetime.timedelta(hours=1)
    series.scheduled_end = series.scheduled_start + datetime.timedelta(minutes=30)
    series.save()
    sync("recurring_appointment")
    settled(sync)
    assert exceptions_in(mailbox, series) == []
    assert list(series.exceptions.all()) == []


@runs_on("memory", "exchange", "dav", "graph")
def test_exceptions_read_back_after_a_write_are_no_conflict_when_the_server_kept_them(
    sync, mailbox, series
):
    """The run after a write compares what the server kept with what was written: an
    occurrence the server holds with the series' values repeated (CalDAV) is the same
    exception, not a value the server changed, also when a new pattern of the series brings
    the exceptions along."""
    from fieldsync.models.sync import SyncConflict

    moved = MONDAY + WEEK + datetime.timedelta(hours=1)
    AppointmentException.objects.create(
        series=series, original_start=MONDAY + WEEK, scheduled_start=moved, location="Room 9"
    )
    sync("recurring_appointment")
    series.recurrence_pattern = "FREQ=WEEKLY;BYDAY=MO;COUNT=12"
    series.save()
    assert sync("recurring_appointment").counts["exchange_updated"] == 1
    assert not SyncConflict.objects.exists()
    assert exceptions_in(mailbox, series) == [(MONDAY + WEEK, False, moved, None, "Room 9")]
    settled(sync)
    assert not SyncConflict.objects.exists()  # the run that saw the write back found none
