"""The Graph connector against the Graph test server over real HTTP: field round trips, delta
paging and expiry, etags, $batch with a 429 inside, throttling, auth errors in words, schema
checks, and a mailbox moved from EWS to Graph."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from urllib.parse import parse_qs, urlencode

import httpx
import pytest

from connectors.base import (
    CONFLICT,
    NOT_FOUND,
    AuthError,
    ConnectorError,
    ItemRef,
    ItemUpdate,
    NewItem,
    ThrottledError,
)
from connectors.graph import CRM_ID
from connectors.graph import fields as gf
from connectors.graphserver import App
from tests.connectors.graph_fixtures import CLIENT_ID, SECRET, TENANT

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")

CONTACT = {
    "first_name": "Ann",
    "middle_name": "B.",
    "last_name": "Lee",
    "nickname": "Annie",
    "yomi_first_name": "アン",
    "yomi_last_name": "リー",
    "job_title": "Buyer",
    "company_name": "Contoso",
    "department": "Purchasing",
    "manager": "Max",
    "assistant": "Sam",
    "spouse_partner_name": "Chris",
    "childrens_names": "Kim",
    "government_id": "GOV-1",
    "email": "ann@contoso.test",
    "email_address_2": "ann2@contoso.test",
    "email_address_3": "ann3@contoso.test",
    "business_phone": "+49 1",
    "business_phone_2": "+49 2",
    "company_phone": "+49 3",
    "home_phone": "+49 4",
    "home_phone_2": "+49 5",
    "mobile_phone": "+49 6",
    "telephone_3": "+49 7",
    "assistant_phone": "+49 8",
    "callback_number": "+49 9",
    "pager": "+49 10",
    "fax": "+49 11",
    "website": "https://contoso.test",
    "ftp_site": "ftp://contoso.test",
    "birthday": dt.date(1980, 5, 17),
    "anniversary": dt.date(2005, 6, 1),
    "description": "Prefers mornings.\nCall first.",
    **{
        f"address{n}_{sub}": f"{sub}-{n}"
        for n in (1, 2, 3)
        for sub in ("street", "city", "state_or_province", "postal_code", "country")
    },
}
APPOINTMENT = {
    "subject": "Review",
    "description": "Agenda",
    "priority": 2,
    "regarding": "Opportunity 42",
    "location": "Room 1",
    "required_attendees": "a@contoso.test; b@contoso.test",
    "optional_attendees": "c@contoso.test",
    "appointment_status": "tentative",
    "scheduled_start": dt.datetime(2026, 12, 1, 10, tzinfo=BERLIN),
    "scheduled_end": dt.datetime(2026, 12, 1, 11, 30, tzinfo=BERLIN),
    "is_all_day_event": False,
    "recurrence_pattern": "",
    "exceptions": [],
    "activity_type": "service_activity",
}
TASK = {
    "subject": "Call back",
    "description": "About the offer",
    "priority": 0,
    "status": "completed",
    "start_date": dt.date(2026, 12, 1),
    "due_date": dt.date(2026, 12, 3),
    "actual_end": dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.UTC),
    "activity_type": "phone_call",
}


@pytest.fixture
def mailbox(graph_mailbox):
    return graph_mailbox()


@pytest.fixture
def connector(make_graph, mailbox):
    return make_graph(mailbox)


def _all(connector, folder):
    out = {}
    for page in connector.list_changes(folder, None):
        for item in page.created + page.updated:
            out[item.item_id] = item
    return out


def _normalise(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


@pytest.mark.parametrize(
    ("folder", "fields"),
    [("contacts", CONTACT), ("calendar", APPOINTMENT), ("tasks", TASK)],
)
def test_every_mapped_field_round_trips(connector, graph, folder, fields):
    read_only = {"organizer"} if folder == "calendar" else set()
    assert set(fields) | read_only == set(connector.supported_columns(folder))
    (made,) = connector.create_items(folder, [NewItem("crm-1", fields, ("Tracked to CRM",))])
    assert made.ok, made.message
    (got,) = connector.get_items(folder, [made.item_id], list(fields))
    assert got.crm_id == "crm-1"
    assert got.categories == ("Tracked to CRM",)
    assert {k: _normalise(v) for k, v in got.fields.items()} == {
        k: _normalise(v) for k, v in fields.items()
    }
    listed = _all(connector, folder)
    assert {k: v for k, v in listed[made.item_id].fields.items() if k in fields} == got.fields
    if folder == "calendar":  # Exchange makes the mailbox owner the organizer
        assert listed[made.item_id].fields["organizer"] == connector.mailbox
    assert graph.violations == []


def test_fields_without_a_graph_property_use_mapi_properties(connector, graph, mailbox):
    connector.create_items("contacts", [NewItem("crm-x", CONTACT)])
    box = graph.store.mailbox(mailbox)
    (record,) = box.collections["contacts"].records.values()
    assert record.ext["String 0x3a24"] == "+49 11"  # PidTagBusinessFaxNumber
    assert record.ext["String 0x3a21"] == "+49 10"  # pager
    assert record.ext["SystemTime 0x3a41"].startswith("2005-06-01")  # anniversary
    assert "faxNumber" not in record.data


def test_to_do_cannot_hold_percent_complete_or_regarding(connector):
    assert "percent_complete" not in connector.supported_columns("tasks")
    assert "regarding" not in connector.supported_columns("tasks")
    (r,) = connector.create_items("tasks", [NewItem("t", {"subject": "x", "percent_complete": 50})])
    assert not r.ok and "percent complete" in r.message
    assert gf.UNSUPPORTED["task"]["percent_complete"]


def test_all_day_and_recurring_appointments(connector):
    all_day = dict(
        APPOINTMENT,
        is_all_day_event=True,
        scheduled_start=dt.datetime(2026, 12, 24, tzinfo=BERLIN),
        scheduled_end=dt.datetime(2026, 12, 26, tzinfo=BERLIN),
    )
    series = dict(APPOINTMENT, recurrence_pattern="FREQ=MONTHLY;BYDAY=-1FR;COUNT=4")
    made = connector.create_items("calendar", [NewItem("d", all_day), NewItem("s", series)])
    assert all(r.ok for r in made), made
    listed = _all(connector, "calendar")
    # The series comes as its master (calendarView lists occurrences; the master is read by
    # seriesMasterId), once.
    assert set(listed) == {made[0].item_id, made[1].item_id}
    assert listed[made[0].item_id].fields["scheduled_end"] == all_day["scheduled_end"]
    assert listed[made[1].item_id].fields["recurrence_pattern"] == "FREQ=MONTHLY;BYDAY=-1FR;COUNT=4"


def test_delta_pages_then_only_changes(make_graph, mailbox, graph):
    connector = make_graph(mailbox, page_size=3)
    made = connector.create_items(
        "contacts", [NewItem(f"c{i}", {"first_name": f"N{i}"}) for i in range(7)]
    )
    pages = list(connector.list_changes("contacts", None))
    assert len(pages) == 3 and pages[-1].complete and not pages[0].complete
    assert sum(len(p.created) + len(p.updated) for p in pages) == 7
    state = pages[-1].sync_state
    assert "deltatoken" in state  # the whole deltaLink is the state

    graph.reset()
    (again,) = list(connector.list_changes("contacts", state))
    assert (again.created, again.updated, again.deleted) == ([], [], [])
    assert graph.count("delta") == 1 and graph.count("http") == 1  # one request, no reads

    user = make_graph(mailbox)
    user.update_items(
        "contacts", [ItemUpdate(made[0].item_id, made[0].change_key, {"job_title": "CEO"})]
    )
    user.delete_items("contacts", [ItemRef(made[1].item_id, "")])
    pages = list(connector.list_changes("contacts", state))
    # Delta does not say created or updated; both count as changed for the sync.
    assert [i.item_id for p in pages for i in p.created + p.updated] == [made[0].item_id]
    assert [i for p in pages for i in p.deleted] == [made[1].item_id]


def test_empty_pages_and_replayed_items_are_harmless(make_graph, mailbox, graph):
    connector = make_graph(mailbox)
    made = connector.create_items("contacts", [NewItem("a", {"first_name": "A"})])
    state = list(connector.list_changes("contacts", None))[-1].sync_state
    connector.update_items("contacts", [ItemUpdate(made[0].item_id, "", {"first_name": "B"})])
    graph.faults.delta_empty()
    graph.faults.delta_replay(items=1)
    pages = list(connector.list_changes("contacts", state))
    assert pages[0].created == pages[0].updated == [] and not pages[0].complete
    ids = [i.item_id for p in pages for i in p.created + p.updated]
    assert set(ids) == {made[0].item_id}


@pytest.mark.parametrize("how", ["gone", "syncStateNotFound", "resyncRequired"])
def test_an_expired_state_asks_for_a_full_listing(connector, mailbox, graph, how):
    connector.create_items("contacts", [NewItem("a", {"first_name": "A"})])
    state = list(connector.list_changes("contacts", None))[-1].sync_state
    graph.expire_delta(mailbox, how)
    with pytest.raises(ConnectorError) as err:
        list(connector.list_changes("contacts", state))
    assert err.value.code == "ErrorInvalidSyncStateData"  # the sync relists and compares
    assert len(_all(connector, "contacts")) == 1


@pytest.mark.parametrize("how", ["gone", "syncStateNotFound", "resyncRequired"])
def test_an_expired_calendar_state_asks_for_a_listing_of_the_window(connector, mailbox, graph, how):
    connector.create_items("calendar", [NewItem("e", APPOINTMENT)])
    state = list(connector.list_changes("calendar", None))[-1].sync_state
    graph.expire_delta(mailbox, how)
    with pytest.raises(ConnectorError) as err:
        list(connector.list_changes("calendar", state))
    assert err.value.code == "ErrorInvalidSyncStateData"
    # The listing covers the window only: the sync reads the known items it leaves out by id.
    pages = list(connector.list_changes("calendar", None))
    assert sum(len(p.updated) + len(p.created) for p in pages) == 1
    assert all(p.partial and not p.deleted for p in pages)
    assert not any(p.partial for p in connector.list_changes("contacts", None))


def test_a_rolling_calendar_window_reports_what_was_deleted_since_the_last_run(make_graph, mailbox):
    connector = make_graph(mailbox)
    gone, kept = connector.create_items(
        "calendar", [NewItem("g", APPOINTMENT), NewItem("k", dict(APPOINTMENT, subject="Kept"))]
    )
    state = list(connector.list_changes("calendar", None))[-1].sync_state
    make_graph(mailbox).delete_items("calendar", [ItemRef(gone.item_id, "")])
    # The window's end is due to roll (within 30 days of the horizon).
    link = state.partition("#")[0]
    due = dt.datetime.now(dt.UTC) + dt.timedelta(days=connector.future_days - 31)
    rolled = f"{link}#{urlencode({'e': due.isoformat(), 'm': ''})}"
    pages = list(connector.list_changes("calendar", rolled))
    assert [i for p in pages for i in p.deleted] == [gone.item_id]
    assert {i.item_id for p in pages for i in p.created + p.updated} == {kept.item_id}
    assert [p.complete for p in pages][-1] and not any(p.complete for p in pages[:-1])
    new_end = dt.datetime.fromisoformat(parse_qs(pages[-1].sync_state.partition("#")[2])["e"][0])
    assert new_end > due + dt.timedelta(days=30)
    (again,) = connector.list_changes("calendar", pages[-1].sync_state)
    assert (again.created, again.updated, again.deleted) == ([], [], [])


def test_a_deleted_series_is_reported_by_its_master(make_graph, mailbox):
    connector = make_graph(mailbox)
    series = dict(APPOINTMENT, recurrence_pattern="FREQ=WEEKLY;BYDAY=TU;COUNT=5")
    (made,) = connector.create_items("calendar", [NewItem("s", series)])
    state = list(connector.list_changes("calendar", None))[-1].sync_state
    make_graph(mailbox).delete_items("calendar", [ItemRef(made.item_id, "")])
    pages = list(connector.list_changes("calendar", state))
    assert made.item_id in [i for p in pages for i in p.deleted]


def test_a_stale_etag_refuses_that_item_alone(connector):
    made = connector.create_items(
        "contacts", [NewItem("a", {"first_name": "A"}), NewItem("b", {"first_name": "B"})]
    )
    connector.update_items("contacts", [ItemUpdate(made[0].item_id, "", {"first_name": "A2"})])
    results = connector.update_items(
        "contacts",
        [
            ItemUpdate(made[0].item_id, made[0].change_key, {"first_name": "A3"}),
            ItemUpdate(made[1].item_id, made[1].change_key, {"first_name": "B2"}),
        ],
    )
    assert [r.ok for r in results] == [False, True]
    assert results[0].error_code == CONFLICT
    deleted = connector.delete_items("contacts", [ItemRef(made[0].item_id, made[0].change_key)])
    assert deleted[0].error_code == CONFLICT
    overwritten = connector.update_items(
        "contacts",
        [ItemUpdate(made[0].item_id, made[0].change_key, {"first_name": "A4"})],
        overwrite=True,
    )
    assert overwritten[0].ok


def test_writes_go_in_batches_of_twenty_with_a_429_inside(connector, graph):
    graph.faults.batch_throttle(index=3, retry_after=0.2)
    made = connector.create_items(
        "contacts", [NewItem(f"c{i}", {"first_name": f"N{i}"}) for i in range(45)]
    )
    assert all(r.ok for r in made) and len({r.item_id for r in made}) == 45
    assert [r.crm_id for r in made] == [f"c{i}" for i in range(45)]
    assert graph.count("batch") == 4  # ceil(45 / 20) + the one request sent again
    assert len(_all(connector, "contacts")) == 45


def test_429_and_503_wait_out_retry_after(connector, graph):
    graph.faults.throttle(status=503, retry_after=0.2, match="/delta")
    assert _all(connector, "contacts") == {}
    graph.faults.throttle(status=429, retry_after=30, match="/delta")
    with pytest.raises(ThrottledError) as err:
        list(connector.list_changes("contacts", None))
    assert err.value.wait == 30


def test_at_most_four_requests_in_flight_per_mailbox(make_graph, mailbox, graph):
    connector = make_graph(mailbox)
    # Each create inside a $batch takes 10 ms (a batch 0.2 s), so the batches overlap for sure.
    graph.faults.delay(0.01, match=f"POST /users/{mailbox}/", count=None)
    connector.create_items("contacts", [NewItem(f"c{i}", {"first_name": "N"}) for i in range(200)])
    # Requests overlap (more than one at a time) but never more than four; how many overlap
    # at the peak depends on the machine's load, so the test does not ask for exactly four.
    assert 2 <= graph.max_in_flight[mailbox] <= 4
    assert graph.count("concurrency_refused") == 0


def test_an_unreadable_answer_is_an_error_for_that_item(connector, graph):
    made = connector.create_items(
        "contacts", [NewItem("a", {"first_name": "A"}), NewItem("b", {"first_name": "B"})]
    )
    graph.faults.garbage(match=made[1].item_id)
    got = connector.get_items("contacts", [m.item_id for m in made], ["first_name"])
    assert got[0].fields == {"first_name": "A"}
    assert not got[1].ok and got[1].error_code == "ErrorCorruptData"


def test_an_unknown_property_is_a_400_as_graph_answers(connector, graph):
    token = connector.client.token()
    answer = httpx.post(
        f"{graph.graph_url}/users/{connector.mailbox}/contacts",
        json={"givenName": "A", "faxNumber": "1"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "RequestBodyRead"
    assert "faxNumber" in answer.json()["error"]["message"]
    wrong_type = httpx.post(
        f"{graph.graph_url}/users/{connector.mailbox}/contacts",
        json={"givenName": 5},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert wrong_type.status_code == 400


def test_a_response_breaking_the_schema_is_recorded(graph, connector, mailbox):
    (made,) = connector.create_items("contacts", [NewItem("a", {"first_name": "A"})])
    graph.store.mailbox(mailbox).collections["contacts"].records[made.item_id].data["bogus"] = 1
    connector.get_items("contacts", [made.item_id], ["first_name"])
    assert any("bogus" in v for v in graph.violations)
    graph.violations.clear()


def test_transaction_id_makes_a_retried_event_create_idempotent(connector):
    first = connector.create_items("calendar", [NewItem("e-1", APPOINTMENT)])
    second = connector.create_items("calendar", [NewItem("e-1", APPOINTMENT)])
    assert first[0].item_id == second[0].item_id
    assert len(_all(connector, "calendar")) == 1


def test_a_mailbox_moved_from_ews_to_graph_finds_its_items_again(connector, graph, mailbox):
    from connectors.exchange.props import CrmIdProperty

    # The Graph id names the same MAPI property the EWS connector's ExtendedProperty writes.
    assert CrmIdProperty.distinguished_property_set_id == "PublicStrings"
    assert f"String {{{gf.PS_PUBLIC_STRINGS}}} Name {CrmIdProperty.property_name}" == CRM_ID
    assert gf.PS_PUBLIC_STRINGS == "00020329-0000-0000-C000-000000000046"  # PS_PUBLIC_STRINGS
    # An item as the EWS connector left it: the property set GUID as Exchange stores it.
    token = connector.client.token()
    ews_tagged = {
        "givenName": "Moved",
        "surname": "Over",
        "singleValueExtendedProperties": [
            {
                "id": "String {00020329-0000-0000-c000-000000000046} Name SyncAdminCrmId",
                "value": "crm-moved",
            }
        ],
    }
    httpx.post(
        f"{graph.graph_url}/users/{mailbox}/contacts",
        json=ews_tagged,
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    found = connector.find_by_crm_ids("contacts", ["crm-moved", "crm-absent"])
    assert list(found) == ["crm-moved"]
    assert found["crm-moved"].fields["last_name"] == "Over"
    assert len(_all(connector, "contacts")) == 1  # found, not duplicated


def test_find_by_crm_ids_in_every_folder(connector):
    for folder, fields in (("contacts", CONTACT), ("calendar", APPOINTMENT), ("tasks", TASK)):
        (made,) = connector.create_items(folder, [NewItem(f"{folder}-1", fields)])
        found = connector.find_by_crm_ids(folder, [f"{folder}-1", "nope"])
        assert list(found) == [f"{folder}-1"] and found[f"{folder}-1"].item_id == made.item_id


@pytest.mark.parametrize(
    ("folder", "kind", "fields"),
    [
        ("tasks", "fax", {"subject": "Fax the order"}),
        ("tasks", "", {"subject": "Plain to-do"}),
        ("calendar", "service_activity", APPOINTMENT),
    ],
)
def test_the_activity_type_survives_an_edit(connector, make_graph, mailbox, folder, kind, fields):
    """A To Do task says it in its CRM link's name, an event in the named property EWS uses;
    a user's edit (another client: To Do, Outlook) leaves it in place."""
    values = {**fields, "activity_type": kind}
    (made,) = connector.create_items(folder, [NewItem("crm-7", values)])
    assert made.ok, made.message
    user = make_graph(mailbox)
    (edited,) = user.update_items(
        folder, [ItemUpdate(str(made.item_id), "", {"subject": "edited"})], overwrite=True
    )
    assert edited.ok, edited.message
    (got,) = _all(connector, folder).values()
    assert (got.fields["subject"], got.fields["activity_type"]) == ("edited", kind)
    # Stamping the CRM id again (an adopted item) keeps the type too.
    connector.update_items(folder, [ItemUpdate(got.item_id, got.change_key, {}, "crm-8")])
    (again,) = _all(connector, folder).values()
    assert (again.crm_id, again.fields["activity_type"]) == ("crm-8", kind)


