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
    assert "Applied the losing value of Job Title" in response.content.decode()
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
    # Words, not identifiers: the field's label and the reason in a sentence.
    assert "Government" in page and "may not change this record in the CRM" in page
    assert "government_id" not in page and "no_update_permission" not in page
    api = APIClient()
    api.force_authenticate(make_user("sam"))
    assert api.get("/api/v1/rejected-changes/").json()["results"] == []
    api.force_authenticate(sally.owner)
    (row,) = api.get("/api/v1/rejected-changes/").json()["results"]
    assert row["offered_value"] == "123-45"


def test_a_conflict_reads_in_words_and_applies_only_after_a_confirmation(
    client, sally, make_mailbox, queued, django_capture_on_commit_callbacks
):
    sam = make_mailbox("sam")
    role_upsert(name="Seller", levels=SELLER, users=[sally.owner, sam.owner])
    lee = Contact.objects.create(owner=sally.owner, first_name="Ada", last_name="Lee")
    lee.job_title = "Buyer now"
    lee.save()
    kim = Contact.objects.create(owner=sam.owner, first_name="Bo", last_name="Kim")
    mine, theirs = _conflict(sally.owner, lee), _conflict(sam.owner, kim, n=2)
    from security.models import User

    admin = User.objects.create_user("ada", is_superuser=True, is_staff=True)
    client.force_login(admin)
    url = reverse("fieldsync:sync_conflicts")
    page = client.get(url).content.decode()
    # The record's name linked to it, the field's label, the current value, the policy in
    # words, the mailbox.
    assert f'href="/admin/crm/contact/{lee.pk}/change/">Ada Lee</a>' in page
    assert "Job Title" in page and "job_title" not in page.split('id="conflicts"')[1]
    assert "Buyer now" in page  # now in the CRM, beside kept and lost
    assert "The sync policy lets the CRM win conflicts." in page and "crm_wins" not in page
    assert "sally@worker.test" in page and "sam@worker.test" in page

    # Filters: mailbox, record type, field, dates.
    narrowed = client.get(url, {"mailbox": sam.pk, "field": "job"}).content.decode()
    assert "Bo Kim" in narrowed and "Ada Lee" not in narrowed
    assert "Ada Lee" not in client.get(url, {"entity": "task"}).content.decode()
    assert "Ada Lee" not in client.get(url, {"field": "email"}).content.decode()
    assert "Ada Lee" not in client.get(url, {"date_to": "2000-01-01"}).content.decode()
    bad = client.get(url, {"date_from": "2030-01-02", "date_to": "2030-01-01"}).content.decode()
    assert "The From date is after the To date." in bad

    # One row: a confirmation page first (GET), nothing written until its button (POST).
    confirm = client.get(reverse("fieldsync:sync_conflict_apply", args=[mine.pk]))
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert "Apply 1 losing value?" in text and "Chief buyer" in text and "Buyer now" in text
    mine.refresh_from_db()
    assert mine.resolved_on is None

    # Several at once: ticked rows -> confirmation -> applied.
    apply_url = reverse("fieldsync:sync_conflicts_apply")
    response = client.post(apply_url, {"ids": [mine.pk, theirs.pk]})
    assert "Apply 2 losing values?" in response.content.decode()
    assert not SyncConflict.objects.filter(resolved_on__isnull=False).exists()
    # The confirmation sends back the values it showed (a value changed since is refused).
    import html
    import re

    form = dict(re.findall(r'name="(current-\d+)" value="([^"]*)"', response.content.decode()))
    assert len(form) == 2
    form = {k: html.unescape(v) for k, v in form.items()}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            apply_url, {"ids": [mine.pk, theirs.pk], "confirm": "yes", **form}, follow=True
        )
    assert "Applied 2 losing values" in response.content.decode()
    assert set(Contact.objects.values_list("job_title", flat=True)) == {"Chief buyer"}
    assert sorted(queued) == sorted([(sally.pk,), (sam.pk,)])
    nothing = client.post(apply_url, {}, follow=True).content.decode()
    assert "tick the conflicts to apply first" in nothing


