"""Occurrences of a recurring series on the EWS test server, as Exchange keeps them: addressed by
InstanceIndex or by their own id, changed (ModifiedOccurrences) or deleted (DeletedOccurrences),
refused where Exchange refuses; and the Exchange connector reading and writing them.
"""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
import requests
from exchangelib.errors import (
    ErrorCalendarCannotUseIdForOccurrenceId,
    ErrorCalendarCannotUseIdForRecurringMasterId,
    ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange,
    ErrorCalendarOccurrenceIsDeletedFromRecurrence,
    ErrorIrresolvableConflict,
    ErrorOccurrenceCrossingBoundary,
)
from exchangelib.items import NEVER_OVERWRITE
from lxml import etree

from connectors.base import ItemUpdate, NewItem
from connectors.ewsserver import schema
from connectors.ewsserver.store import Store
from connectors.recurrence import to_exchange

MONDAY = datetime.datetime(2026, 12, 7, 9, tzinfo=datetime.UTC)
WEEK = datetime.timedelta(weeks=1)
HALF_HOUR = datetime.timedelta(minutes=30)
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"


def _series(connector, **extra) -> str:  # type: ignore[no-untyped-def]
    fields = {
        "subject": "Weekly pipeline",
        "location": "Teams",
        "scheduled_start": MONDAY,
        "scheduled_end": MONDAY + HALF_HOUR,
        "is_all_day_event": False,
        "recurrence_pattern": "FREQ=WEEKLY;BYDAY=MO;COUNT=10",
        **extra,
    }
    (made,) = connector.create_items("calendar", [NewItem("crm-1", fields)])
    assert made.ok, made.message
    return str(made.item_id)


def _master(connector, item_id: str):  # type: ignore[no-untyped-def]
    return connector.account.calendar.get(id=item_id)


def _moved(occurrence, hours: int, subject: str | None = None) -> None:  # type: ignore[no-untyped-def]
    occurrence.start += datetime.timedelta(hours=hours)
    occurrence.end += datetime.timedelta(hours=hours)
    names = ["start", "end"]
    if subject is not None:
        occurrence.subject = subject
        names.append("subject")
    occurrence.save(update_fields=names)


def test_an_occurrence_by_index_is_the_series_at_its_date_with_the_masters_change_key(connector):
    master = _master(connector, _series(connector))
    third = master.occurrence(3)
    third.refresh()
    assert third.type == "Occurrence"
    assert (third.start, third.end) == (MONDAY + 2 * WEEK, MONDAY + 2 * WEEK + HALF_HOUR)
    assert (third.subject, third.location) == ("Weekly pipeline", "Teams")
    assert third.changekey == master.changekey  # one key for a master and its occurrences
    assert third.recurrence is None and third.id != master.id
    # And back: RecurringMasterItemId names the master of an occurrence, never of a master.
    parent = third.recurring_master()
    parent.refresh()
    assert (parent.id, parent.type) == (master.id, "RecurringMaster")
    with pytest.raises(ErrorCalendarCannotUseIdForOccurrenceId):
        master.recurring_master().refresh()


def test_changing_an_occurrence_makes_it_an_exception_listed_by_its_master(connector):
    item_id = _series(connector)
    master = _master(connector, item_id)
    state = connector.list_changes("calendar", None)
    sync_state = list(state)[-1].sync_state
    second = master.occurrence(2)
    second.refresh()
    _moved(second, 2, subject="Pipeline (moved)")

    master = _master(connector, item_id)
    (modified,) = master.modified_occurrences
    assert (modified.original_start, modified.start) == (
        MONDAY + WEEK,
        MONDAY + WEEK + datetime.timedelta(hours=2),
    )
    assert modified.changekey == master.changekey
    exception = connector.account.calendar.get(id=modified.id)
    assert (exception.type, exception.subject, exception.location) == (
        "Exception",
        "Pipeline (moved)",
        "Teams",  # not changed in the occurrence: the series' value shows through
    )
    # A change to an occurrence is a change of the series: listed as an update of the master.
    (page,) = list(connector.list_changes("calendar", sync_state))
    assert [i.item_id for i in page.updated] == [item_id] and not page.created
    # The master's own later change reaches what the occurrence did not change.
    master.location = "Room 4"
    master.save(update_fields=["location"])
    exception = connector.account.calendar.get(id=modified.id)
    assert (exception.subject, exception.location) == ("Pipeline (moved)", "Room 4")


