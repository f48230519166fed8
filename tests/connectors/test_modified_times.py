"""Each connector reports when an item last changed (RemoteItem.modified), which the latest_wins
conflict policy compares with the CRM record's modified_on."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from connectors.base import NewItem
from connectors.dav import ical, vcard
from connectors.memory import MemoryConnector

UTC = datetime.UTC


def test_memory_connector_reports_the_time_of_the_last_edit():
    conn = MemoryConnector()
    (created,) = conn.create_items("contacts", [NewItem("c1", {"job_title": "Clerk"})])
    (before,) = conn.get_items("contacts", [created.item_id], ["job_title"])
    conn.edit("contacts", created.item_id, job_title="CFO")
    (after,) = conn.get_items("contacts", [created.item_id], ["job_title"])
    assert before.modified is not None and before.modified.tzinfo is not None
    assert after.modified > before.modified


CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nN:Lee;Ann;;;\r\nFN:Ann Lee\r\n{rev}END:VCARD\r\n"


@pytest.mark.parametrize(
    ("rev", "expected"),
    [
        ("REV:2026-11-26T21:05:07Z\r\n", datetime.datetime(2026, 11, 26, 21, 5, 7, tzinfo=UTC)),
        ("REV:20261126T210507Z\r\n", datetime.datetime(2026, 11, 26, 21, 5, 7, tzinfo=UTC)),
        ("REV:20261126T220507+0100\r\n", datetime.datetime(2026, 11, 26, 21, 5, 7, tzinfo=UTC)),
        ("REV:2026-11-26\r\n", datetime.datetime(2026, 11, 26, tzinfo=UTC)),
        ("REV:yesterday\r\n", None),
        ("", None),
    ],
)
def test_vcard_rev_is_the_cards_modified_time(rev, expected):
    assert vcard.read(CARD.format(rev=rev), ["last_name"]).modified == expected


EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:e1\r\n"
    "DTSTART:20261201T090000Z\r\nDTEND:20261201T100000Z\r\nSUMMARY:Review\r\n{stamps}"
    "END:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        (
            "DTSTAMP:20261126T080000Z\r\nLAST-MODIFIED:20261126T210507Z\r\n",
            datetime.datetime(2026, 11, 26, 21, 5, 7, tzinfo=UTC),
        ),
        ("DTSTAMP:20261126T080000Z\r\n", datetime.datetime(2026, 11, 26, 8, 0, 0, tzinfo=UTC)),
        ("", None),
    ],
)
def test_icalendar_last_modified_else_dtstamp_is_the_items_modified_time(stamps, expected):
    codec = ical.Codec(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert codec.read(EVENT.format(stamps=stamps), ["subject"]).modified == expected


def test_exchange_connector_reads_last_modified_time(connector):
    start = datetime.datetime.now(UTC).replace(microsecond=0)
    new = NewItem("c1", {"first_name": "Ann", "last_name": "Lee", "job_title": "Clerk"})
    (created,) = connector.create_items("contacts", [new])
    (page,) = list(connector.list_changes("contacts", None))
    (listed,) = page.created
    (fetched,) = connector.get_items("contacts", [created.item_id], ["job_title"])
    for item in (listed, fetched):
        assert item.modified is not None and item.modified >= start
        assert type(item.modified) is datetime.datetime  # no exchangelib subclass leaks out