def test_missing_items_answer_not_found(connector):
    (got,) = connector.get_items("contacts", ["AAMkmissing"], ["first_name"])
    assert not got.ok and got.error_code == NOT_FOUND


def test_the_tracked_category_is_in_the_master_list(connector, graph, mailbox):
    connector.create_items("contacts", [NewItem("a", {"first_name": "A"}, ("Tracked to CRM",))])
    names = [c["displayName"] for c in graph.store.mailbox(mailbox).categories]
    assert names == ["Tracked to CRM"]


def test_test_connection_checks_the_three_folders(connector):
    assert connector.test_connection()[1:] == ["contacts folder", "calendar", "default To Do list"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"tenant_id": "nowhere.onmicrosoft.com"}, "Unknown tenant"),
        ({"client_secret": "wrong"}, "Wrong client secret"),
        ({"client_id": "00000000-0000-0000-0000-000000000000"}, "Unknown application"),
    ],
)
def test_auth_errors_in_words(make_graph, mailbox, change, words):
    with pytest.raises(AuthError) as err:
        make_graph(mailbox, **change).test_connection()
    assert words in str(err.value)


def test_missing_permission_consent_scope_and_mailbox_in_words(make_graph, graph, mailbox):
    graph.add_app(
        App(
            TENANT,
            "no-tasks",
            "s",
            permissions={"Contacts.ReadWrite", "Calendars.ReadWrite", "MailboxSettings.ReadWrite"},
        )
    )
    graph.add_app(App(TENANT, "no-consent", "s", consented=False))
    graph.add_app(App(TENANT, "scoped", "s", mailboxes={"someone-else@contoso.test"}))
    with pytest.raises(
        AuthError, match=r"lacks the application permission\(s\) Tasks.ReadWrite.All"
    ):
        make_graph(mailbox, client_id="no-tasks", client_secret="s").test_connection()
    with pytest.raises(AuthError, match="Admin consent is missing"):
        make_graph(mailbox, client_id="no-consent", client_secret="s").test_connection()
    with pytest.raises(AuthError, match="scoped away from"):
        make_graph(mailbox, client_id="scoped", client_secret="s").test_connection()
    with pytest.raises(ConnectorError, match="Mailbox not found"):
        make_graph("nobody@contoso.test").test_connection()