def test_a_deleted_occurrence_is_gone_from_the_series_and_cannot_be_reached(connector):
    master = _master(connector, _series(connector))
    master.occurrence(4).delete()
    master = _master(connector, master.id)
    assert [d.start for d in master.deleted_occurrences] == [MONDAY + 3 * WEEK]
    for action in ("refresh", "delete"):
        with pytest.raises(ErrorCalendarOccurrenceIsDeletedFromRecurrence):
            getattr(master.occurrence(4), action)()
    # The index still counts it: the fifth is the fifth of the pattern.
    fifth = master.occurrence(5)
    fifth.refresh()
    assert fifth.start == MONDAY + 4 * WEEK


def test_setting_the_masters_recurrence_drops_its_exceptions(connector):
    master = _master(connector, _series(connector))
    master.occurrence(2).delete()
    third = master.occurrence(3)
    third.refresh()
    _moved(third, 1)
    master = _master(connector, master.id)
    assert master.modified_occurrences and master.deleted_occurrences
    master.recurrence = to_exchange("FREQ=WEEKLY;BYDAY=MO;COUNT=10", MONDAY.date())
    master.save(update_fields=["recurrence"])
    master = _master(connector, master.id)
    assert master.modified_occurrences is None and master.deleted_occurrences is None


def test_what_exchange_refuses_for_occurrences_is_refused(connector):
    master = _master(connector, _series(connector))
    with pytest.raises(ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange):
        master.occurrence(11).refresh()
    second = master.occurrence(2)
    second.refresh()
    # Not past the day of the next occurrence.
    with pytest.raises(ErrorOccurrenceCrossingBoundary):
        _moved(second, 24 * 7)
    # A stale ChangeKey (the master changed since) with NeverOverwrite.
    stale = second.changekey
    master.subject = "Renamed"
    master.save(update_fields=["subject"])
    second.subject = "Mine"
    second._id = second._id.__class__(id=second.id, changekey=stale)
    with pytest.raises(ErrorIrresolvableConflict):
        second.save(update_fields=["subject"], conflict_resolution=NEVER_OVERWRITE)
    # A single appointment has no occurrences.
    (single,) = connector.create_items(
        "calendar",
        [
            NewItem(
                "crm-2",
                {
                    "subject": "Once",
                    "scheduled_start": MONDAY,
                    "scheduled_end": MONDAY + HALF_HOUR,
                    "is_all_day_event": False,
                },
            )
        ],
    )
    with pytest.raises(ErrorCalendarCannotUseIdForRecurringMasterId):
        _master(connector, single.item_id).occurrence(1).refresh()


def _soap(body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}" xmlns:m="{M}" '
        f'xmlns:t="{T}"><s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _get_item(ews, address: str, ids: str, shape: str = "IdOnly") -> etree._Element:  # type: ignore[no-untyped-def]
    """A raw GetItem (the start asked for); its answer, checked against the schema."""
    got = requests.post(
        ews.url,
        data=_soap(
            f"<m:GetItem><m:ItemShape><t:BaseShape>{shape}</t:BaseShape>"
            '<t:AdditionalProperties><t:FieldURI FieldURI="calendar:Start"/>'
            f"</t:AdditionalProperties></m:ItemShape><m:ItemIds>{ids}</m:ItemIds></m:GetItem>"
        ),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=(address, "pw-" + address),
        timeout=10,
    )
    assert got.status_code == 200
    answer = etree.fromstring(got.content).find(f"{{{SOAP}}}Body")[0]
    assert schema.validator().errors(answer) == []  # the answer is schema-valid too
    return answer.find(f".//{{{M}}}GetItemResponseMessage")


