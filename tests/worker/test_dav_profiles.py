"""Mailboxes on CalDAV/CardDAV servers beyond Radicale (issue #18, the product side): collections
chosen per mailbox from discovery (page and API) on Xandikos and a Nextcloud-shaped tree, Test
connection checking each collection in words, TLS verification per profile against a real
self-signed TLS endpoint, the mailbox's address as ORGANIZER, and `sync_mailbox` stopping in
words on a missing collection."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from connectors.dav.webdav import WebDav, mkcol_body
from connectors.dav.xandikos import XandikosServer
from crm.models import Appointment, Contact, Task
from fieldsync.models.mailboxes import Mailbox, MailboxStatus, RunStatus

from .tlsproxy import TlsProxy, make_chain

pytestmark = pytest.mark.django_db
RIGHTS = ("create", "read", "write", "delete", "sync")
_n = itertools.count(1)


@pytest.fixture(scope="module")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XandikosServer]:
    with XandikosServer(tmp_path_factory.mktemp("xandikos")) as server:
        yield server


@pytest.fixture(scope="module")
def nextcloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XandikosServer]:
    """Xandikos behind /remote.php/dav/, its principal under principals/users/, as Nextcloud."""
    with XandikosServer(
        tmp_path_factory.mktemp("nextcloud"),
        route_prefix="/remote.php/dav/",
        principal="/principals/users/alice/",
    ) as server:
        yield server


@pytest.fixture(scope="module")
def tls(
    tmp_path_factory: pytest.TempPathFactory, xandikos: XandikosServer
) -> Iterator[tuple[TlsProxy, str]]:
    """https:// in front of the Xandikos above, with a certificate from a CA of our own."""
    ca_pem, cert, key = make_chain(Path(tmp_path_factory.mktemp("tls")))
    with TlsProxy(xandikos.port, cert, key) as proxy:
        yield proxy, ca_pem


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True)


@pytest.fixture
def dav_mailbox(make_user):
    """A mailbox on a CalDAV/CardDAV profile with this URL (Xandikos asks for no password)."""
    from fieldsync.mailboxes.services import mailbox_create, server_profile_create
    from security.services import role_upsert

    def make(url: str, **kw: object) -> Mailbox:
        n = next(_n)
        owner = make_user(f"dav{n}", email=f"dav{n}@dav.test")
        levels = {(e, a): "user" for e in ("contact", "appointment", "task") for a in RIGHTS}
        role_upsert(name=f"DAV user {n}", levels=levels, users=[owner])
        profile = server_profile_create(
            name=f"DAV {n}",
            kind="caldav",
            ews_url=url,
            use_impersonation=False,
            max_wait=2,
            **{k: kw.pop(k) for k in ("verify_tls", "ca_certificates") if k in kw},  # type: ignore[arg-type]
        )
        return mailbox_create(
            owner=owner,
            email_address=f"dav{n}@dav.test",
            server_profile=profile,
            username=f"dav{n}",
            password="pw",
            **kw,  # type: ignore[arg-type]
        )

    return make


def items(url: str) -> list[str]:
    """The hrefs of the items (not collections) directly in a collection."""
    dav = WebDav(url)
    try:
        return [e.href for e in dav.propfind_children(url)]
    finally:
        dav.close()


def _crm_records(owner) -> None:  # type: ignore[no-untyped-def]
    start = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
    Contact.objects.create(owner=owner, first_name="Ann", last_name="Lee")
    Appointment.objects.create(
        owner=owner,
        subject="Site visit",
        scheduled_start=start,
        scheduled_end=start + dt.timedelta(hours=1),
        required_attendees="ann.lee@customer.test",
    )
    Task.objects.create(owner=owner, subject="Send the offer")


def _form(mailbox: Mailbox, **collections: str) -> dict[str, object]:
    return {
        "email_address": mailbox.email_address,
        "server_profile": mailbox.server_profile_id,
        "username": mailbox.username,
        "password": "",
        "sync_contacts": "on",
        "sync_appointments": "on",
        "sync_tasks": "on",
        "enabled": "on",
        **collections,
    }