def test_certificate_credentials_and_an_expired_certificate(make_graph, graph, mailbox):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "syncadmin")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    thumb = cert.fingerprint(hashes.SHA1()).hex().upper()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    graph.add_app(App(TENANT, "cert-app", thumbprint=thumb, public_key=public))
    graph.add_app(App(TENANT, "old-cert", thumbprint=thumb, certificate_expired=True))
    ok = make_graph(
        mailbox,
        client_id="cert-app",
        client_secret=None,
        certificate_key=pem,
        certificate_thumbprint=thumb,
    )
    assert ok.test_connection()[-1] == "default To Do list"
    old = make_graph(
        mailbox,
        client_id="old-cert",
        client_secret=None,
        certificate_key=pem,
        certificate_thumbprint=thumb,
    )
    with pytest.raises(AuthError, match="certificate was refused"):
        old.test_connection()


def test_the_token_is_cached_and_renewed(make_graph, mailbox, graph):
    connector = make_graph(mailbox)
    issued = graph.directory.issued
    for _ in range(3):
        _all(connector, "contacts")
    assert graph.directory.issued == issued + 1  # cached by msal
    graph.directory.signer.key = b"rotated-key-so-old-tokens-fail!!"  # the token stops being valid
    assert _all(connector, "contacts") == {}  # a 401 gets a fresh token, once
    assert graph.directory.issued == issued + 2


