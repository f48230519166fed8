"""An administrator confirms, on the mailbox page or through the API, a run the mass-change
guard stopped; the next run goes ahead. Nobody else can, and there must be something to confirm."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from fieldsync.models.sync import MailboxSyncState


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True)


@pytest.fixture
def stopped(make_mailbox):
    mailbox = make_mailbox("sally")
    MailboxSyncState.objects.create(
        owner=mailbox.owner,
        entity="contact",
        guard_reason="The run would delete 80 of 100 items (80 %), more than the 50 % allowed.",
        guard_tripped_on=timezone.now(),
    )
    return mailbox


@pytest.fixture
def queued(monkeypatch):
    from fieldsync.mailboxes.tasks import sync_mailbox_task

    sent = []
    monkeypatch.setattr(sync_mailbox_task, "delay", lambda *a, **kw: sent.append(a))
    return sent


def _state(mailbox):
    return MailboxSyncState.objects.get(owner=mailbox.owner, entity="contact")


def test_the_page_shows_the_stop_and_an_admin_confirms_it(
    client, admin, stopped, queued, django_capture_on_commit_callbacks
):
    client.force_login(admin)
    page = client.get(f"/sync/mailboxes/{stopped.pk}/").content.decode()
    assert "stopped by the mass-change guard" in page and "80 of 100 items" in page
    assert "Confirm and sync" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/sync/mailboxes/{stopped.pk}/confirm-mass-change/", {"entity": "contact"}, follow=True
        )
    assert "goes ahead now" in response.content.decode()
    assert _state(stopped).guard_confirmed is True
    assert queued == [(stopped.pk,)]


def test_the_owner_sees_the_stop_but_cannot_confirm(client, stopped, queued):
    client.force_login(stopped.owner)
    page = client.get(f"/sync/mailboxes/{stopped.pk}/").content.decode()
    assert "An administrator must confirm it." in page and "Confirm and sync" not in page
    response = client.post(
        f"/sync/mailboxes/{stopped.pk}/confirm-mass-change/", {"entity": "contact"}
    )
    assert response.status_code == 403
    assert _state(stopped).guard_confirmed is False and queued == []


def test_api_confirms_and_refuses_what_was_not_stopped(
    admin, stopped, queued, django_capture_on_commit_callbacks
):
    api = APIClient()
    api.force_authenticate(admin)
    url = f"/api/v1/mailboxes/{stopped.pk}/confirm-mass-change/"
    refused = api.post(url, {"entity": "task"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "nothing_to_confirm"
    assert "has not stopped" in refused.json()["error"]["message"]
    with django_capture_on_commit_callbacks(execute=True):
        accepted = api.post(url, {"entity": "contact"}, format="json")
    assert accepted.status_code == 202 and accepted.json()["status"] == "queued"
    assert _state(stopped).guard_confirmed is True and queued == [(stopped.pk,)]
    owner = APIClient()
    owner.force_authenticate(stopped.owner)
    assert owner.post(url, {"entity": "contact"}, format="json").status_code == 403