# -- 1. collections per mailbox ------------------------------------------------------------------
def test_an_admin_picks_the_xandikos_collections_from_discovery_and_the_sync_lands_there(
    client, admin, xandikos, dav_mailbox
):
    from fieldsync.mailboxes.run import mailbox_sync_run

    home = xandikos.principal_url
    book, calendar = f"{home}contacts/addressbook/", f"{home}calendars/calendar/"
    mailbox = dav_mailbox(xandikos.url)  # the server's root: /.well-known/ leads on
    client.force_login(admin)
    detail = client.get(reverse("fieldsync:sync_mailbox", args=[mailbox.pk])).content.decode()
    assert "contacts/ under the Server URL" in detail and "Discover collections" in detail

    edit = reverse("fieldsync:sync_mailbox_edit", args=[mailbox.pk])
    page = client.get(edit + "?discover=1")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Collections on the server" in html
    assert "1 address book and 1 calendar" in html
    # What the server has, by name and what it holds; discovery's proposal preselected (events
    # and tasks: the one default calendar, which takes both).
    assert "Contacts (address book)" in html and "Calendar: events, tasks" in html
    for name in ("contacts_collection", "events_collection", "tasks_collection"):
        chosen = html.split(f'name="{name}"')[1].split("</select>")[0]
        url = book if name == "contacts_collection" else calendar
        assert f'<option value="{url}" selected>' in chosen
    assert (
        f'<option value="{book}"'
        not in html.split('name="events_collection"')[1].split("</select>")[0]
    )  # an address book is not offered as a calendar

    saved = client.post(
        edit,
        _form(
            mailbox,
            contacts_collection=book,
            events_collection=calendar,
            tasks_collection=calendar,
        ),
    )
    assert saved.status_code == 302, saved.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.collections == {"contacts": book, "calendar": calendar, "tasks": calendar}

    _crm_records(mailbox.owner)
    outcome = mailbox_sync_run(mailbox_id=mailbox.pk, trigger="manual")
    assert outcome.status == "succeeded", [(r.entity, r.error) for r in outcome.runs]
    assert len(items(book)) == 1
    assert len(items(calendar)) == 2  # the event and the task share the calendar
    # Nothing in the principal or its homes.
    assert items(home) == [] and items(f"{home}contacts/") == []
    assert items(f"{home}calendars/") == []

    # 4. ORGANIZER: the event made from the CRM names the mailbox as its organizer.
    texts = [WebDav(calendar).session.get(f"{xandikos.url}{h.lstrip('/')}").text for h in
             items(calendar)]  # fmt: skip
    [event] = [t for t in texts if "BEGIN:VEVENT" in t]
    assert f"mailto:{mailbox.email_address}" in event.split("ORGANIZER")[1].split("\n")[0]
    assert "ann.lee@customer.test" in event