def test_an_instance_index_beyond_the_series_is_refused_over_raw_soap(
    ews, new_mailbox, make_connector
):
    address = new_mailbox()
    item_id = _series(make_connector(address))
    last, beyond = (
        _get_item(
            ews, address, f'<t:OccurrenceItemId RecurringMasterId="{item_id}" InstanceIndex="{i}"/>'
        )
        for i in (10, 11)
    )
    assert last.get("ResponseClass") == "Success"
    assert last.findtext(f".//{{{T}}}Start") == "2027-02-08T09:00:00Z"
    assert beyond.get("ResponseClass") == "Error"
    code = beyond.findtext(f"{{{M}}}ResponseCode")
    assert code == "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange"


def test_a_master_and_its_exception_answer_schema_valid_xml(ews, new_mailbox, make_connector):
    address = new_mailbox()
    connector = make_connector(address)
    master = _master(connector, _series(connector))
    master.occurrence(2).delete()
    third = master.occurrence(3)
    third.refresh()
    _moved(third, 1, subject="Later")
    answer = _get_item(ews, address, f'<t:ItemId Id="{master.id}"/>', "AllProperties")
    (occurrence,) = answer.iterfind(f".//{{{T}}}ModifiedOccurrences/{{{T}}}Occurrence")
    assert [etree.QName(c).localname for c in occurrence] == [
        "ItemId",
        "Start",
        "End",
        "OriginalStart",
    ]
    deleted = answer.findtext(f".//{{{T}}}DeletedOccurrences/{{{T}}}DeletedOccurrence/{{{T}}}Start")
    assert deleted == "2026-12-14T09:00:00Z"
    own_id = occurrence.find(f"{{{T}}}ItemId").get("Id")
    exception = _get_item(ews, address, f'<t:ItemId Id="{own_id}"/>', "AllProperties")
    assert exception.findtext(f".//{{{T}}}CalendarItemType") == "Exception"
    assert exception.findtext(f".//{{{T}}}OriginalStart") == "2026-12-21T09:00:00Z"
    assert exception.findtext(f".//{{{T}}}Subject") == "Later"


def test_the_store_keeps_a_series_exceptions_across_restarts(tmp_path, connector, ews):
    master = _master(connector, _series(connector))
    master.occurrence(2).delete()
    third = master.occurrence(3)
    third.refresh()
    _moved(third, 1, subject="Later")
    path = tmp_path / "ews.json"
    ews.store.path = path
    try:
        ews.store.save()
    finally:
        ews.store.path = None
    reloaded = Store(path).items[master.id]
    assert set(reloaded.occurrences) == {
        "2026-12-14T09:00:00Z",
        "2026-12-21T09:00:00Z",
    }
    assert reloaded.occurrences["2026-12-14T09:00:00Z"] is None
    assert reloaded.occurrences["2026-12-21T09:00:00Z"].findtext(f"{{{T}}}Subject") == "Later"