def test_the_confirmation_comes_back_only_to_this_site(client, sally):
    lee = Contact.objects.create(owner=sally.owner, last_name="Lee")
    conflict = _conflict(sally.owner, lee)
    client.force_login(sally.owner)
    url = reverse("fieldsync:sync_conflict_apply", args=[conflict.pk])
    page = client.get(url, {"next": "javascript:alert(1)"}).content.decode()
    assert "javascript:" not in page
    page = client.get(url, {"next": "//evil.test/x"}).content.decode()
    assert "evil.test" not in page
    page = client.get(url, {"next": "/sync/conflicts/?field=job"}).content.decode()
    assert 'href="/sync/conflicts/?field=job"' in page


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
    # The confirmation page carries the value it shows, and sends it back with the click.
    url = reverse("fieldsync:sync_conflict_apply", args=[conflict.pk])
    page = client.get(url).content.decode()
    assert f'name="current-{conflict.pk}" value="&quot;Head buyer&quot;"' in page
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


def test_a_value_replaced_by_an_apply_is_kept_sealed_when_the_owner_may_not_read_the_field(
    sally, make_user, queued
):
    """Sally's conflict on the Government ID was recorded while she could read it; she may not
    any longer. An administrator applies the losing value over a newer edit: the conflict that
    keeps the replaced value holds only digests, as the sync's own would."""
    from security.models import SecuredField

    admin = make_user("root", is_superuser=True, is_staff=True)
    contact = Contact.objects.create(owner=sally.owner, last_name="Lee", government_id="GOV-NEW")
    conflict = SyncConflict.objects.create(
        owner=sally.owner,
        entity="contact",
        crm_id=contact.pk,
        item_id="AAMk-item",
        field="government_id",
        base_value="GOV-BASE",
        crm_value="GOV-CRM",
        exchange_value="GOV-OUT",
        outcome="crm",
        reason="crm_wins",
        digest=f"gov-{contact.pk}",
    )
    SecuredField.objects.create(entity="contact", column="government_id")
    api = APIClient()
    api.force_authenticate(admin)
    url = f"/api/v1/conflicts/{conflict.pk}/apply-losing-value/"
    done = api.post(url, {"current": "GOV-NEW"}, format="json")
    assert done.status_code == 200, done.content
    contact.refresh_from_db()
    assert contact.government_id == "GOV-OUT"
    kept = SyncConflict.objects.get(resolved_on__isnull=True)
    assert "applied a losing value" in kept.reason
    stored = (kept.base_value, kept.crm_value, kept.exchange_value, kept.digest)
    assert not any(v in str(stored) for v in ("GOV-NEW", "GOV-OUT", "GOV-CRM"))
    assert all(set(v) == {"#"} for v in stored[:3])


def test_a_series_pattern_conflict_is_compared_in_the_mailboxs_time_zone(sally, queued):
    """The sync compares a series' pattern in its canonical text, the weekly day taken in the
    mailbox's zone (a series on Sunday 00:30 in Berlin repeats on Sundays, though it starts on a
    Saturday in UTC): applying the losing value compares the CRM's value the same way, so it is
    not taken for a change made since."""
    import datetime
    from zoneinfo import ZoneInfo

    from crm.models import RecurringAppointment
    from fieldsync.mailboxes.conflicts import conflict_apply_losing_value

    sally.server_profile.timezone = "Europe/Berlin"
    sally.server_profile.save()
    levels = {("recurring_appointment", a): "user" for a in ("create", "read", "write", "sync")}
    role_upsert(name="Planner", levels=levels, users=[sally.owner])
    start = datetime.datetime(2026, 11, 8, 0, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    end = start + datetime.timedelta(minutes=30)
    series = RecurringAppointment.objects.create(
        owner=sally.owner,
        subject="Night shift handover",
        scheduled_start=start,
        scheduled_end=end,
        recurrence_pattern="FREQ=WEEKLY;COUNT=5",
    )
    times = ["2026-11-07T23:30:00+00:00", "2026-11-08T00:00:00+00:00", False]
    conflict = SyncConflict.objects.create(  # as the sync records it: canonical, CRM won
        owner=sally.owner,
        entity="recurring_appointment",
        crm_id=series.pk,
        item_id="AAMk-series",
        field="recurrence_pattern",
        base_value=["FREQ=WEEKLY;BYDAY=SU;COUNT=4", *times],
        crm_value=["FREQ=WEEKLY;BYDAY=SU;COUNT=5", *times],
        exchange_value=["FREQ=WEEKLY;BYDAY=SU;COUNT=8", *times],
        outcome="crm",
        reason="crm_wins",
        digest=f"s-{series.pk}",
    )
    conflict_apply_losing_value(conflict=conflict, actor=sally.owner)
    series.refresh_from_db()
    assert series.recurrence_pattern == "FREQ=WEEKLY;BYDAY=SU;COUNT=8"