def test_a_nextcloud_shaped_mailbox_takes_its_collections_from_the_api(
    admin, nextcloud, dav_mailbox
):
    from fieldsync.mailboxes.run import mailbox_sync_run

    api = APIClient()
    api.force_authenticate(admin)
    mailbox = dav_mailbox(nextcloud.url)
    home = nextcloud.principal_url
    got = api.get(f"/api/v1/mailboxes/{mailbox.pk}/collections/")
    assert got.status_code == 200, got.content
    body = got.json()
    assert body["ok"], body
    assert {c["url"]: c["kind"] for c in body["collections"]} == {
        f"{home}contacts/addressbook/": "addressbook",
        f"{home}calendars/calendar/": "calendar",
    }
    assert body["proposed"] == {
        "contacts_collection": f"{home}contacts/addressbook/",
        "events_collection": f"{home}calendars/calendar/",
        "tasks_collection": f"{home}calendars/calendar/",
    }
    patched = api.patch(f"/api/v1/mailboxes/{mailbox.pk}/", body["proposed"], format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["contacts_collection"] == f"{home}contacts/addressbook/"

    _crm_records(mailbox.owner)
    outcome = mailbox_sync_run(mailbox_id=mailbox.pk, trigger="manual")
    assert outcome.status == "succeeded", [(r.entity, r.error) for r in outcome.runs]
    assert [h.rpartition("/")[0] + "/" for h in items(f"{home}contacts/addressbook/")] == [
        "/remote.php/dav/principals/users/alice/contacts/addressbook/"
    ]
    assert items(f"{home}contacts/") == [] and items(f"{home}calendars/") == []


def test_collections_are_refused_in_words_where_they_make_no_sense(admin, dav_mailbox, xandikos):
    api = APIClient()
    api.force_authenticate(admin)
    mailbox = dav_mailbox(xandikos.url)
    same = f"{xandikos.principal_url}contacts/addressbook/"
    both = api.patch(
        f"/api/v1/mailboxes/{mailbox.pk}/",
        {"contacts_collection": same, "events_collection": same},
        format="json",
    )
    assert both.status_code == 400
    assert "cannot also be the events or tasks calendar" in str(both.json())
    bad = api.patch(
        f"/api/v1/mailboxes/{mailbox.pk}/", {"tasks_collection": "not a url"}, format="json"
    )
    assert bad.status_code == 400 and "tasks_collection" in str(bad.json())


def test_an_exchange_mailbox_has_no_collections_to_discover(admin, make_mailbox):
    api = APIClient()
    api.force_authenticate(admin)
    mailbox = make_mailbox("sam")
    got = api.get(f"/api/v1/mailboxes/{mailbox.pk}/collections/")
    assert got.status_code == 400 and "only a CalDAV/CardDAV server" in str(got.json())
    chosen = api.patch(
        f"/api/v1/mailboxes/{mailbox.pk}/",
        {"contacts_collection": "https://dav.test/u/book/"},
        format="json",
    )
    assert chosen.status_code == 400 and "CalDAV/CardDAV" in str(chosen.json())


# -- 2. Test connection checks each collection ---------------------------------------------------
def test_test_connection_names_each_collection_that_is_missing_or_wrong(
    client, admin, xandikos, dav_mailbox
):
    home = xandikos.principal_url
    other_book = f"{home}contacts/another-book/"
    assert WebDav(other_book).request("MKCOL", other_book, body=mkcol_body("CR")).ok
    mailbox = dav_mailbox(
        xandikos.url,
        contacts_collection=f"{home}contacts/addressbook/",
        events_collection=f"{home}calendars/nothing-here/",
        tasks_collection=other_book,
    )
    client.force_login(admin)
    page = client.post(reverse("fieldsync:sync_mailbox_test", args=[mailbox.pk]), follow=True)
    html = page.content.decode()
    assert "Test connection failed" in html
    assert f"The events collection {home}calendars/nothing-here/ does not exist" in html
    assert f"The tasks collection {other_book} is an address book, not a calendar" in html
    assert "The contacts collection" not in html  # that one is fine

    api = APIClient()
    api.force_authenticate(admin)
    mailbox.events_collection = mailbox.tasks_collection = f"{home}calendars/calendar/"
    mailbox.save()
    check = api.post(f"/api/v1/mailboxes/{mailbox.pk}/test-connection/").json()
    assert check["ok"], check
    assert f"events {home}calendars/calendar/" in check["message"]
    assert f"contacts {home}contacts/addressbook/" in check["message"]


# -- 3. TLS per profile --------------------------------------------------------------------------
def test_a_self_signed_server_is_a_configuration_error_until_its_ca_is_given(
    client, admin, tls, dav_mailbox, monkeypatch
):
    import certifi

    from fieldsync.mailboxes.connection import mailbox_test_connection
    from fieldsync.mailboxes.run import mailbox_sync_run
    from fieldsync.mailboxes.services import server_profile_update

    proxy, ca_pem = tls
    # As on many hosts: requests' environment names the system bundle (it must not win over
    # the profile's CA certificates or its "do not verify").
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    home = f"{proxy.url}user/"
    mailbox = dav_mailbox(
        home,
        contacts_collection=f"{home}contacts/addressbook/",
        events_collection=f"{home}calendars/calendar/",
        tasks_collection=f"{home}calendars/calendar/",
    )
    check = mailbox_test_connection(mailbox=mailbox)
    assert not check.ok and check.code == "ErrorCertificate"
    assert f"The TLS certificate of {home}" in check.message
    assert "could not be verified against the system's trusted CAs" in check.message

    # The worker: failed in words, not retried as a transient error (no RetryLater).
    Contact.objects.create(owner=mailbox.owner, last_name="Lee")
    outcome = mailbox_sync_run(mailbox_id=mailbox.pk, trigger="manual")
    assert outcome.status == "failed"
    [run] = outcome.runs
    assert (run.status, run.error_code) == (RunStatus.FAILED, "ErrorCertificate")
    assert "CA certificates" in run.error and "not retried" in run.error
    mailbox.refresh_from_db()
    assert mailbox.status == MailboxStatus.FAILING and "TLS certificate" in mailbox.last_error
    client.force_login(admin)
    history = client.get(reverse("fieldsync:sync_history")).content.decode()
    assert "could not be verified" in history

    # Not PEM: the profile form says so.
    edit = reverse("fieldsync:sync_profile_edit", args=[mailbox.server_profile_id])
    form = {
        "name": mailbox.server_profile.name,
        "kind": "caldav",
        "ews_url": home,
        "auth_type": "basic",
        "timezone": "UTC",
        "max_wait": 2,
        "verify_tls": "on",
    }
    refused = client.post(edit, form | {"ca_certificates": "my CA, trust me"})
    assert refused.status_code == 400 and "not PEM certificates" in refused.content.decode()
    # The CA pasted into the profile: the same server is trusted.
    saved = client.post(edit, form | {"ca_certificates": ca_pem})
    assert saved.status_code == 302, saved.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.server_profile.ca_certificates.startswith("-----BEGIN CERTIFICATE-----")
    check = mailbox_test_connection(mailbox=mailbox)
    assert check.ok, check.message
    page = client.get(reverse("fieldsync:sync_mailbox", args=[mailbox.pk])).content.decode()
    assert "verified against the profile's CA certificates" in page

    # Verification off (a test server): connects without the CA.
    profile = server_profile_update(
        profile=mailbox.server_profile, ca_certificates="", verify_tls=False
    )
    assert not profile.verify_tls
    mailbox.refresh_from_db()
    assert mailbox_test_connection(mailbox=mailbox).ok


def test_a_profile_form_without_the_tls_choice_keeps_verifying(client, admin):
    from fieldsync.models.mailboxes import EmailServerProfile

    client.force_login(admin)
    response = client.post(
        reverse("fieldsync:sync_profile_new"),
        {
            "name": "Cloud",
            "kind": "caldav",
            "ews_url": "https://cloud.test/remote.php/dav/",
            "auth_type": "basic",
            "timezone": "UTC",
            "max_wait": 30,
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert EmailServerProfile.objects.get(name="Cloud").verify_tls is True


# -- 5. sync_mailbox on a missing collection -----------------------------------------------------
def test_sync_mailbox_stops_in_words_on_a_missing_collection(
    capsys, monkeypatch, xandikos, dav_mailbox
):
    from fieldsync.management.commands.sync_mailbox import Command

    home = xandikos.principal_url
    book = f"{home}contacts/command-test/"
    made = WebDav(book).request("MKCOL", book, body=mkcol_body("CR"))
    assert made.status_code == 201
    missing = f"{home}calendars/missing/"
    mailbox = dav_mailbox(
        xandikos.url,
        contacts_collection=book,
        events_collection=missing,
        tasks_collection=missing,
    )
    _crm_records(mailbox.owner)
    from django.db import connections

    # run_from_argv closes every connection when the command ends; the test's own must stay.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exited:
        Command().run_from_argv(["manage.py", "sync_mailbox", mailbox.email_address])
    assert exited.value.code == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert f"The events collection {missing} does not exist" in err
    assert "The appointment sync stopped" in err
    assert "contact: on the server 1 created, 0 updated, 0 deleted" in err
    assert "CRM -> CalDAV/CardDAV: create 1" in out  # what the contacts did, as usual
    assert len(items(book)) == 1

    # The worker's run history says the same.
    from fieldsync.mailboxes.run import mailbox_sync_run

    outcome = mailbox_sync_run(mailbox_id=mailbox.pk, trigger="manual")
    assert outcome.status == "failed"
    runs = {r.entity: r for r in outcome.runs}
    assert runs["contact"].status == RunStatus.SUCCEEDED
    assert runs["appointment"].error_code == "ErrorFolderNotFound"
    assert f"The events collection {missing} does not exist" in runs["appointment"].error
    mailbox.refresh_from_db()
    assert f"The events collection {missing} does not exist" in mailbox.last_error


def test_a_proposal_that_does_not_exist_yet_is_not_preselected():
    from fieldsync.mailboxes.connection import DiscoveredCollections, FoundCollection
    from fieldsync.mailboxes.forms import MailboxForm

    base = "https://dav.test/u/"
    found = DiscoveredCollections(
        True,
        collections=(FoundCollection(f"{base}work/", "Work", "calendar", ("VEVENT",)),),
        proposed={
            "contacts_collection": f"{base}contacts/",  # the fixed name: nothing there
            "events_collection": f"{base}work/",
            "tasks_collection": f"{base}tasks/",
        },
    )
    form = MailboxForm(discovered=found)
    assert form.initial["contacts_collection"] == ""  # "None chosen: contacts/ under ..."
    assert form.initial["events_collection"] == f"{base}work/"
    events = dict(form.fields["events_collection"].widget.choices)
    assert events[f"{base}work/"] == f"Work (calendar for events) {base}work/"
    assert f"{base}work/" not in dict(form.fields["tasks_collection"].widget.choices)