# -- the connector --------------------------------------------------------------------------------
def _exceptions(connector, item_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    (got,) = connector.get_items("calendar", [item_id], ["exceptions"])
    return got.fields["exceptions"]


def _changed(original: datetime.datetime, **values: object) -> dict:
    entry = {
        "original_start": original,
        "cancelled": False,
        "start": None,
        "end": None,
        "subject": None,
        "location": None,
        "description": None,
    }
    entry.update(values)
    return entry


def test_the_connector_writes_and_reads_a_series_exceptions(connector, ews):
    item_id = _series(
        connector,
        exceptions=[
            _changed(MONDAY + WEEK, subject="Moved", start=MONDAY + WEEK + HALF_HOUR),
            _changed(MONDAY + 2 * WEEK, cancelled=True),
        ],
    )
    assert _exceptions(connector, item_id) == [
        _changed(
            MONDAY + WEEK,
            subject="Moved",
            start=MONDAY + WEEK + HALF_HOUR,
            end=MONDAY + WEEK + 2 * HALF_HOUR,
        ),
        _changed(MONDAY + 2 * WEEK, cancelled=True),
    ]
    # Back to the pattern: the changed one is updated back to the series (Exchange still
    # lists it, as the same as the series it is none), the deleted one needs the recurrence
    # written again.
    key = connector.get_items("calendar", [item_id], ["subject"])[0].change_key
    (done,) = connector.update_items("calendar", [ItemUpdate(item_id, key, {"exceptions": []})])
    assert done.ok, done.message
    assert _exceptions(connector, item_id) == []
    assert done.change_key == connector.get_items("calendar", [item_id], ["subject"])[0].change_key
    # A stale key changes nothing.
    (stale,) = connector.update_items(
        "calendar",
        [ItemUpdate(item_id, key, {"exceptions": [_changed(MONDAY, cancelled=True)]})],
    )
    assert (stale.ok, stale.error_code) == (False, "ErrorIrresolvableConflict")
    assert _exceptions(connector, item_id) == []


def test_a_series_end_change_keeps_its_exceptions(connector):
    item_id = _series(connector, exceptions=[_changed(MONDAY + WEEK, location="Room 9")])
    key = connector.get_items("calendar", [item_id], ["subject"])[0].change_key
    (done,) = connector.update_items(
        "calendar",
        [ItemUpdate(item_id, key, {"scheduled_end": MONDAY + 2 * HALF_HOUR})],
    )
    assert done.ok, done.message
    assert [(e["original_start"], e["location"]) for e in _exceptions(connector, item_id)] == [
        (MONDAY + WEEK, "Room 9")
    ]


def test_listing_changes_reads_the_changed_occurrences_once_a_page(connector, ews):
    for n in range(3):
        _series(connector, exceptions=[_changed(MONDAY + WEEK, subject=f"Moved {n}")])
    ews.reset()
    (page,) = list(connector.list_changes("calendar", None))
    assert sorted(i.fields["exceptions"][0]["subject"] for i in page.created) == [
        "Moved 0",
        "Moved 1",
        "Moved 2",
    ]
    # One GetItem reads the page's series (SyncFolderItems lists their ids only), one their
    # changed occurrences.
    assert (ews.request_count("SyncFolderItems"), ews.request_count("GetItem")) == (1, 2)
    ews.reset()
    (quiet,) = list(connector.list_changes("calendar", page.sync_state))
    assert not quiet.updated and ews.request_count() == 1


def test_a_pattern_change_keeps_the_exceptions_the_new_pattern_still_has(connector):
    item_id = _series(
        connector,
        exceptions=[
            _changed(MONDAY + WEEK, cancelled=True),
            _changed(MONDAY + 2 * WEEK, location="Room 9"),
        ],
    )
    key = connector.get_items("calendar", [item_id], ["subject"])[0].change_key
    # Setting the recurrence makes Exchange drop every exception: they are applied again.
    (done,) = connector.update_items(
        "calendar",
        [ItemUpdate(item_id, key, {"recurrence_pattern": "FREQ=WEEKLY;BYDAY=MO;COUNT=12"})],
    )
    assert done.ok, done.message
    got = _exceptions(connector, item_id)
    assert [(e["original_start"], e["cancelled"], e["location"]) for e in got] == [
        (MONDAY + WEEK, True, None),
        (MONDAY + 2 * WEEK, False, "Room 9"),
    ]


def test_an_occurrence_after_the_clocks_change_keeps_its_local_time(connector):
    """A series at 09:00 in Berlin: its occurrences after the spring change start an hour
    earlier in UTC, and are found there by both sides."""
    start = datetime.datetime(2027, 3, 22, 8, tzinfo=datetime.UTC)  # 09:00 CET
    after = datetime.datetime(2027, 3, 29, 7, tzinfo=datetime.UTC)  # 09:00 CEST
    item_id = _series(
        connector,
        scheduled_start=start,
        scheduled_end=start + HALF_HOUR,
        exceptions=[_changed(after, cancelled=True)],
    )
    assert _exceptions(connector, item_id) == [_changed(after, cancelled=True)]
    third = _master(connector, item_id).occurrence(3)
    third.refresh()
    assert third.start == after + WEEK


def test_occurrences_moved_past_each_others_old_days_are_written_in_an_order_exchange_takes(
    connector,
):
    """Exchange checks each occurrence's move against where the others are at that moment:
    putting the third back to its Monday and moving the second to the Sunday before it is
    refused in the order of the pattern (the third is still on the second's Tuesday), and is
    written once the third is back."""
    tuesday = MONDAY + WEEK + datetime.timedelta(days=1)
    item_id = _series(
        connector, exceptions=[_changed(MONDAY + 2 * WEEK, start=tuesday, end=tuesday + HALF_HOUR)]
    )
    key = connector.get_items("calendar", [item_id], ["subject"])[0].change_key
    sunday = MONDAY + 2 * WEEK - datetime.timedelta(days=1)
    wanted = [_changed(MONDAY + WEEK, start=sunday, end=sunday + HALF_HOUR)]
    (done,) = connector.update_items("calendar", [ItemUpdate(item_id, key, {"exceptions": wanted})])
    assert done.ok, done.message
    assert [(e["original_start"], e["start"]) for e in _exceptions(connector, item_id)] == [
        (MONDAY + WEEK, sunday)
    ]
    assert done.change_key == connector.get_items("calendar", [item_id], ["subject"])[0].change_key


def test_a_monthly_series_on_the_31st_takes_place_on_the_last_day_of_shorter_months(connector):
    """Exchange and Outlook put an occurrence of "day 31 of every month" on the last day of a
    shorter month (RFC 5545 would skip that month): the InstanceIndex counts it, so the
    occurrence the CRM cancels on 31 March is the one cancelled, not 28 February."""
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    start = datetime.datetime(2027, 1, 31, 9, tzinfo=berlin)
    march = datetime.datetime(2027, 3, 31, 9, tzinfo=berlin)
    item_id = _series(
        connector,
        scheduled_start=start,
        scheduled_end=start + HALF_HOUR,
        recurrence_pattern="FREQ=MONTHLY;BYMONTHDAY=31;COUNT=4",
        exceptions=[_changed(march, cancelled=True)],
    )
    second = _master(connector, item_id).occurrence(2)
    second.refresh()
    assert second.start == datetime.datetime(2027, 2, 28, 9, tzinfo=berlin)
    assert _exceptions(connector, item_id) == [_changed(march, cancelled=True)]
    with pytest.raises(ErrorCalendarOccurrenceIsDeletedFromRecurrence):
        _master(connector, item_id).occurrence(3).refresh()


def test_exceptions_for_an_appointment_that_is_no_longer_a_series_are_answered(connector):
    """Outlook made the series a single appointment just before the write: the update is
    answered (there is no occurrence to write), one result per update as always."""
    item_id = _series(connector, recurrence_pattern="")
    key = connector.get_items("calendar", [item_id], ["subject"])[0].change_key
    wanted = {"exceptions": [_changed(MONDAY + WEEK, cancelled=True)]}
    (done,) = connector.update_items("calendar", [ItemUpdate(item_id, key, wanted)])
    assert (done.ok, done.change_key) == (True, key)
    assert _exceptions(connector, item_id) == []


def _local(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin"))


@pytest.mark.parametrize(
    ("first", "rule", "changed", "cancelled"),
    [
        # every other week on Monday and Wednesday: 7, 9, 21, 23 December, 4 January...
        (_local(2026, 12, 7, 9), "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=10",
         _local(2026, 12, 23, 9), _local(2027, 1, 4, 9)),
        (_local(2026, 12, 8, 9), "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2;COUNT=6",
         _local(2027, 4, 13, 9), _local(2027, 2, 9, 9)),
        (_local(2026, 12, 15, 9), "FREQ=MONTHLY;BYMONTHDAY=15;UNTIL=20270615T070000Z",
         _local(2027, 4, 15, 9), _local(2027, 6, 15, 9)),
        (_local(2026, 12, 15, 9), "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=15;COUNT=4",
         _local(2028, 12, 15, 9), _local(2027, 12, 15, 9)),
        # every third day across the spring clock change, to a last local day
        (_local(2027, 3, 20, 9), "FREQ=DAILY;INTERVAL=3;UNTIL=20270410",
         _local(2027, 3, 29, 9), _local(2027, 4, 10, 9)),
    ],
)  # fmt: skip
def test_occurrences_of_other_patterns_are_found_where_outlook_puts_them(
    connector, first, rule, changed, cancelled
):  # type: ignore[no-untyped-def]
    item_id = _series(
        connector,
        scheduled_start=first,
        scheduled_end=first + HALF_HOUR,
        recurrence_pattern=rule,
        exceptions=[_changed(changed, subject="Changed"), _changed(cancelled, cancelled=True)],
    )
    got = {
        e["original_start"]: (e["cancelled"], e["subject"]) for e in _exceptions(connector, item_id)
    }
    assert got == {changed: (False, "Changed"), cancelled: (True, None)}


def test_an_all_day_series_keeps_its_exceptions_on_their_days(connector):
    first = _local(2026, 12, 7)
    item_id = _series(
        connector,
        scheduled_start=first,
        scheduled_end=first + datetime.timedelta(days=1),
        is_all_day_event=True,
        exceptions=[
            _changed(first + WEEK, subject="Off-site"),
            _changed(first + 2 * WEEK, cancelled=True),
        ],
    )
    got = [
        (e["original_start"], e["cancelled"], e["subject"]) for e in _exceptions(connector, item_id)
    ]
    assert got == [(first + WEEK, False, "Off-site"), (first + 2 * WEEK, True, None)]


def test_putting_back_a_cancelled_occurrence_keeps_the_other_changed_and_cancelled_ones(connector):
    """EWS cannot bring a deleted occurrence back: the recurrence is written again and every
    other exception applied anew (a moved one, a cancelled one, one with a new subject)."""
    tuesday = MONDAY + WEEK + datetime.timedelta(days=1)
    moved = _changed(MONDAY + WEEK, start=tuesday, end=tuesday + HALF_HOUR)
    item_id = _series(
        connector,
        exceptions=[
            moved,
            _changed(MONDAY + 2 * WEEK, cancelled=True),
            _changed(MONDAY + 3 * WEEK, cancelled=True),
            _changed(MONDAY + 4 * WEEK, subject="Before"),
        ],
    )
    key = connector.get_items("calendar", [item_id], ["subject"])[0].change_key
    wanted = [
        moved,
        _changed(MONDAY + 3 * WEEK, cancelled=True),
        _changed(MONDAY + 4 * WEEK, subject="After"),
    ]
    (done,) = connector.update_items("calendar", [ItemUpdate(item_id, key, {"exceptions": wanted})])
    assert done.ok, done.message
    got = [
        (e["original_start"], e["cancelled"], e["start"], e["subject"])
        for e in _exceptions(connector, item_id)
    ]
    assert got == [
        (MONDAY + WEEK, False, tuesday, None),
        (MONDAY + 3 * WEEK, True, None, None),
        (MONDAY + 4 * WEEK, False, MONDAY + 4 * WEEK, "After"),
    ]
    assert done.change_key == connector.get_items("calendar", [item_id], ["subject"])[0].change_key
