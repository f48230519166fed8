"""Conflicts and rejected changes: who sees them, and "apply the losing value" (page and API)
writing the value that lost into the CRM with the caller's rights, then syncing the mailbox."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from crm.models import Contact
from fieldsync.models.sync import RejectedChange, SyncConflict
from security.services import role_upsert

SELLER = {("contact", a): "user" for a in ("create", "read", "write", "delete", "sync")}


@pytest.fixture
def sally(make_mailbox):
    mailbox = make_mailbox("sally")
    role_upsert(name="Seller", levels=SELLER, users=[mailbox.owner])
    return mailbox


@pytest.fixture
def queued(monkeypatch):
    from fieldsync.mailboxes.tasks import sync_mailbox_task

    sent = []
    monkeypatch.setattr(sync_mailbox_task, "delay", lambda *a, **kw: sent.append(a))
    return sent


def _conflict(owner, contact, *, outcome="crm", n=1):
    return SyncConflict.objects.create(
        owner=owner,
        entity="contact",
        crm_id=contact.pk,
        item_id="AAMk-item",
        field="job_title",
        base_value="Buyer",
        crm_value="Head buyer",
        exchange_value="Chief buyer",
        outcome=outcome,
        reason="crm_wins",
        digest=f"d{n}-{contact.pk}",
    )


def test_applying_the_losing_exchange_value_writes_it_to_the_crm_and_syncs(
    client, sally, queued, django_capture_on_commit_callbacks
):
    contact = Contact.objects.create(owner=sally.owner, last_name="Lee", job_title="Head buyer")
    conflict = _conflict(sally.owner, contact)
    client.force_login(sally.owner)
    page = client.get(reverse("fieldsync:sync_conflicts")).content.decode()
    assert "Chief buyer" in page and "Apply the losing value" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("fieldsync:sync_conflict_apply", args=[conflict.pk]), follow=True
        )
    assert "Applied the losing value of contact.job_title" in response.content.decode()
    contact.refresh_from_db()
    assert contact.job_title == "Chief buyer"
    conflict.refresh_from_db()
    assert conflict.resolved_by == sally.owner and conflict.resolved_on is not None
    assert queued == [(sally.pk,)]  # the mailbox syncs it to Exchange next
    # Applied once: the open list is empty and a second apply is refused.
    assert "No open conflicts" in client.get(reverse("fieldsync:sync_conflicts")).content.decode()
    again = APIClient()
    again.force_authenticate(sally.owner)
    refused = again.post(f"/api/v1/conflicts/{conflict.pk}/apply-losing-value/")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "already_resolved"


def test_api_applies_the_losing_crm_value_when_exchange_won(sally, queued):
    contact = Contact.objects.create(owner=sally.owner, last_name="Lee", job_title="Chief buyer")
    conflict = _conflict(sally.owner, contact, outcome="exchange")
    api = APIClient()
    api.force_authenticate(sally.owner)
    listed = api.get("/api/v1/conflicts/", {"resolved": "false"}).json()["results"]
    assert [(c["id"], c["losing_side"]) for c in listed] == [(conflict.pk, "crm")]
    done = api.post(f"/api/v1/conflicts/{conflict.pk}/apply-losing-value/")
    assert done.status_code == 200 and done.json()["resolved_by"] == "sally"
    contact.refresh_from_db()
    assert contact.job_title == "Head buyer"


def test_others_conflicts_are_invisible_and_rights_still_apply(sally, make_user, queued):
    contact = Contact.objects.create(owner=sally.owner, last_name="Lee", job_title="Head buyer")
    conflict = _conflict(sally.owner, contact)
    sam = make_user("sam")
    api = APIClient()
    api.force_authenticate(sam)
    assert api.get("/api/v1/conflicts/").json()["results"] == []
    assert api.post(f"/api/v1/conflicts/{conflict.pk}/apply-losing-value/").status_code == 404
    # An administrator sees it; a reader without write rights on the record may not apply it.
    reader = make_user("rita")
    role_upsert(name="Reader", levels={("contact", "read"): "organization"}, users=[reader])
    from fieldsync.mailboxes.conflicts import conflict_apply_losing_value

    with pytest.raises(Exception, match="may read this contact but not change it"):
        conflict_apply_losing_value(conflict=conflict, actor=reader)
    contact.refresh_from_db()
    assert contact.job_title == "Head buyer"


def test_rejected_changes_are_listed_for_their_owner(client, sally, make_user):
    RejectedChange.objects.create(
        owner=sally.owner,
        entity="contact",
        item_id="AAMk-x",
        field="government_id",
        offered_value="123-45",
        reason="no_update_permission",
        digest="r1",
    )
    client.force_login(sally.owner)
    page = client.get(reverse("fieldsync:sync_rejected")).content.decode()
    assert "government_id" in page and "no_update_permission" in page
    api = APIClient()
    api.force_authenticate(make_user("sam"))
    assert api.get("/api/v1/rejected-changes/").json()["results"] == []
    api.force_authenticate(sally.owner)
    (row,) = api.get("/api/v1/rejected-changes/").json()["results"]
    assert row["offered_value"] == "123-45"


def test_applying_a_losing_value_over_a_newer_edit_shows_it_asks_again_and_keeps_it(
    client, sally, queued
):
    """CRM Title won over Outlook Title; the job title became Buyer since, and synced."""
    contact = Contact.objects.create(owner=sally.owner, last_name="Lee", job_title="CRM Title")
    conflict = SyncConflict.objects.create(
        owner=sally.owner,
        entity="contact",
        crm_id=contact.pk,
        item_id="AAMk-item",
        field="job_title",
        base_value="Purchaser",
        crm_value="CRM Title",
        exchange_value="Outlook Title",
        outcome="crm",
        reason="crm_wins",
        digest=f"buyer-{contact.pk}",
    )
    contact.job_title = "Buyer"
    contact.save()
    api = APIClient()
    api.force_authenticate(sally.owner)
    url = f"/api/v1/conflicts/{conflict.pk}/apply-losing-value/"
    refused = api.post(url)  # without saying which value it replaces: asked again
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "changed_since_conflict"
    assert "'Buyer'" in refused.json()["error"]["message"]
    stale = api.post(url, {"current": "CRM Title"}, format="json")  # not the value now
    assert stale.status_code == 409
    contact.refresh_from_db()
    assert contact.job_title == "Buyer"

    # The page shows the value now; applying from it replaces Buyer, which is kept.
    client.force_login(sally.owner)
    page = client.get(reverse("fieldsync:sync_conflicts")).content.decode()
    assert "Buyer" in page and "changed since the conflict" in page
    done = client.post(
        reverse("fieldsync:sync_conflict_apply", args=[conflict.pk]),
        {"current": '"Buyer"'},
        follow=True,
    )
    assert "Applied the losing value" in done.content.decode()
    contact.refresh_from_db()
    assert contact.job_title == "Outlook Title"
    kept = SyncConflict.objects.get(resolved_on__isnull=True)
    assert (kept.field, kept.crm_value, kept.exchange_value) == (
        "job_title",
        "Buyer",
        "Outlook Title",
    )
    assert "applied a losing value" in kept.reason


def test_a_page_shown_before_a_newer_edit_does_not_overwrite_it(client, sally, queued):
    contact = Contact.objects.create(owner=sally.owner, last_name="Lee", job_title="Head buyer")
    conflict = _conflict(sally.owner, contact)
    client.force_login(sally.owner)
    page = client.get(reverse("fieldsync:sync_conflicts")).content.decode()
    assert 'name="current" value="&quot;Head buyer&quot;"' in page
    contact.job_title = "Buyer"  # edited after the page was shown
    contact.save()
    answer = client.post(
        reverse("fieldsync:sync_conflict_apply", args=[conflict.pk]),
        {"current": '"Head buyer"'},
        follow=True,
    )
    assert "changed in the CRM since you looked: it is now &#x27;Buyer&#x27;" in (
        answer.content.decode()
    )
    contact.refresh_from_db()
    assert contact.job_title == "Buyer"
