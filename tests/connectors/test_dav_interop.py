"""The DAV connector beyond Radicale (issue #18): discovery on three layouts (Radicale, Xandikos,
a Nextcloud-shaped tree on Xandikos behind a route prefix), collections that are really checked,
hrefs kept encoded, vCard 4.0, zoned DUE, ORGANIZER, the task-status marker, REV, TLS errors.
Most tests run on both real servers."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connectors.base import AuthError, ConnectorError, ItemUpdate, NewItem
from connectors.dav import DavConnector
from connectors.dav.connector import _refused_in
from connectors.dav.radicale import RadicaleServer
from connectors.dav.webdav import CertificateRefused, canonical_path
from connectors.dav.xandikos import XandikosServer

UTC = dt.UTC
_names = itertools.count(1)


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with RadicaleServer(tmp_path_factory.mktemp("radicale")) as server:
        yield server


@pytest.fixture(scope="module")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XandikosServer]:
    with XandikosServer(tmp_path_factory.mktemp("xandikos")) as server:
        yield server


@pytest.fixture(scope="module")
def nextcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XandikosServer]:
    """Xandikos behind /remote.php/dav/ with a principal under principals/users/, as Nextcloud."""
    with XandikosServer(
        tmp_path_factory.mktemp("nextcloud"),
        route_prefix="/remote.php/dav/",
        principal="/principals/users/alice/",
    ) as server:
        yield server


def _on_radicale(radicale: RadicaleServer, **kw: object) -> DavConnector:
    user = f"u{next(_names)}"
    dav = DavConnector(url=f"{radicale.url}{user}/", username=user, password="x", **kw)  # type: ignore[arg-type]
    dav.ensure_collections()
    return dav


def _on_xandikos(xandikos: XandikosServer, **kw: object) -> DavConnector:
    """Collections of their own under the principal's homes (the layout Xandikos has)."""
    name = f"m{next(_names)}"
    home = xandikos.principal_url
    dav = DavConnector(
        url=home,
        addressbook=f"{home}contacts/{name}/",
        calendar=f"{home}calendars/{name}/",
        tasks=f"{home}calendars/{name}-tasks/",
        **kw,  # type: ignore[arg-type]
    )
    dav.ensure_collections()
    return dav


@pytest.fixture(params=["radicale", "xandikos"])
def dav(request) -> Iterator[DavConnector]:  # type: ignore[no-untyped-def]
    server = request.getfixturevalue(request.param)
    make = _on_radicale if request.param == "radicale" else _on_xandikos
    connector = make(server, timezone="Europe/Berlin", organizer="owner@contoso.test")
    yield connector
    connector.close()


def _put_raw(dav: DavConnector, url: str, text: str, ctype: str) -> str:
    response = dav.dav.session.put(
        url, data=text.replace("\n", "\r\n").encode(), headers={"Content-Type": ctype}
    )
    assert response.status_code in (201, 204), response.text
    return response.headers.get("ETag", "")


def _raw(dav: DavConnector, folder: str, href: str) -> str:
    return dav.dav.session.get(dav.collections[folder].resolve(href)).text


# -- 1. discovery --------------------------------------------------------------------------------
def test_discovery_on_radicale_finds_the_product_layout_and_proposes_it_when_empty(radicale):
    user = f"u{next(_names)}"
    empty = DavConnector(url=radicale.url, username=user, password="x").discover()
    assert empty.principal == f"{radicale.url}{user}/"
    # Nothing there yet: the fixed names under the home, for ensure_collections to create.
    assert empty.choice == {
        "contacts": f"{radicale.url}{user}/contacts/",
        "calendar": f"{radicale.url}{user}/calendar/",
        "tasks": f"{radicale.url}{user}/tasks/",
    }
    assert set(empty.missing()) == {"contacts", "calendar", "tasks"}
    DavConnector(url=f"{radicale.url}{user}/", username=user, password="x").ensure_collections()
    found = DavConnector(url=radicale.url, username=user, password="x").discover()
    assert found.choice == empty.choice and found.missing() == {}
    assert found.found(found.choice["tasks"]).components == ("VTODO",)  # type: ignore[union-attr]


def test_discovery_on_xandikos_finds_its_address_book_and_calendar_not_the_homes(xandikos):
    found = DavConnector(url=xandikos.url).discover()  # the root: /.well-known/ leads on
    home = xandikos.principal_url
    assert found.principal == home
    assert found.addressbook_homes == (f"{home}contacts/",)
    assert found.calendar_homes == (f"{home}calendars/",)
    assert found.choice == {
        "contacts": f"{home}contacts/addressbook/",
        "calendar": f"{home}calendars/calendar/",
        "tasks": f"{home}calendars/calendar/",  # one calendar takes events and tasks
    }
    dav = DavConnector(
        url=xandikos.url,
        addressbook=found.choice["contacts"],
        calendar=found.choice["calendar"],
        tasks=found.choice["tasks"],
    )
    assert dav.check_collections() == []
    [card] = dav.create_items("contacts", [NewItem("disc-1", {"first_name": "Di"})])
    assert card.ok and card.item_id.startswith("/user/contacts/addressbook/")