def test_control_api_over_http(graph, connector):
    httpx.post(
        f"{graph.url}/_control/throttle", json={"status": 429, "retry_after": 0.1}
    ).raise_for_status()
    assert _all(connector, "contacts") == {}
    stats = httpx.get(f"{graph.url}/_control/stats").json()
    assert stats["counts"]["delta"] == 1 and stats["violations"] == []


def test_threads_share_one_connector_safely(connector):
    errors = []

    def work(n):
        try:
            connector.create_items("contacts", [NewItem(f"t{n}", {"first_name": "T"})])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(_all(connector, "contacts")) == 4


def test_secret_defaults_match_fixtures():
    assert SECRET and CLIENT_ID


# -- a series' changed and cancelled occurrences --------------------------------------------------
SERIES = dict(
    APPOINTMENT,
    scheduled_start=dt.datetime(2026, 12, 7, 9, tzinfo=BERLIN),
    scheduled_end=dt.datetime(2026, 12, 7, 9, 30, tzinfo=BERLIN),
    recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=6",
)
WEEK = dt.timedelta(weeks=1)


def _instances(connector, item_id) -> list[dict]:
    answer = connector.client.request(
        "GET",
        f"{connector.user}/events/{item_id}/instances",
        params={"startDateTime": "2026-12-01T00:00:00Z", "endDateTime": "2027-02-01T00:00:00Z"},
        headers={"Prefer": 'outlook.timezone="UTC"'},
    )
    assert answer.status == 200, answer.message
    return answer.body["value"]


