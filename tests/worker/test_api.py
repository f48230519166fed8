"""The server-side sync API: /api/v1/mailboxes/ (+ sync/, test-connection/), server-profiles/
and sync-runs/, with the site's security (own mailbox vs all, 404 for others', write-only
passwords) and its error shape."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from fieldsync.models.mailboxes import Mailbox, SyncRun


@pytest.fixture
def api():
    def as_user(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return as_user


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True)


@pytest.fixture
def two(make_mailbox):
    return make_mailbox("sally"), make_mailbox("sam")


def test_users_list_their_own_mailbox_admins_all(api, admin, two):
    sally, sam = two
    mine = api(sally.owner).get("/api/v1/mailboxes/").json()
    assert [m["email_address"] for m in mine["results"]] == ["sally@worker.test"]
    everyone = api(admin).get("/api/v1/mailboxes/").json()
    assert {m["email_address"] for m in everyone["results"]} == {
        "sally@worker.test",
        "sam@worker.test",
    }
    response = api(sally.owner).get(f"/api/v1/mailboxes/{sam.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_sync_endpoint_queues_the_mailbox_after_commit(
    api, two, monkeypatch, django_capture_on_commit_callbacks
):
    from fieldsync.mailboxes.tasks import sync_mailbox_task

    sent = []
    monkeypatch.setattr(sync_mailbox_task, "delay", lambda *a, **kw: sent.append((a, kw)))
    sally, sam = two
    client = api(sally.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/mailboxes/{sally.pk}/sync/")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert response.json()["runs_url"].endswith(f"/api/v1/sync-runs/?mailbox={sally.pk}")
    assert sent == [((sally.pk,), {"trigger": "manual"})]
    assert client.post(f"/api/v1/mailboxes/{sam.pk}/sync/").status_code == 404
    assert len(sent) == 1


def test_passwords_are_write_only_and_only_admins_create(api, admin, profile, make_user):
    owner = make_user("pat")
    body = {
        "owner": "pat",
        "email_address": "Pat@Worker.test",
        "server_profile": profile.pk,
        "password": "do-not-echo",
        "sync_tasks": False,
    }
    refused = api(owner).post("/api/v1/mailboxes/", body, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"].startswith("Only an administrator")
    created = api(admin).post("/api/v1/mailboxes/", body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["email_address"] == "pat@worker.test" and data["has_password"] is True
    assert "do-not-echo" not in created.content.decode()
    assert "password" not in data
    changed = api(admin).patch(
        f"/api/v1/mailboxes/{data['id']}/", {"sync_tasks": True}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["sync_tasks"] is True
    assert Mailbox.objects.get(pk=data["id"]).has_password  # omitted: kept


def test_a_second_mailbox_for_a_user_is_refused_in_the_error_shape(api, admin, two, profile):
    response = api(admin).post(
        "/api/v1/mailboxes/",
        {"owner": "sally", "email_address": "other@worker.test", "server_profile": profile.pk},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "already has a mailbox" in str(response.json()["error"])


def test_server_profiles_are_for_admins_and_never_show_the_password(api, admin, two, profile):
    sally, _ = two
    assert api(sally.owner).get("/api/v1/server-profiles/").status_code == 403
    listing = api(admin).get("/api/v1/server-profiles/")
    assert listing.status_code == 200
    (row,) = listing.json()["results"]
    assert row["has_service_password"] is True
    assert "svc-secret" not in listing.content.decode()


def test_test_connection_answers_in_words(api, make_mailbox):
    mailbox = make_mailbox("ghost2", on_server=False)
    response = api(mailbox.owner).post(f"/api/v1/mailboxes/{mailbox.pk}/test-connection/")
    assert response.status_code == 200
    assert response.json() == {
        "ok": False,
        "code": "ErrorNonExistentMailbox",
        "message": "Exchange has no mailbox ghost2@worker.test: check the e-mail address.",
    }


def test_sync_runs_are_filtered_to_what_the_user_may_see(api, admin, two):
    sally, sam = two
    now = timezone.now()
    for mailbox, status in ((sally, "succeeded"), (sam, "failed")):
        SyncRun.objects.create(
            mailbox=mailbox,
            entity="contact",
            trigger="schedule",
            status=status,
            started_at=now,
            finished_at=now,
            created_in_exchange=5,
        )
    mine = api(sally.owner).get("/api/v1/sync-runs/").json()["results"]
    assert [(r["email_address"], r["created_in_exchange"]) for r in mine] == [
        ("sally@worker.test", 5)
    ]
    failed = api(admin).get("/api/v1/sync-runs/", {"status": "failed"}).json()["results"]
    assert [r["email_address"] for r in failed] == ["sam@worker.test"]
    run = SyncRun.objects.get(mailbox=sam)
    assert api(sally.owner).get(f"/api/v1/sync-runs/{run.pk}/").status_code == 404