def test_discovery_on_a_nextcloud_shaped_tree_follows_the_well_known_redirect(nextcloud):
    root = nextcloud.url
    # A task list of its own beside the default calendar, made as a client would.
    tasks_url = f"{nextcloud.principal_url}calendars/tasks/"
    book = f"{nextcloud.principal_url}contacts/addressbook/"
    DavConnector(
        url=root, addressbook=book, calendar=tasks_url, tasks=tasks_url
    ).ensure_collections()
    found = DavConnector(url=root).discover()
    assert found.principal == f"{root}remote.php/dav/principals/users/alice/"
    assert found.choice["contacts"].endswith(
        "/remote.php/dav/principals/users/alice/contacts/addressbook/"
    )
    assert found.choice["calendar"].endswith("/alice/calendars/calendar/")
    assert found.choice["tasks"] == tasks_url  # the calendar that takes only VTODO
    assert all(url.startswith("http://") for url in found.choice.values())


# -- 2. collections really checked ---------------------------------------------------------------
def test_a_missing_collection_answered_inside_a_207_is_missing(xandikos):
    dav = DavConnector(url=xandikos.principal_url)
    assert not dav.dav.exists(f"{xandikos.principal_url}no-such-thing/")
    problems = {p.folder: p.code for p in dav.check_collections()}
    # contacts/ is the address-book *home* (a plain collection) on Xandikos: not an address book.
    assert problems == {"contacts": "wrong_type", "calendar": "missing", "tasks": "missing"}
    with pytest.raises(ConnectorError, match="plain collection, not an address book"):
        dav.ensure_collections()  # creates calendar/ and tasks/, cannot fix contacts/
    assert {p.folder for p in dav.check_collections()} == {"contacts"}


def test_a_property_refused_inside_a_multistatus_is_an_error():
    body = (
        b'<?xml version="1.0"?><D:multistatus xmlns:D="DAV:" '
        b'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:response><D:href>/u/cal/</D:href>'
        b"<D:propstat><D:prop><C:supported-calendar-component-set/></D:prop>"
        b"<D:status>HTTP/1.1 403 Forbidden</D:status></D:propstat></D:response></D:multistatus>"
    )
    with pytest.raises(ConnectorError, match=r"supported-calendar-component-set \(403\)"):
        _refused_in(207, body, "Creating /u/cal/")
    _refused_in(201, b"", "Creating /u/cal/")  # a plain 201: made


def test_a_shared_calendar_that_takes_no_tasks_is_reported(radicale):
    user = f"u{next(_names)}"
    events_only = DavConnector(url=f"{radicale.url}{user}/", username=user, password="x")
    events_only.ensure_collections()
    dav = DavConnector(url=f"{radicale.url}{user}/", username=user, password="x", tasks="calendar/")
    [problem] = dav.check_collections()
    assert (problem.folder, problem.code) == ("tasks", "component")
    assert "does not take VTODO" in problem.message


# -- 3. hrefs --------------------------------------------------------------------------------------
def test_items_named_with_encoded_percent_hash_and_question_mark_are_synced(dav):
    coll = dav.collections["contacts"]
    # Radicale refuses "?" in a name (HTTP 400); Xandikos takes it.
    odd = "a%25b%23c%20e" if "/u" in coll.path[:3] else "a%25b%23c%3Fd%20e"
    href = f"{coll.path}{odd}.vcf"
    _put_raw(
        dav,
        coll.resolve(href),
        "BEGIN:VCARD\nVERSION:3.0\nUID:odd-1\nFN:Odd Name\nN:Name;Odd;;;\nEND:VCARD\n",
        "text/vcard",
    )
    pages = list(dav.list_changes("contacts", None))
    [item] = [i for p in pages for i in p.created]
    assert item.item_id == href and item.fields["first_name"] == "Odd"
    [res] = dav.update_items("contacts", [ItemUpdate(href, item.change_key, {"nickname": "O"})])
    assert res.ok, res.message
    assert "NICKNAME:O" in _raw(dav, "contacts", href)
    # An id saved decoded by an older version still finds the item.
    assert canonical_path(f"{coll.path}a b.vcf") == f"{coll.path}a%20b.vcf"


# -- 4. vCard 4.0 ------------------------------------------------------------------------------------
CARD4 = (
    "BEGIN:VCARD\nVERSION:4.0\nUID:v4-1\nFN:Vera Four\nN:Four;Vera;;;\n"
    "TEL;VALUE=uri;TYPE=cell:tel:+49-30-1234567\nBDAY:19800229\n"
    "PHOTO:data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk\n"
    "REV:20200101T000000Z\nEND:VCARD\n"
)