def _exception(original, *, cancelled=False, start=None, subject=None) -> dict:
    return {
        "original_start": original.astimezone(dt.UTC),
        "cancelled": cancelled,
        "start": start,
        "end": None,
        "subject": subject,
        "location": None,
        "description": None,
    }


def test_an_occurrence_outlook_moved_or_cancelled_comes_with_its_series_in_the_change_list(
    make_graph, mailbox
):
    connector, outlook = make_graph(mailbox), make_graph(mailbox)
    (made,) = connector.create_items("calendar", [NewItem("s", SERIES)])
    state = list(connector.list_changes("calendar", None))[-1].sync_state
    occurrences = _instances(outlook, made.item_id)
    assert [o["type"] for o in occurrences] == ["occurrence"] * 6
    second, third = occurrences[1], occurrences[2]
    moved = outlook.client.request(
        "PATCH",
        f"{outlook.user}/events/{second['id']}",
        body={"subject": "Moved", "start": {"dateTime": "2026-12-14T12:00:00", "timeZone": "UTC"},
              "end": {"dateTime": "2026-12-14T12:30:00", "timeZone": "UTC"}},
    )  # fmt: skip
    assert moved.status == 200 and moved.body["type"] == "exception"
    gone = outlook.client.request("DELETE", f"{outlook.user}/events/{third['id']}")
    assert gone.status == 204
    # The master changed with them: its change key, and the delta lists its instances again.
    pages = list(connector.list_changes("calendar", state))
    (series,) = [i for p in pages for i in p.updated]
    assert series.item_id == made.item_id and series.change_key != made.change_key
    first = SERIES["scheduled_start"]
    assert series.fields["exceptions"] == [
        _exception(first + WEEK, start=dt.datetime(2026, 12, 14, 12, tzinfo=dt.UTC),
                   subject="Moved") | {"end": dt.datetime(2026, 12, 14, 12, 30, tzinfo=dt.UTC)},
        _exception(first + 2 * WEEK, cancelled=True),
    ]  # fmt: skip
    assert [o["type"] for o in _instances(outlook, made.item_id)] == ["occurrence", "exception"] + [
        "occurrence"
    ] * 3


