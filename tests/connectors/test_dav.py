"""The DAV connector against a real Radicale 3.9 on 127.0.0.1: columns round-trip, changes arrive
by token (or listing), stale ETags are refused per item, crash leftovers are found by CRM id.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connectors.base import CONFLICT, NOT_FOUND, AuthError, ItemRef, ItemUpdate, NewItem
from connectors.dav import COLUMNS, UNSUPPORTED, DavConnector
from connectors.dav.radicale import RadicaleServer
from crm.models import CRM_MODELS, CrmRecord

UTC = dt.UTC
BERLIN = dt.timezone(dt.timedelta(hours=1))  # Europe/Berlin in March (CET)
CATALOG = Path(__file__).resolve().parents[2] / "fieldsync" / "catalog.json"
ENTITY_FOLDER = {
    "contact": "contacts",
    "appointment": "calendar",
    "recurring_appointment": "calendar",
    "task": "tasks",
}
USERS = {f"user{i}": f"pw-{i}" for i in range(1, 60)}
_next_user = itertools.count(1)

CONTACT = dict(
    first_name="Ann",
    middle_name="B.",
    last_name="Cole",
    nickname="Annie",
    yomi_first_name="アン",
    yomi_last_name="コール",
    job_title="CTO",
    company_name="Acme; Inc, Ltd",
    department="R&D",
    manager="Dana Boss",
    assistant="Eve Helper",
    spouse_partner_name="Sam",
    childrens_names="Kim, Lou",
    email="ann@acme.test",
    email_address_2="ann.cole@home.test",
    email_address_3="ac@other.test",
    business_phone="+1 555 0101",
    business_phone_2="+1 555 0102",
    company_phone="+1 555 0100",
    home_phone="+1 555 0201",
    home_phone_2="+1 555 0202",
    mobile_phone="+1 555 0301",
    telephone_3="+1 555 0401",
    assistant_phone="+1 555 0501",
    callback_number="+1 555 0601",
    pager="+1 555 0701",
    fax="+1 555 0801",
    website="https://acme.test/ann",
    ftp_site="ftp://files.acme.test",
    birthday=dt.date(1980, 2, 29),
    anniversary=dt.date(2005, 6, 1),
    description="Met at the fair.\nLikes <b>tags</b>; commas, and \\ backslashes",
    address1_street="1 Main St\nSuite 5",
    address1_city="Springfield",
    address1_state_or_province="IL",
    address1_postal_code="62701",
    address1_country="USA",
    address2_street="2 Home Rd",
    address2_city="Shelbyville",
    address2_state_or_province="IL",
    address2_postal_code="62565",
    address2_country="USA",
    address3_street="3 Other Ave",
    address3_city="Ogden",
    address3_state_or_province="UT",
    address3_postal_code="84401",
    address3_country="USA",
)

APPOINTMENT = dict(
    subject="Quarterly review; numbers, plans",
    description="Agenda:\n1. numbers",
    priority=2,
    location="Room 4",
    organizer="sally@demo.test",
    required_attendees="x@partner.test; y@partner.test",
    optional_attendees="z@partner.test",
    appointment_status="tentative",
    scheduled_start=dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
    scheduled_end=dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    is_all_day_event=False,
    recurrence_pattern="",
)

TASK = dict(
    subject="Send the offer",
    description="Use the new price list",
    priority=0,
    status="in_progress",
    percent_complete=40,
    start_date=dt.date(2026, 1, 5),
    due_date=dt.date(2026, 1, 9),
    actual_end=None,
)


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with RadicaleServer(tmp_path_factory.mktemp("radicale"), users=USERS) as server:
        yield server


def _connect(radicale: RadicaleServer, user: str, **kw: object) -> DavConnector:
    options: dict[str, object] = dict(
        url=f"{radicale.url}{user}/",
        username=user,
        password=USERS[user],
        timezone="Europe/Berlin",
    )
    options.update(kw)
    return DavConnector(**options)  # type: ignore[arg-type]


@pytest.fixture
def user() -> str:
    return f"user{next(_next_user)}"


@pytest.fixture
def dav(radicale: RadicaleServer, user: str) -> Iterator[DavConnector]:
    """A connector for a user of its own (Radicale gives each user a separate namespace)."""
    connector = _connect(radicale, user)
    connector.ensure_collections()
    yield connector
    connector.close()


def _read_back(connector: DavConnector, folder: str, item_id: str, values: dict) -> dict:
    [got] = connector.get_items(folder, [item_id], list(values))  # type: ignore[arg-type]
    return dict(got.fields)  # type: ignore[union-attr]


def _put_raw(connector: DavConnector, href: str, text: str, ctype: str) -> str:
    """Write an item as another CalDAV/CardDAV client would."""
    response = connector.dav.session.put(
        connector.dav.absolute(href),
        data=text.replace("\n", "\r\n").encode(),
        headers={"Content-Type": ctype},
    )
    assert response.status_code in (201, 204), response.text
    return response.headers["ETag"]


def _raw(connector: DavConnector, href: str) -> str:
    return connector.dav.session.get(connector.dav.absolute(href)).text


def _sync(connector: DavConnector, folder: str, state: str | None):  # type: ignore[no-untyped-def]
    pages = list(connector.list_changes(folder, state))  # type: ignore[arg-type]
    assert pages[-1].complete
    created = [i for p in pages for i in p.created]
    updated = [i for p in pages for i in p.updated]
    deleted = [i for p in pages for i in p.deleted]
    return created, updated, deleted, pages[-1].sync_state


# -- field conversion ------------------------------------------------------------------------
def test_every_crm_column_is_held_or_listed_as_unsupported_with_a_reason():
    base = {f.name for f in CrmRecord._meta.get_fields()} | {"id", "owner", "business_unit"}
    catalog = json.loads(CATALOG.read_text())
    for entity, folder in ENTITY_FOLDER.items():
        model_columns = {
            f.attname.removesuffix("_id") if f.is_relation else f.name
            for f in CRM_MODELS[entity]._meta.concrete_fields
        } - base
        rows = next(e for e in catalog["entities"] if e["key"] == entity)["fields"]
        catalog_columns = {c for row in rows for c in row["crm_columns"]}
        unsupported = set(UNSUPPORTED[entity])
        held = set(COLUMNS[folder])
        assert catalog_columns <= held | unsupported, entity
        assert model_columns <= held | unsupported | {"recurrence_pattern"}, entity
        assert not held & unsupported
        assert all(len(reason) > 40 for reason in UNSUPPORTED[entity].values())
    assert set(UNSUPPORTED["contact"]) == {"government_id"}
    assert set(UNSUPPORTED["task"]) == {"regarding"}


def test_contact_columns_round_trip_on_create_and_update(dav):
    [created] = dav.create_items("contacts", [NewItem("crm-c1", CONTACT, ("VIP", "A,B"))])
    assert created.ok, created
    assert created.item_id.endswith(".vcf") and created.change_key.startswith('"')
    assert _read_back(dav, "contacts", created.item_id, CONTACT) == CONTACT

    changed = {k: (v + " 2" if isinstance(v, str) else v) for k, v in CONTACT.items()}
    # Blanks in the middle of a set (no e-mail 1 but an e-mail 2) must not shift the others.
    changed.update(
        email="",
        email_address_2="ann2@home.test",
        business_phone="",
        home_phone_2="",
        address2_street="",
        address2_city="",
        address2_state_or_province="",
        address2_postal_code="",
        address2_country="",
        birthday=None,
        anniversary=dt.date(2006, 7, 2),
        childrens_names="",
    )
    [updated] = dav.update_items(
        "contacts", [ItemUpdate(created.item_id, created.change_key, changed)]
    )
    assert updated.ok, updated
    assert updated.change_key != created.change_key
    assert _read_back(dav, "contacts", created.item_id, CONTACT) == changed
    [item] = dav.get_items("contacts", [created.item_id], ["first_name"])
    assert item.crm_id == "crm-c1" and item.categories == ("VIP", "A,B")


@pytest.mark.parametrize(
    "over",
    [
        {},
        # All day: the CRM keeps midnights in the user's zone, end exclusive; iCalendar dates.
        dict(
            scheduled_start=dt.datetime(2026, 3, 2, tzinfo=BERLIN),
            scheduled_end=dt.datetime(2026, 3, 4, tzinfo=BERLIN),
            is_all_day_event=True,
            required_attendees="",
            optional_attendees="",
            organizer="",
            appointment_status="free",
            priority=0,
        ),
        dict(
            recurrence_pattern="FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10",
            appointment_status="out_of_office",
        ),
        dict(recurrence_pattern="FREQ=DAILY;INTERVAL=2;UNTIL=20260331", appointment_status="busy"),
        dict(recurrence_pattern="FREQ=MONTHLY;BYDAY=-1FR", priority=1),
        dict(recurrence_pattern="FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=2"),
        dict(
            recurrence_pattern="FREQ=WEEKLY;BYDAY=FR;UNTIL=20261231",
            scheduled_start=dt.datetime(2026, 3, 6, tzinfo=BERLIN),
            scheduled_end=dt.datetime(2026, 3, 7, tzinfo=BERLIN),
            is_all_day_event=True,
        ),
    ],
    ids=[
        "single",
        "all-day",
        "weekly",
        "daily-until",
        "monthly-last-friday",
        "yearly",
        "all-day-series",
    ],
)
def test_appointment_and_recurring_appointment_columns_round_trip(dav, over):
    values = dict(APPOINTMENT, **over)
    [created] = dav.create_items("calendar", [NewItem("crm-a1", values, ("Meeting",))])
    assert created.ok, created
    assert _read_back(dav, "calendar", created.item_id, values) == values


def test_a_series_keeps_its_wall_clock_time_and_until_as_other_clients_expect(dav):
    values = dict(APPOINTMENT, recurrence_pattern="FREQ=DAILY;UNTIL=20260331")
    [created] = dav.create_items("calendar", [NewItem("crm-a2", values)])
    raw = _raw(dav, created.item_id)
    # 08:00 UTC is 09:00 in Berlin; RFC 5545 wants UNTIL in UTC for a date-time series.
    assert "DTSTART;TZID=Europe/Berlin:20260302T090000" in raw
    assert "UNTIL=20260331T215959Z" in raw
    assert "SCHEDULE-AGENT=CLIENT" in raw  # no invitations from a scheduling server


def test_moving_a_series_keeps_its_recurrence_and_other_columns(dav):
    values = dict(APPOINTMENT, recurrence_pattern="FREQ=WEEKLY;BYDAY=MO")
    [created] = dav.create_items("calendar", [NewItem("crm-a3", values)])
    new_start = dt.datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    new_end = dt.datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
    [moved] = dav.update_items(
        "calendar",
        [
            ItemUpdate(
                created.item_id,
                created.change_key,
                {"scheduled_start": new_start, "scheduled_end": new_end},
            )
        ],
    )
    assert moved.ok, moved
    back = _read_back(dav, "calendar", created.item_id, values)
    assert back == dict(values, scheduled_start=new_start, scheduled_end=new_end)


@pytest.mark.parametrize(
    "over",
    [
        {},
        dict(
            status="completed",
            percent_complete=100,
            actual_end=dt.datetime(2026, 1, 8, 15, 30, tzinfo=UTC),
        ),
        dict(status="waiting", percent_complete=10, start_date=None, due_date=None, priority=2),
        dict(status="deferred", percent_complete=0, priority=1),
        dict(status="not_started", percent_complete=0),
    ],
    ids=["in-progress", "completed", "waiting", "deferred", "not-started"],
)
def test_task_columns_round_trip(dav, over):
    values = dict(TASK, **over)
    [created] = dav.create_items("tasks", [NewItem("crm-t1", values)])
    assert created.ok, created
    assert _read_back(dav, "tasks", created.item_id, values) == values


def test_items_made_by_other_clients_read_in_crm_form_and_keep_what_the_crm_does_not_know(dav):
    coll = dav.collections["contacts"].path
    _put_raw(
        dav,
        coll + "apple.vcf",
        "BEGIN:VCARD\nVERSION:3.0\nUID:apple-1\nFN:Bo Diaz\nN:Diaz;Bo;;;\n"
        "EMAIL;type=INTERNET;type=HOME:bo@home.test\nEMAIL;type=INTERNET;type=WORK:bo@work.test\n"
        "TEL;type=CELL;type=VOICE;type=pref:+34 600\nTEL;type=HOME;type=FAX:+34 999\n"
        "item1.X-ABLabel:_$!<Other>!$_\nPHOTO;VALUE=uri:https://example.test/bo.jpg\n"
        "BDAY:19750102\nANNIVERSARY:20010203\nEND:VCARD\n",
        "text/vcard",
    )
    [item] = dav.get_items(
        "contacts",
        [coll + "apple.vcf"],
        [
            "first_name",
            "email",
            "email_address_2",
            "mobile_phone",
            "fax",
            "birthday",
            "anniversary",
        ],
    )
    assert item.crm_id is None
    assert item.fields == {
        "first_name": "Bo",
        "email": "bo@home.test",
        "email_address_2": "bo@work.test",
        "mobile_phone": "+34 600",
        "fax": "",  # a home fax is not the CRM's (business) fax
        "birthday": dt.date(1975, 1, 2),
        "anniversary": dt.date(2001, 2, 3),
    }
    [res] = dav.update_items(
        "contacts",
        [ItemUpdate(item.item_id, item.change_key, {"email": "", "anniversary": None}, "crm-b")],
    )
    assert res.ok and res.crm_id == "crm-b"
    raw = _raw(dav, item.item_id)
    assert "PHOTO" in raw and "+34 999" in raw and "X-ABLABEL" in raw.upper()
    assert "ANNIVERSARY" not in raw  # cleared where the other client keeps it
    [item] = dav.get_items("contacts", [item.item_id], ["email", "email_address_2"])
    assert item.fields == {"email": "", "email_address_2": "bo@work.test"}
    assert item.crm_id == "crm-b"

    cal = dav.collections["calendar"].path
    _put_raw(
        dav,
        cal + "outlook.ics",
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:other\nBEGIN:VEVENT\nUID:o-1\n"
        "DTSTAMP:20260101T000000Z\nDTSTART;TZID=W. Europe Standard Time:20260504T090000\n"
        "DURATION:PT8H\nSUMMARY:Out\nORGANIZER:mailto:boss@x.test\n"
        "ATTENDEE;ROLE=CHAIR;PARTSTAT=ACCEPTED:mailto:boss@x.test\n"
        "ATTENDEE;CN=Kim:mailto:kim@x.test\nPRIORITY:3\n"
        "X-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE\nBEGIN:VALARM\nACTION:DISPLAY\n"
        "TRIGGER:-PT15M\nDESCRIPTION:x\nEND:VALARM\nEND:VEVENT\nEND:VCALENDAR\n",
        "text/calendar",
    )
    [event] = dav.get_items(
        "calendar",
        [cal + "outlook.ics"],
        [
            "scheduled_start",
            "scheduled_end",
            "appointment_status",
            "required_attendees",
            "priority",
        ],
    )
    assert event.fields == {
        # 09:00 in Berlin (summer time) is 07:00 UTC; DURATION gives the end.
        "scheduled_start": dt.datetime(2026, 5, 4, 7, 0, tzinfo=UTC),
        "scheduled_end": dt.datetime(2026, 5, 4, 15, 0, tzinfo=UTC),
        "appointment_status": "busy",
        "required_attendees": "kim@x.test",
        "priority": 2,
    }
    [res] = dav.update_items(
        "calendar", [ItemUpdate(event.item_id, event.change_key, {"subject": "Out of office"})]
    )
    assert res.ok
    raw = _raw(dav, event.item_id)
    assert "BEGIN:VALARM" in raw and "CN=Kim" in raw


# -- change lists ----------------------------------------------------------------------------
def test_incremental_listing_returns_only_what_changed_since_the_token(dav):
    created = dav.create_items(
        "contacts", [NewItem(f"crm-{i}", {"first_name": f"P{i}"}) for i in range(3)]
    )
    new, changed, gone, state = _sync(dav, "contacts", None)
    assert sorted(i.crm_id for i in new) == ["crm-0", "crm-1", "crm-2"]
    assert (changed, gone) == ([], [])

    before = dav.request_count
    assert _sync(dav, "contacts", state)[:3] == ([], [], [])
    assert dav.request_count - before == 1  # one sync-collection REPORT, nothing else

    a, b, _ = created
    [added] = dav.create_items("contacts", [NewItem("crm-3", {"first_name": "P3"})])
    dav.update_items("contacts", [ItemUpdate(a.item_id, a.change_key, {"last_name": "New"})])
    dav.delete_items("contacts", [ItemRef(b.item_id, b.change_key)])
    new, changed, gone, state = _sync(dav, "contacts", state)
    assert [i.item_id for i in new] == [added.item_id]
    assert [(i.item_id, i.fields["last_name"]) for i in changed] == [(a.item_id, "New")]
    assert gone == [b.item_id]
    assert _sync(dav, "contacts", state)[:3] == ([], [], [])


def test_a_long_listing_comes_in_pages_and_resumes_from_any_saved_page(radicale, user):
    dav = _connect(radicale, user, page_size=2)
    dav.ensure_collections()
    dav.create_items("tasks", [NewItem(f"t{i}", dict(TASK, subject=f"T{i}")) for i in range(5)])
    pages = list(dav.list_changes("tasks", None))
    assert [len(p.created) for p in pages] == [2, 2, 1]
    assert [p.complete for p in pages] == [False, False, True]
    # A crash after applying page 1: the rest, and only the rest, comes again.
    rest, _, _, state = _sync(dav, "tasks", pages[0].sync_state)
    applied = {i.fields["subject"] for i in pages[0].created}
    assert sorted(i.fields["subject"] for i in rest) == sorted(
        {"T0", "T1", "T2", "T3", "T4"} - applied
    )
    assert _sync(dav, "tasks", state)[:3] == ([], [], [])


def test_a_refused_sync_token_falls_back_to_a_listing_that_still_sees_deletes(dav, radicale):
    a, b = dav.create_items(
        "calendar", [NewItem("e1", APPOINTMENT), NewItem("e2", dict(APPOINTMENT, subject="B"))]
    )
    *_, state = _sync(dav, "calendar", None)
    dav.update_items("calendar", [ItemUpdate(a.item_id, a.change_key, {"location": "Room 9"})])
    dav.delete_items("calendar", [ItemRef(b.item_id, b.change_key)])
    [c] = dav.create_items("calendar", [NewItem("e3", dict(APPOINTMENT, subject="C"))])
    assert radicale.forget_sync_tokens() > 0

    # The server now answers 403 DAV:valid-sync-token to the saved token.
    body = b'<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>'
    refused = requests.request(
        "REPORT",
        dav.dav.absolute(dav.collections["calendar"].href),
        data=body + b"http://radicale.org/ns/sync/" + b"0" * 64 + b"</D:sync-token>"
        b"<D:sync-level>1</D:sync-level><D:prop/></D:sync-collection>",
        auth=dav.dav.session.auth,
    )
    assert refused.status_code == 403 and b"valid-sync-token" in refused.content

    new, changed, gone, state = _sync(dav, "calendar", state)
    assert [i.item_id for i in new] == [c.item_id]
    assert [(i.item_id, i.fields["location"]) for i in changed] == [(a.item_id, "Room 9")]
    assert gone == [b.item_id]
    before = dav.request_count
    assert _sync(dav, "calendar", state)[:3] == ([], [], [])
    assert dav.request_count - before == 1  # back on a fresh token


def test_calendar_and_tasks_may_share_one_collection(radicale, user):
    dav = _connect(radicale, user, calendar="personal/", tasks="personal/")
    dav.ensure_collections()
    [event] = dav.create_items("calendar", [NewItem("ev", APPOINTMENT)])
    [task] = dav.create_items("tasks", [NewItem("tk", TASK)])
    assert [i.item_id for i in _sync(dav, "calendar", None)[0]] == [event.item_id]
    assert [i.item_id for i in _sync(dav, "tasks", None)[0]] == [task.item_id]


# -- writes: preconditions, crash safety, refusals -----------------------------------------------
def test_a_stale_etag_is_refused_for_that_item_while_the_rest_of_the_batch_is_saved(dav):
    items = dav.create_items(
        "contacts", [NewItem(f"crm-s{i}", {"first_name": f"S{i}"}) for i in range(3)]
    )
    other_client = _raw(dav, items[1].item_id).replace("FN:S1", "FN:Edited elsewhere")
    _put_raw(dav, items[1].item_id, other_client, "text/vcard")

    results = dav.update_items(
        "contacts",
        [ItemUpdate(i.item_id, i.change_key, {"job_title": "From CRM"}) for i in items],
    )
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error_code == CONFLICT and results[1].index == 1
    assert results[1].change_key not in (None, items[1].change_key)  # the server's new ETag
    titles = dav.get_items("contacts", [i.item_id for i in items], ["job_title"])
    assert [t.fields["job_title"] for t in titles] == ["From CRM", "", "From CRM"]
    assert "Edited elsewhere" in _raw(dav, items[1].item_id)

    # With the current ETag (after re-reading) the same update goes through.
    [again] = dav.update_items(
        "contacts",
        [ItemUpdate(items[1].item_id, results[1].change_key, {"job_title": "From CRM"})],
    )
    assert again.ok


def test_a_change_between_reading_and_writing_fails_the_if_match_precondition(dav, monkeypatch):
    [item] = dav.create_items("tasks", [NewItem("crm-r", TASK)])
    real_multiget = dav._multiget

    def multiget_then_edit(folder, hrefs):  # another client saves right after our read
        fetched = real_multiget(folder, hrefs)
        _put_raw(
            dav, item.item_id, _raw(dav, item.item_id).replace("Send", "Call"), "text/calendar"
        )
        return fetched

    monkeypatch.setattr(dav, "_multiget", multiget_then_edit)
    [result] = dav.update_items(
        "tasks", [ItemUpdate(item.item_id, item.change_key, {"percent_complete": 90})]
    )
    monkeypatch.undo()
    assert result.error_code == CONFLICT
    [now] = dav.get_items("tasks", [item.item_id], ["subject", "percent_complete"])
    assert now.fields == {"subject": "Call the offer", "percent_complete": 40}


def test_a_delete_with_a_stale_etag_is_refused_and_a_missing_item_reported(dav):
    a, b = dav.create_items("contacts", [NewItem("d1", {"first_name": "D1"}), NewItem("d2", {})])
    dav.update_items("contacts", [ItemUpdate(a.item_id, a.change_key, {"nickname": "x"})])
    results = dav.delete_items(
        "contacts",
        [
            ItemRef(a.item_id, a.change_key),
            ItemRef(b.item_id, b.change_key),
            ItemRef(b.item_id, ""),
        ],
    )
    assert [(r.ok, r.error_code) for r in results] == [
        (False, CONFLICT),
        (True, None),
        (False, NOT_FOUND),
    ]
    assert dav.get_items("contacts", [a.item_id], ["nickname"])[0].fields == {"nickname": "x"}


def test_items_created_before_a_crash_are_found_by_crm_id_and_never_duplicated(radicale, user):
    first = _connect(radicale, user)
    first.ensure_collections()
    # The run creates items, then dies before saving their ids or its sync state.
    first.create_items("contacts", [NewItem("crm-x", dict(CONTACT)), NewItem("crm-y", {})])
    first.create_items("calendar", [NewItem("crm-z", APPOINTMENT)])
    first.close()

    rerun = _connect(radicale, user)
    found = rerun.find_by_crm_ids("contacts", ["crm-x", "crm-y", "crm-never"])
    assert set(found) == {"crm-x", "crm-y"}
    assert found["crm-x"].fields["last_name"] == "Cole"
    assert set(rerun.find_by_crm_ids("calendar", ["crm-z"])) == {"crm-z"}

    # A rerun that creates again anyway gets a conflict naming the existing item, no copy.
    [again] = rerun.create_items("contacts", [NewItem("crm-x", {"first_name": "Again"})])
    assert again.error_code == CONFLICT and again.item_id == found["crm-x"].item_id
    assert len(_sync(rerun, "contacts", None)[0]) == 2


def test_an_item_linked_to_the_crm_later_is_found_by_its_crm_id_property(dav):
    href = dav.collections["contacts"].path + "made-on-phone.vcf"
    etag = _put_raw(
        dav,
        href,
        "BEGIN:VCARD\nVERSION:3.0\nUID:p1\nFN:Phone\nN:;Phone;;;\nEND:VCARD\n",
        "text/vcard",
    )
    [linked] = dav.update_items("contacts", [ItemUpdate(href, etag, {}, crm_id="crm-linked")])
    assert linked.ok
    found = dav.find_by_crm_ids("contacts", ["crm-linked", "crm-other"])
    assert list(found) == ["crm-linked"] and found["crm-linked"].item_id == href


def test_columns_vcard_or_icalendar_cannot_hold_are_refused_with_the_reason(dav):
    [result] = dav.create_items(
        "contacts", [NewItem("crm-g", {"first_name": "G", "government_id": "123"})]
    )
    assert not result.ok and "government_id" in result.message
    assert "no property for a government ID" in result.message
    with pytest.raises(ValueError, match="regarding"):
        dav.get_items("tasks", ["/x.ics"], ["subject", "regarding"])


def test_a_wrong_password_is_an_auth_error(radicale, user):
    dav = _connect(radicale, user, password="wrong")
    with pytest.raises(AuthError):
        list(dav.list_changes("contacts", None))