def test_a_vcard_4_card_keeps_its_version_and_forms(dav):
    coll = dav.collections["contacts"]
    href = f"{coll.path}vera.vcf"
    etag = _put_raw(dav, coll.resolve(href), CARD4, "text/vcard")
    # Radicale rewrites cards through vobject itself (its PHOTO data: URI loses its data): the
    # connector must keep whatever PHOTO line the server holds.
    [photo] = re.findall(r"^PHOTO.*$", _raw(dav, "contacts", href).replace("\r\n ", ""), re.M)
    [item] = dav.get_items("contacts", [href], ["mobile_phone", "birthday"])
    assert item.fields == {"mobile_phone": "+49-30-1234567", "birthday": dt.date(1980, 2, 29)}
    changes = {
        "mobile_phone": "+49 30 7654321",  # not a tel: URI: written as text
        "business_phone": "+49-30-555",  # a new line in a 4.0 card: a tel: URI
        "birthday": dt.date(1981, 3, 1),
        "anniversary": dt.date(2005, 6, 1),
    }
    [res] = dav.update_items("contacts", [ItemUpdate(href, etag or item.change_key, changes)])
    assert res.ok, res.message
    raw = _raw(dav, "contacts", href).replace("\r\n ", "")
    assert "VERSION:4.0" in raw
    assert "BDAY:19810301" in raw and "ANNIVERSARY:20050601" in raw
    assert re.search(r"TEL;[^:\n]*:\+49 30 7654321", raw) and "VALUE=uri:tel:+49 30" not in raw
    assert re.search(r"TEL;[^:\n]*VALUE=uri[^:\n]*:tel:\+49-30-555", raw)
    assert photo.strip() in raw
    [back] = dav.get_items("contacts", [href], list(changes))
    assert back.fields == changes


# -- 5. times ----------------------------------------------------------------------------------------
TODO = (
    "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:other\nBEGIN:VTIMEZONE\nTZID:Europe/Berlin\n"
    "BEGIN:STANDARD\nDTSTART:19701025T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\nEND:STANDARD\nBEGIN:DAYLIGHT\n"
    "DTSTART:19700329T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\nEND:DAYLIGHT\nEND:VTIMEZONE\nBEGIN:VTODO\n"
    "UID:due-1\nDTSTAMP:20260101T000000Z\nSUMMARY:Call back\n"
    "DUE;TZID=Europe/Berlin:20260115T170000\nSTATUS:NEEDS-ACTION\nEND:VTODO\nEND:VCALENDAR\n"
)


def test_a_zoned_due_keeps_its_time_after_a_crm_edit(dav):
    coll = dav.collections["tasks"]
    href = f"{coll.path}due.ics"
    _put_raw(dav, coll.resolve(href), TODO, "text/calendar")
    [item] = dav.get_items("tasks", [href], ["subject", "due_date"])
    assert item.fields["due_date"] == dt.date(2026, 1, 15)
    [res] = dav.update_items(
        "tasks",
        [ItemUpdate(href, item.change_key, {"subject": "Call", "due_date": dt.date(2026, 1, 15)})],
    )
    assert res.ok, res.message
    assert "DUE;TZID=Europe/Berlin:20260115T170000" in _raw(dav, "tasks", href)
    [res] = dav.update_items(
        "tasks", [ItemUpdate(href, res.change_key, {"due_date": dt.date(2026, 1, 20)})]
    )
    assert res.ok, res.message
    raw = _raw(dav, "tasks", href)
    assert "DUE;TZID=Europe/Berlin:20260120T170000" in raw and "VALUE=DATE" not in raw


# -- 6. ORGANIZER ------------------------------------------------------------------------------------
EVENT = dict(
    subject="Review",
    required_attendees="x@partner.test",
    scheduled_start=dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
    scheduled_end=dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    is_all_day_event=False,
    recurrence_pattern="",
)


def test_an_event_with_attendees_gets_an_organizer_or_is_refused_in_words(dav, radicale):
    [made] = dav.create_items("calendar", [NewItem("org-1", EVENT)])
    assert made.ok, made.message
    assert "ORGANIZER;SCHEDULE-AGENT=CLIENT:mailto:owner@contoso.test" in _raw(
        dav, "calendar", made.item_id
    )
    [item] = dav.get_items("calendar", [made.item_id], ["organizer"])
    assert item.fields == {"organizer": "owner@contoso.test"}
    nobody = _on_radicale(radicale)  # no organizer known
    [refused] = nobody.create_items("calendar", [NewItem("org-2", EVENT)])
    assert not refused.ok and "needs an organizer" in refused.message
    [given] = nobody.create_items("calendar", [NewItem("org-3", dict(EVENT, organizer="s@x.test"))])
    assert given.ok


