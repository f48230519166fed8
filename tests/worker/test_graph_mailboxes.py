"""A mailbox on Exchange Online through Microsoft Graph (the Graph test server on 127.0.0.1): the
profile kind in the API and the form with its secrets write-only, the connector built for it,
Test connection in words, a run through the real engine, back-off on a wrong secret, a
throttled mailbox that does not hold up the others, an unreadable answer recorded for its item,
and the pages naming what To Do cannot hold."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from connectors.graph import GraphConnector
from crm.models import Contact, Task
from fieldsync.mailboxes.run import RetryLater, mailbox_sync_run
from fieldsync.models.mailboxes import EmailServerProfile, Mailbox, MailboxStatus, SyncRun
from tests.connectors.graph_fixtures import CLIENT_ID, SECRET, TENANT

pytestmark = pytest.mark.django_db
RIGHTS = ("create", "read", "write", "delete", "sync")
ENTITIES = ("contact", "appointment", "recurring_appointment", "task")
THUMBPRINT = "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True)


@pytest.fixture
def graph_profile(graph):
    from fieldsync.mailboxes.services import server_profile_create

    return server_profile_create(
        name="Contoso Online",
        kind="graph",
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        graph_url=graph.graph_url,
        token_url=graph.url,
        timezone_name="Europe/Berlin",
        max_wait=2,
    )


@pytest.fixture
def make_graph_mailbox(graph, graph_profile, graph_mailbox, make_user):
    from fieldsync.mailboxes.services import mailbox_create
    from security.services import role_upsert

    def make(name: str) -> Mailbox:
        address = graph_mailbox()
        owner = make_user(name, email=address)
        role_upsert(
            name=f"Salesperson {name}",
            levels={(e, a): "user" for e in ENTITIES for a in RIGHTS},
            users=[owner],
        )
        return mailbox_create(owner=owner, email_address=address, server_profile=graph_profile)

    return make


def _api(admin) -> APIClient:
    api = APIClient()
    api.force_authenticate(admin)
    return api


GRAPH_BODY = {
    "name": "Online",
    "kind": "graph",
    "tenant_id": "contoso.onmicrosoft.com",
    "client_id": "5f1c3a0e-2d4b-4f7a-9c11-8e2b6a7d0c01",
}


def test_the_api_takes_a_graph_profile_and_never_returns_its_secret(admin):
    api = _api(admin)
    created = api.post(
        "/api/v1/server-profiles/",
        GRAPH_BODY | {"client_secret": "s3cret-value", "future_days": 400},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["kind"] == "graph" and body["has_client_secret"] is True
    assert body["has_certificate"] is False and body["future_days"] == 400
    listed = api.get("/api/v1/server-profiles/")
    assert "s3cret-value" not in created.content.decode() + listed.content.decode()
    profile = EmailServerProfile.objects.get(name="Online")
    assert "s3cret-value" not in profile.client_secret_encrypted  # encrypted at rest
    changed = api.patch(f"/api/v1/server-profiles/{profile.pk}/", {"past_days": 30}, format="json")
    assert changed.status_code == 200 and changed.json()["has_client_secret"] is True


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"client_secret": ""}, "client secret, or its certificate"),
        ({"tenant_id": "", "client_secret": "x"}, "directory (tenant) ID"),
        (
            {"certificate_key": "not a key", "certificate_thumbprint": THUMBPRINT},
            "unencrypted PEM key",
        ),
        ({"client_secret": "x", "certificate_thumbprint": "12:34"}, "40 hexadecimal digits"),
        ({"client_secret": "x", "graph_url": "not a url"}, "valid URL"),
    ],
)
def test_bad_graph_profiles_are_refused_in_words(admin, change, words):
    answer = _api(admin).post("/api/v1/server-profiles/", GRAPH_BODY | change, format="json")
    assert answer.status_code == 400
    assert words in str(answer.json())
    assert not EmailServerProfile.objects.exists()


def test_a_certificate_profile_keeps_the_key_encrypted_and_unshown(admin, client):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    answer = _api(admin).post(
        "/api/v1/server-profiles/",
        GRAPH_BODY | {"certificate_key": key, "certificate_thumbprint": THUMBPRINT.lower()},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["has_certificate"] is True and "PRIVATE KEY" not in answer.content.decode()
    profile = EmailServerProfile.objects.get()
    client.force_login(admin)
    page = client.get(reverse("fieldsync:sync_profile_edit", args=[profile.pk])).content.decode()
    assert "A certificate key is stored (encrypted)" in page
    assert "PRIVATE KEY" not in page


def test_the_profile_form_saves_a_graph_profile_and_never_shows_the_secret(client, admin):
    client.force_login(admin)
    form = {
        "name": "Online",
        "kind": "graph",
        "auth_type": "basic",
        "timezone": "UTC",
        "max_wait": 30,
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "client_secret": "form-secret",
        "past_days": 365,
        "future_days": 730,
    }
    refused = client.post(reverse("fieldsync:sync_profile_new"), form | {"client_id": ""})
    assert refused.status_code == 400
    page = refused.content.decode()
    assert "Enter the application (client) ID" in page and "form-secret" not in page
    saved = client.post(reverse("fieldsync:sync_profile_new"), form)
    assert saved.status_code == 302, saved.content.decode()
    profile = EmailServerProfile.objects.get(name="Online")
    assert profile.kind == "graph" and profile.has_client_secret
    edit = client.get(reverse("fieldsync:sync_profile_edit", args=[profile.pk])).content.decode()
    assert "A client secret is stored (encrypted)" in edit and "form-secret" not in edit
    listing = client.get(reverse("fieldsync:sync_profiles")).content.decode()
    assert "Exchange Online (Microsoft Graph)" in listing and "form-secret" not in listing


def test_a_graph_mailbox_passes_test_connection_and_syncs_through_graph(make_graph_mailbox, graph):
    from fieldsync.mailboxes.connection import connector_for, mailbox_test_connection

    mailbox = make_graph_mailbox("gina")
    connector = connector_for(mailbox)
    assert isinstance(connector, GraphConnector) and connector.mailbox == mailbox.email_address
    connector.close()
    check = mailbox_test_connection(mailbox=mailbox)
    assert check.ok, check.message
    assert "contacts folder, calendar, default To Do list" in check.message
    ann = Contact.objects.create(owner=mailbox.owner, last_name="Lee", job_title="Buyer")
    Task.objects.create(owner=mailbox.owner, subject="Call back", percent_complete=50)
    outcome = mailbox_sync_run(mailbox_id=mailbox.pk)
    assert outcome.status == "succeeded", outcome.message
    (contact,) = graph.store.mailbox(mailbox.email_address).collections["contacts"].records.values()
    assert contact.data["jobTitle"] == "Buyer"
    assert str(ann.pk) in contact.ext.values()
    (task,) = graph.store.mailbox(mailbox.email_address).collections["tasks"].records.values()
    assert task.data["title"] == "Call back"


def test_a_wrong_secret_fails_test_connection_in_words_and_the_mailbox_backs_off(
    make_graph_mailbox, graph_profile
):
    from fieldsync.mailboxes.connection import mailbox_test_connection
    from fieldsync.mailboxes.services import server_profile_update

    mailbox = make_graph_mailbox("wes")
    server_profile_update(profile=graph_profile, client_secret="not-the-secret")
    mailbox.refresh_from_db()
    check = mailbox_test_connection(mailbox=mailbox)
    assert not check.ok and "Wrong client secret" in check.message
    assert mailbox_sync_run(mailbox_id=mailbox.pk).status == "failed"  # retrying cannot help
    mailbox.refresh_from_db()
    assert mailbox.status == MailboxStatus.FAILING and mailbox.next_attempt_at is not None
    assert "Wrong client secret" in mailbox.last_error
    server_profile_update(profile=graph_profile, tenant_id="nowhere.onmicrosoft.com")
    mailbox.refresh_from_db()
    check = mailbox_test_connection(mailbox=mailbox)
    assert not check.ok and "Unknown tenant" in check.message


def test_a_throttled_mailbox_is_retried_later_without_holding_up_the_others(
    make_graph_mailbox, graph
):
    busy, calm = make_graph_mailbox("bea"), make_graph_mailbox("cal")
    for mailbox in (busy, calm):
        Contact.objects.create(owner=mailbox.owner, last_name=f"Of {mailbox.owner}")
    # Graph throttles bea's mailbox for longer than the profile waits (2 s).
    graph.faults.throttle(retry_after=30, count=None, match=busy.email_address)
    with pytest.raises(RetryLater) as retry:
        mailbox_sync_run(mailbox_id=busy.pk)
    assert retry.value.countdown >= 30
    assert mailbox_sync_run(mailbox_id=calm.pk).status == "succeeded"
    busy.refresh_from_db()
    assert busy.status == MailboxStatus.RETRYING and "throttling" in busy.last_error


def test_an_answer_graph_should_not_give_is_an_error_of_that_item_not_of_the_run(
    make_graph_mailbox, graph
):
    mailbox = make_graph_mailbox("gus")
    one = Contact.objects.create(owner=mailbox.owner, last_name="One")
    two = Contact.objects.create(owner=mailbox.owner, last_name="Two")
    assert mailbox_sync_run(mailbox_id=mailbox.pk).status == "succeeded"
    records = graph.store.mailbox(mailbox.email_address).collections["contacts"].records
    by_crm = {r.ext and next(iter(r.ext.values())): r.id for r in records.values()}
    # The update of Two is answered with something that is not Graph JSON (a gateway's page).
    graph.faults.garbage(
        match=f"PATCH /users/{mailbox.email_address}/contacts/{by_crm[str(two.pk)]}"
    )
    one.job_title = two.job_title = "Changed"
    one.save()
    two.save()
    outcome = mailbox_sync_run(mailbox_id=mailbox.pk)
    assert outcome.status == "succeeded", outcome.message
    run = SyncRun.objects.filter(mailbox=mailbox, entity="contact").first()
    assert run.error_code == "ItemsFailed" and str(two.pk) in run.error
    assert records[by_crm[str(one.pk)]].data["jobTitle"] == "Changed"


def test_pages_name_what_to_do_cannot_hold_for_a_graph_mailbox(client, admin, make_graph_mailbox):
    mailbox = make_graph_mailbox("tia")
    client.force_login(admin)
    page = client.get(reverse("fieldsync:sync_mailbox", args=[mailbox.pk])).content.decode()
    assert "Fields this mailbox cannot hold" in page and "Microsoft To Do" in page
    assert "% complete" in page.lower() or "percent" in page.lower()
    tasks = client.get(reverse("fieldsync:fields", args=["task"])).content.decode()
    section = tasks.split('id="not-held-graph"')[1]
    assert "Not synced for mailboxes on Exchange Online (Microsoft Graph)" in section
    assert mailbox.email_address in section and "Regarding" in section
    contacts = client.get(reverse("fieldsync:fields", args=["contact"])).content.decode()
    assert "not-held-graph" not in contacts  # To Do limits tasks only


def test_a_mailbox_moved_from_an_ews_profile_to_graph_finds_its_items_again(
    make_mailbox, graph_profile, graph
):
    """The two test servers are separate stores: the Graph mailbox is seeded with the items as
    the EWS connector left them (the CRM id in the named property PS_PUBLIC_STRINGS
    SyncAdminCrmId, the property set GUID as Exchange stores it)."""
    import httpx

    from fieldsync.mailboxes.connection import connector_for
    from fieldsync.mailboxes.services import mailbox_update
    from fieldsync.models.sync import SyncLink
    from security.services import role_upsert

    mailbox = make_mailbox("moe", sync_appointments=False, sync_tasks=False)
    role_upsert(
        name="Seller moe", levels={("contact", a): "user" for a in RIGHTS}, users=[mailbox.owner]
    )
    people = [Contact.objects.create(owner=mailbox.owner, last_name=f"Lee {i}") for i in range(3)]
    assert mailbox_sync_run(mailbox_id=mailbox.pk).status == "succeeded"
    ews = connector_for(mailbox)
    (page,) = ews.list_changes("contacts", None)
    ews.close()
    on_ews = page.created + page.updated
    assert sorted(i.crm_id for i in on_ews) == sorted(str(p.pk) for p in people)
    # The same mailbox as Graph sees it after the move.
    graph.add_mailbox(mailbox.email_address)
    online = connector_for(
        Mailbox(email_address=mailbox.email_address, server_profile=graph_profile)
    )
    token = online.client.token()
    online.close()
    for it in on_ews:
        httpx.post(
            f"{graph.graph_url}/users/{mailbox.email_address}/contacts",
            json={
                "surname": it.fields["last_name"],
                "categories": list(it.categories),  # tracked, as EWS left them
                "singleValueExtendedProperties": [
                    {
                        "id": "String {00020329-0000-0000-c000-000000000046} Name SyncAdminCrmId",
                        "value": it.crm_id,
                    }
                ],
            },
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()
    mailbox_update(mailbox=mailbox, server_profile=graph_profile)
    outcome = mailbox_sync_run(mailbox_id=mailbox.pk)
    assert outcome.status == "succeeded", outcome.message
    records = graph.store.mailbox(mailbox.email_address).collections["contacts"].records
    assert len(records) == 3  # found again, none created twice
    assert Contact.objects.filter(owner=mailbox.owner).count() == 3  # none lost in the CRM
    links = dict(SyncLink.objects.filter(owner=mailbox.owner).values_list("crm_id", "item_id"))
    assert {str(k) for k in links} == {str(p.pk) for p in people}
    assert set(links.values()) == set(records)  # linked to the Graph items now
    people[0].job_title = "Buyer"
    people[0].save()
    assert mailbox_sync_run(mailbox_id=mailbox.pk).status == "succeeded"
    assert records[links[people[0].pk]].data["jobTitle"] == "Buyer"
    assert len(records) == 3


def test_an_ews_profile_with_oauth2_syncs_through_exchangelib_with_the_apps_token(
    ews, graph, make_user
):
    """EWS with OAuth 2.0 (hybrid or on-premises modern auth): the token comes from the same
    token endpoint the Graph profile uses, and the EWS test server accepts it."""
    from fieldsync.mailboxes.connection import mailbox_test_connection
    from fieldsync.mailboxes.services import (
        mailbox_create,
        server_profile_create,
        server_profile_update,
    )
    from security.services import role_upsert

    ews.bearer = graph.directory.signer
    try:
        profile = server_profile_create(
            name="Hybrid",
            ews_url=ews.url,
            auth_type="oauth2",
            tenant_id=TENANT,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            token_url=graph.url,
            max_wait=2,
        )
        assert profile.is_app_only and not profile.use_impersonation
        owner = make_user("hal")
        role_upsert(
            name="Seller hal", levels={("contact", a): "user" for a in RIGHTS}, users=[owner]
        )
        ews.store.add_mailbox("hal@hybrid.test", "unused")
        mailbox = mailbox_create(
            owner=owner,
            email_address="hal@hybrid.test",
            server_profile=profile,
            sync_appointments=False,
            sync_tasks=False,
        )
        assert mailbox_test_connection(mailbox=mailbox).ok
        Contact.objects.create(owner=owner, last_name="Lee")
        outcome = mailbox_sync_run(mailbox_id=mailbox.pk)
        assert outcome.status == "succeeded", outcome.message
        assert ews.counts.get("CreateItem") == 1
        server_profile_update(profile=profile, client_secret="wrong")
        mailbox.refresh_from_db()
        check = mailbox_test_connection(mailbox=mailbox)
        assert not check.ok and "Invalid client secret" in check.message
        assert f"The app {CLIENT_ID} (OAuth 2.0) could not open hal@hybrid.test" in check.message
    finally:
        ews.bearer = None


def test_oauth2_is_refused_for_a_caldav_profile_and_needs_the_app_for_ews(admin):
    api = _api(admin)
    dav = api.post(
        "/api/v1/server-profiles/",
        {"name": "D", "kind": "caldav", "ews_url": "https://d.test/{user}/", "auth_type": "oauth2"}
        | {"use_impersonation": False},
        format="json",
    )
    assert dav.status_code == 400 and "Basic" in str(dav.json())
    ews = api.post(
        "/api/v1/server-profiles/",
        {"name": "E", "ews_url": "https://mail.contoso.com/EWS/Exchange.asmx"}
        | {"auth_type": "oauth2", "tenant_id": TENANT},
        format="json",
    )
    assert ews.status_code == 400 and "application (client) ID" in str(ews.json())