def test_the_server_keeps_occurrences_as_graph_does(make_graph, mailbox):
    outlook = make_graph(mailbox)
    (made,) = outlook.create_items("calendar", [NewItem("s", SERIES)])
    occ = _instances(outlook, made.item_id)[1]
    refused = outlook.client.request(
        "PATCH", f"{outlook.user}/events/{occ['id']}", body={"recurrence": None}
    )
    assert refused.status == 400
    assert outlook.client.request("DELETE", f"{outlook.user}/events/{occ['id']}").status == 204
    assert outlook.client.request("DELETE", f"{outlook.user}/events/{occ['id']}").status == 404
    plain = outlook.client.request("GET", f"{outlook.user}/events/{made.item_id}")
    assert "cancelledOccurrences" not in plain.body  # on $select only
    selected = outlook.client.request(
        "GET", f"{outlook.user}/events/{made.item_id}", params={"$select": "cancelledOccurrences"}
    )
    assert selected.body["cancelledOccurrences"] == [f"OID.{made.item_id}.2026-12-14"]
    # A new time for the series drops its exceptions: the occurrence is back.
    later = dict(SERIES, scheduled_start=SERIES["scheduled_start"] + dt.timedelta(hours=1))
    later["scheduled_end"] = SERIES["scheduled_end"] + dt.timedelta(hours=1)
    outlook.client.request(
        "PATCH", f"{outlook.user}/events/{made.item_id}", body=outlook.codec.write("calendar", {
            k: later[k] for k in ("scheduled_start", "scheduled_end", "is_all_day_event",
                                  "recurrence_pattern")}),
    )  # fmt: skip
    assert len(_instances(outlook, made.item_id)) == 6


