"""A mailbox on a CalDAV/CardDAV server (a real Radicale on 127.0.0.1): the profile's kind in
the API and the form, the connector built for it, a sync through it, and the pages naming the
fields such a mailbox cannot hold."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from connectors.dav import DavConnector
from connectors.dav.radicale import RadicaleServer
from crm.models import Contact
from fieldsync.models.mailboxes import EmailServerProfile

pytestmark = pytest.mark.django_db
RIGHTS = ("create", "read", "write", "delete", "sync")


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    with RadicaleServer(tmp_path_factory.mktemp("radicale"), users={"mona": "mona-pw"}) as server:
        yield server


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True)


@pytest.fixture
def dav_mailbox(radicale, make_user):
    from fieldsync.mailboxes.services import mailbox_create, server_profile_create
    from security.services import role_upsert

    owner = make_user("mona", email="mona@dav.test")
    role_upsert(name="Salesperson", levels={("contact", a): "user" for a in RIGHTS}, users=[owner])
    profile = server_profile_create(
        name="Team DAV",
        kind="caldav",
        ews_url=f"{radicale.url}{{user}}/",
        use_impersonation=False,
        max_wait=2,
    )
    return mailbox_create(
        owner=owner,
        email_address="mona@dav.test",
        server_profile=profile,
        username="mona",
        password="mona-pw",
    )


def test_the_api_takes_a_caldav_profile_and_refuses_ntlm_for_it(admin):
    api = APIClient()
    api.force_authenticate(admin)
    body = {"name": "DAV", "kind": "caldav", "ews_url": "https://dav.test/{user}/"}
    created = api.post(
        "/api/v1/server-profiles/", body | {"use_impersonation": False}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["kind"] == "caldav"
    ntlm = api.post(
        "/api/v1/server-profiles/",
        body | {"name": "DAV 2", "auth_type": "ntlm", "use_impersonation": False},
        format="json",
    )
    assert ntlm.status_code == 400
    assert "Basic" in str(ntlm.json())
    assert api.get("/api/v1/server-profiles/").json()["results"][0]["kind"] == "caldav"


def test_the_profile_form_saves_the_kind(client, admin):
    client.force_login(admin)
    response = client.post(
        reverse("fieldsync:sync_profile_new"),
        {
            "name": "Nextcloud",
            "kind": "caldav",
            "ews_url": "https://cloud.test/remote.php/dav/{user}/",
            "auth_type": "basic",
            "timezone": "UTC",
            "max_wait": 30,
        },
    )
    assert response.status_code == 302, response.content.decode()
    assert EmailServerProfile.objects.get(name="Nextcloud").kind == "caldav"


def test_a_caldav_mailbox_syncs_through_the_dav_connector(dav_mailbox, radicale):
    from fieldsync.mailboxes.connection import connector_for, mailbox_test_connection
    from fieldsync.service.sync import sync_mailbox

    connector = connector_for(dav_mailbox)
    assert isinstance(connector, DavConnector)
    connector.ensure_collections()
    assert mailbox_test_connection(mailbox=dav_mailbox).ok
    ann = Contact.objects.create(
        owner=dav_mailbox.owner, last_name="Lee", job_title="Buyer", government_id="123"
    )
    report = sync_mailbox(owner=dav_mailbox.owner, connector=connector, entities=["contact"])
    assert report.entities["contact"].counts["exchange_created"] == 1
    (page,) = connector.list_changes("contacts", None)
    (item,) = page.created
    assert (item.crm_id, item.fields["job_title"]) == (str(ann.pk), "Buyer")
    assert "government_id" not in item.fields
    connector.close()


def test_pages_name_the_fields_a_caldav_mailbox_cannot_hold(client, admin, dav_mailbox):
    client.force_login(admin)
    page = client.get(reverse("fieldsync:sync_mailbox", args=[dav_mailbox.pk])).content.decode()
    assert "CalDAV/CardDAV" in page and "Fields this mailbox cannot hold" in page
    assert "Government" in page and "Regarding" in page
    settings = client.get(reverse("fieldsync:fields", args=["contact"])).content.decode()
    assert "Not synced for mailboxes on a CalDAV/CardDAV server" in settings
    assert "mona@dav.test" in settings and "Government" in settings
    tasks = client.get(reverse("fieldsync:fields", args=["task"])).content.decode()
    assert "Regarding" in tasks.split('id="not-held"')[1]


def test_exchange_mailboxes_show_no_such_list(client, admin, make_mailbox):
    client.force_login(admin)
    mailbox = make_mailbox("sam")
    page = client.get(reverse("fieldsync:sync_mailbox", args=[mailbox.pk])).content.decode()
    assert "Exchange (EWS)" in page and "cannot hold" not in page
    settings = client.get(reverse("fieldsync:fields", args=["contact"])).content.decode()
    assert 'id="not-held"' not in settings


def test_the_demo_offers_one_mailbox_of_each_kind():
    from django.core.management import call_command

    from fieldsync.management.commands.run_demo import demo_processes
    from fieldsync.models.mailboxes import Mailbox

    call_command("seed_demo", "--contacts", "1", verbosity=0)
    call_command("seed_demo", "--contacts", "1", verbosity=0)
    kinds = dict(Mailbox.objects.values_list("owner__username", "server_profile__kind"))
    assert kinds == {"sally": "exchange", "sam": "exchange", "mona": "caldav", "otto": "graph"}
    mona = Mailbox.objects.get(owner__username="mona")
    assert mona.server_profile.ews_url == "http://127.0.0.1:5232/{user}/" and mona.has_password
    names = [name for name, _ in demo_processes(host="127.0.0.1", port=8000)]
    assert "radicale" in names and "ews" in names and "graph" in names


def test_test_connection_says_in_words_what_a_dav_server_refused(dav_mailbox, radicale):
    from fieldsync.mailboxes.connection import mailbox_test_connection
    from fieldsync.mailboxes.services import mailbox_update

    # A sign-in Radicale does not know, then a Server URL where mona has no collections.
    mailbox_update(mailbox=dav_mailbox, username="nobody-here", password="x")
    check = mailbox_test_connection(mailbox=dav_mailbox)
    assert not check.ok
    assert "refused the user name or password" in check.message
    mailbox_update(mailbox=dav_mailbox, username="mona", password="mona-pw")
    dav_mailbox.server_profile.ews_url = f"{radicale.url}{{user}}/elsewhere/"
    dav_mailbox.server_profile.save()
    check = mailbox_test_connection(mailbox=dav_mailbox)
    assert not check.ok and check.code == "ErrorFolderNotFound"
    # Each collection the mailbox uses, named, in words.
    for label, name in (("contacts", "contacts"), ("events", "calendar"), ("tasks", "tasks")):
        url = f"{radicale.url}mona/elsewhere/{name}/"
        assert f"The {label} collection {url} does not exist" in check.message