# -- 7. the task-status marker -----------------------------------------------------------------------
def test_a_waiting_task_completed_and_reopened_elsewhere_reads_as_in_progress(dav):
    task = dict(subject="Wait", status="waiting", percent_complete=10)
    [made] = dav.create_items("tasks", [NewItem("mark-1", task)])
    assert dav.get_items("tasks", [made.item_id], ["status"])[0].fields == {"status": "waiting"}
    # A CRM edit of another column keeps the refinement.
    [res] = dav.update_items("tasks", [ItemUpdate(made.item_id, made.change_key, {"priority": 2})])
    assert res.ok, res.message
    assert dav.get_items("tasks", [made.item_id], ["status"])[0].fields == {"status": "waiting"}
    url = dav.collections["tasks"].resolve(made.item_id)
    raw = _raw(dav, "tasks", made.item_id).replace("\r\n", "\n")
    for status, stamp in (("COMPLETED", "20270101T100000Z"), ("IN-PROCESS", "20270102T100000Z")):
        # Another client: keeps the X- line, changes STATUS and LAST-MODIFIED.
        raw = re.sub(r"STATUS:[A-Z-]+", f"STATUS:{status}", raw)
        raw = re.sub(r"LAST-MODIFIED:\d+T\d+Z", f"LAST-MODIFIED:{stamp}", raw)
        _put_raw(dav, url, raw, "text/calendar")
    assert "X-SYNCADMIN-TASK-STATUS" in raw
    [back] = dav.get_items("tasks", [made.item_id], ["status"])
    assert back.fields == {"status": "in_progress"}
    # The product's next write clears the stale marker.
    dav.update_items("tasks", [ItemUpdate(made.item_id, back.change_key, {"subject": "W2"})])
    assert "X-SYNCADMIN-TASK-STATUS" not in _raw(dav, "tasks", made.item_id)


# -- 8. REV ------------------------------------------------------------------------------------------
def test_a_crm_edit_updates_rev_so_latest_wins_compares_the_right_times(dav):
    coll = dav.collections["contacts"]
    href = f"{coll.path}old-rev.vcf"
    _put_raw(
        dav,
        coll.resolve(href),
        "BEGIN:VCARD\nVERSION:3.0\nUID:rev-1\nFN:Rev\nN:;Rev;;;\nREV:2019-01-01T00:00:00Z\n"
        "END:VCARD\n",
        "text/vcard",
    )
    [item] = dav.get_items("contacts", [href], ["job_title"])
    assert item.modified == dt.datetime(2019, 1, 1, tzinfo=UTC)
    before = dt.datetime.now(UTC).replace(microsecond=0)
    [res] = dav.update_items("contacts", [ItemUpdate(href, item.change_key, {"job_title": "X"})])
    assert res.ok
    [item] = dav.get_items("contacts", [href], ["job_title"])
    assert item.modified is not None and item.modified >= before
    [made] = dav.create_items("calendar", [NewItem("rev-2", dict(EVENT, required_attendees=""))])
    [event] = dav.get_items("calendar", [made.item_id], ["subject"])
    assert "LAST-MODIFIED" in _raw(dav, "calendar", made.item_id)
    assert event.modified is not None and event.modified >= before


# -- 9. TLS, Depth ---------------------------------------------------------------------------------
def test_sync_collection_is_sent_with_depth_0(dav):
    sent: list[dict] = []
    request = dav.dav.session.request

    def spy(method, url, **kw):  # type: ignore[no-untyped-def]
        sent.append(dict(method=method, **kw))
        return request(method, url, **kw)

    dav.dav.session.request = spy  # type: ignore[method-assign]
    list(dav.list_changes("contacts", None))
    [report] = [s for s in sent if s["method"] == "REPORT"]
    assert b"sync-collection" in report["data"] and report["headers"]["Depth"] == "0"


def test_a_certificate_failure_is_a_configuration_error_in_words(monkeypatch, tmp_path: Path):
    bundle = tmp_path / "ca.pem"
    dav = DavConnector(url="https://dav.example.test/u/", verify=str(bundle))
    assert dav.dav.session.verify == str(bundle)
    assert DavConnector(url="https://dav.example.test/u/", verify=False).dav.session.verify is False

    def refuse(*_a, **_kw):  # type: ignore[no-untyped-def]
        raise requests.exceptions.SSLError(
            "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
        )

    monkeypatch.setattr(dav.dav.session, "request", refuse)
    with pytest.raises(CertificateRefused) as caught:
        list(dav.list_changes("contacts", None))
    assert isinstance(caught.value, AuthError)  # not retried as a transient error
    assert caught.value.code == "ErrorCertificate"
    assert str(bundle) in str(caught.value) and "could not be verified" in str(caught.value)