def test_the_server_puts_a_day_31_on_a_shorter_months_last_day_at_its_local_time(
    make_graph, mailbox
):
    outlook = make_graph(mailbox)
    month_end = dict(
        APPOINTMENT,
        scheduled_start=dt.datetime(2028, 1, 31, 9, tzinfo=BERLIN),
        scheduled_end=dt.datetime(2028, 1, 31, 9, 30, tzinfo=BERLIN),
        recurrence_pattern="FREQ=MONTHLY;BYMONTHDAY=31;COUNT=4",
    )
    (made,) = outlook.create_items("calendar", [NewItem("m", month_end)])
    answer = outlook.client.request(
        "GET",
        f"{outlook.user}/events/{made.item_id}/instances",
        params={"startDateTime": "2028-01-01T00:00:00Z", "endDateTime": "2028-06-01T00:00:00Z"},
        headers={"Prefer": 'outlook.timezone="UTC"'},
    )
    assert answer.status == 200, answer.message
    # Summer time from 26 March: 09:00 in Berlin is 07:00 UTC on 30 April, 08:00 UTC before.
    assert [o["start"]["dateTime"][:16] for o in answer.body["value"]] == [
        "2028-01-31T08:00",
        "2028-02-29T08:00",
        "2028-03-31T07:00",
        "2028-04-30T07:00",
    ]


def test_the_connector_writes_cancelled_changed_and_restored_occurrences(make_graph, mailbox):
    connector = make_graph(mailbox)
    first = SERIES["scheduled_start"]
    wanted = [
        _exception(first + WEEK, subject="Changed"),
        _exception(first + 2 * WEEK, cancelled=True),
        _exception(first + 3 * WEEK, cancelled=True),
    ]
    (made,) = connector.create_items("calendar", [NewItem("s", dict(SERIES, exceptions=wanted))])
    assert made.ok, made.message
    (got,) = connector.get_items("calendar", [made.item_id], ["exceptions"])
    assert got.change_key == made.change_key  # the key after the occurrences' writes
    assert [(e["original_start"], e["cancelled"], e["subject"]) for e in got.fields["exceptions"]] == [
        (w["original_start"], w["cancelled"], w["subject"]) for w in wanted
    ]  # fmt: skip
    # One cancelled occurrence back: the recurrence is written again, the others re-applied.
    (back,) = connector.update_items(
        "calendar", [ItemUpdate(made.item_id, made.change_key, {"exceptions": wanted[:2]})]
    )
    assert back.ok, back.message
    (got,) = connector.get_items("calendar", [made.item_id], ["exceptions", "subject"])
    assert [(e["original_start"], e["cancelled"]) for e in got.fields["exceptions"]] == [
        (first + WEEK, False),
        (first + 2 * WEEK, True),
    ]
    assert got.change_key == back.change_key
    # A stale change key refuses the occurrences' write.
    (stale,) = connector.update_items(
        "calendar", [ItemUpdate(made.item_id, made.change_key, {"exceptions": []})]
    )
    assert stale.error_code == CONFLICT
    # A new time for the series keeps the occurrences the CRM has (written again after it).
    later = SERIES["scheduled_end"] + dt.timedelta(minutes=30)
    (moved,) = connector.update_items(
        "calendar", [ItemUpdate(made.item_id, back.change_key, {"scheduled_end": later})]
    )
    assert moved.ok, moved.message
    (got,) = connector.get_items("calendar", [made.item_id], ["exceptions"])
    assert [(e["original_start"], e["cancelled"]) for e in got.fields["exceptions"]] == [
        (first + WEEK, False),
        (first + 2 * WEEK, True),
    ]


def test_a_series_read_costs_one_request_with_its_occurrences(make_graph, mailbox, graph):
    connector = make_graph(mailbox)
    wanted = [_exception(SERIES["scheduled_start"] + WEEK, cancelled=True)]
    (made,) = connector.create_items("calendar", [NewItem("s", dict(SERIES, exceptions=wanted))])
    before = connector.request_count
    (got,) = connector.get_items("calendar", [made.item_id], ["subject", "exceptions"])
    assert len(got.fields["exceptions"]) == 1
    assert connector.request_count - before == 1  # one $batch of one GET


def test_a_single_event_moved_costs_one_request(make_graph, mailbox):
    connector = make_graph(mailbox)
    (one,) = connector.create_items("calendar", [NewItem("e", APPOINTMENT)])
    when = {
        "scheduled_start": APPOINTMENT["scheduled_start"] + dt.timedelta(hours=1),
        "scheduled_end": APPOINTMENT["scheduled_end"] + dt.timedelta(hours=1),
        "is_all_day_event": False,
        "recurrence_pattern": "",
    }
    before = connector.request_count
    (moved,) = connector.update_items("calendar", [ItemUpdate(one.item_id, one.change_key, when)])
    assert moved.ok and connector.request_count - before == 1


def test_occurrences_of_an_all_day_series_across_the_spring_change_keep_their_days(
    make_graph, mailbox
):
    connector = make_graph(mailbox)
    first = dt.datetime(2027, 3, 26, tzinfo=BERLIN)
    series = dict(
        APPOINTMENT,
        scheduled_start=first,
        scheduled_end=first + dt.timedelta(days=1),
        is_all_day_event=True,
        recurrence_pattern="FREQ=DAILY;COUNT=5",
    )
    wanted = [
        _exception(dt.datetime(2027, 3, 28, tzinfo=BERLIN), subject="Sunday off-site"),
        _exception(dt.datetime(2027, 3, 29, tzinfo=BERLIN), cancelled=True),
    ]
    (made,) = connector.create_items("calendar", [NewItem("d", dict(series, exceptions=wanted))])
    assert made.ok, made.message
    (got,) = connector.get_items("calendar", [made.item_id], ["exceptions"])
    assert [(e["original_start"], e["cancelled"], e["subject"]) for e in got.fields["exceptions"]] == [
        (dt.datetime(2027, 3, 27, 23, tzinfo=dt.UTC), False, "Sunday off-site"),
        (dt.datetime(2027, 3, 28, 22, tzinfo=dt.UTC), True, None),
    ]  # fmt: skip
    assert got.fields["exceptions"][0]["start"] is None  # the day as the series gives it


def test_a_series_found_by_its_crm_id_comes_with_its_occurrences(make_graph, mailbox):
    connector = make_graph(mailbox)
    wanted = [_exception(SERIES["scheduled_start"] + WEEK, cancelled=True)]
    connector.create_items("calendar", [NewItem("s-9", dict(SERIES, exceptions=wanted))])
    found = make_graph(mailbox).find_by_crm_ids("calendar", ["s-9"])
    assert [e["cancelled"] for e in found["s-9"].fields["exceptions"]] == [True]
