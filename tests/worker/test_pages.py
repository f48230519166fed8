"""The server-side sync pages as users see them: who sees which mailbox, Sync now, Test
connection, write-only passwords, the history, the chart and the preview."""

import re
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from fieldsync.models.mailboxes import Mailbox, MailboxStatus, SyncRun


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True)


@pytest.fixture
def queued(monkeypatch):
    from fieldsync.mailboxes.tasks import sync_mailbox_task

    sent = []
    monkeypatch.setattr(sync_mailbox_task, "delay", lambda *a, **kw: sent.append((a, kw)))
    return sent


def login(client, user):
    client.force_login(user)
    return client


def _run(mailbox, **kw):
    now = timezone.now()
    values = dict(
        entity="contact",
        trigger="schedule",
        status="succeeded",
        started_at=now - timezone.timedelta(seconds=3),
        finished_at=now,
        created_in_exchange=4,
        items_seen=10,
    )
    values.update(kw)
    return SyncRun.objects.create(mailbox=mailbox, **values)


def test_users_see_their_own_mailbox_and_admins_all(client, admin, make_mailbox):
    sally, sam = make_mailbox("sally"), make_mailbox("sam")
    page = login(client, sally.owner).get(reverse("fieldsync:sync_dashboard")).content.decode()
    assert "sally@worker.test" in page and "sam@worker.test" not in page
    other = client.get(reverse("fieldsync:sync_mailbox", args=[sam.pk]))
    assert other.status_code == 404  # a mailbox you may not see does not exist for you
    assert client.post(reverse("fieldsync:sync_mailbox_sync", args=[sam.pk])).status_code == 404
    page = login(client, admin).get(reverse("fieldsync:sync_dashboard")).content.decode()
    assert "sally@worker.test" in page and "sam@worker.test" in page


def test_sync_now_queues_a_run_and_the_page_refreshes_until_done(
    client, make_mailbox, queued, django_capture_on_commit_callbacks
):
    mailbox = make_mailbox("sally")
    login(client, mailbox.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("fieldsync:sync_mailbox_sync", args=[mailbox.pk]), follow=True
        )
    assert queued == [((mailbox.pk,), {"trigger": "manual"})]
    page = response.content.decode()
    assert "Sync of sally@worker.test queued" in page
    assert '<meta http-equiv="refresh" content="5">' in page
    Mailbox.objects.filter(pk=mailbox.pk).update(status=MailboxStatus.OK)
    page = client.get(reverse("fieldsync:sync_mailbox", args=[mailbox.pk])).content.decode()
    assert 'http-equiv="refresh"' not in page


def test_test_connection_shows_the_server_error_in_words(client, ews, make_mailbox):
    mailbox = make_mailbox("ghost", on_server=False)
    login(client, mailbox.owner)
    response = client.post(reverse("fieldsync:sync_mailbox_test", args=[mailbox.pk]), follow=True)
    assert "Test connection failed: Exchange has no mailbox ghost@worker.test" in (
        response.content.decode()
    )


def test_passwords_are_write_only_in_the_forms(client, admin, profile, make_user):
    login(client, admin)
    owner = make_user("pat")
    response = client.post(
        reverse("fieldsync:sync_profile_new"),
        {
            "name": "Per-mailbox",
            "ews_url": profile.ews_url,
            "auth_type": "basic",
            "timezone": "UTC",
            "max_wait": 30,
        },
    )
    assert response.status_code == 302
    personal = profile.__class__.objects.get(name="Per-mailbox")
    response = client.post(
        reverse("fieldsync:sync_mailbox_new"),
        {
            "owner": owner.pk,
            "email_address": "pat@worker.test",
            "server_profile": personal.pk,
            "username": "pat",
            "password": "pat-secret-42",
            "sync_contacts": "on",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()
    mailbox = Mailbox.objects.get(email_address="pat@worker.test")
    edit = client.get(reverse("fieldsync:sync_mailbox_edit", args=[mailbox.pk])).content.decode()
    assert "pat-secret-42" not in edit and mailbox.password_encrypted not in edit
    assert "A password is stored (encrypted)" in edit
    # Saving without typing the password keeps it.
    client.post(
        reverse("fieldsync:sync_mailbox_edit", args=[mailbox.pk]),
        {
            "email_address": "pat@worker.test",
            "server_profile": personal.pk,
            "username": "pat",
            "sync_contacts": "on",
            "sync_tasks": "on",
            "enabled": "on",
        },
    )
    mailbox.refresh_from_db()
    assert mailbox.sync_tasks and mailbox.has_password


def test_only_admins_manage_mailboxes_and_profiles(client, make_mailbox):
    mailbox = make_mailbox("sally")
    login(client, mailbox.owner)
    assert client.get(reverse("fieldsync:sync_mailbox_new")).status_code == 403
    assert client.get(reverse("fieldsync:sync_profiles")).status_code == 403


def test_dashboard_shows_backlog_error_and_a_chart_of_runs(client, admin, make_mailbox):
    from crm.models import Contact

    ok, broken = make_mailbox("sally"), make_mailbox("sam")
    attempt = uuid.uuid4()
    _run(ok, attempt_id=attempt)
    _run(ok, attempt_id=attempt, entity="task", created_in_exchange=0, updated_in_crm=2)
    Mailbox.objects.filter(pk=ok.pk).update(
        status="ok", last_success_started_at=timezone.now() - timezone.timedelta(minutes=1)
    )
    Contact.objects.create(owner=ok.owner, first_name="New", last_name="Since")
    Mailbox.objects.filter(pk=broken.pk).update(
        status="failing", last_error="Exchange has no mailbox sam@worker.test"
    )
    page = login(client, admin).get(reverse("fieldsync:sync_dashboard")).content.decode()
    row = re.search(r'<tr data-mailbox="sally@worker.test">.*?</tr>', page, re.S).group(0)
    assert re.search(r'<td class="num">1</td>', row)  # the contact made after the last sync
    assert "Exchange has no mailbox sam@worker.test" in page
    assert page.count('<rect class="bar"') == 1  # one attempt (two entities) = one bar
    assert "<svg" in page and "Sync runs over time" in page


def test_history_lists_runs_with_counts_and_filters(client, admin, make_mailbox):
    sally = make_mailbox("sally")
    _run(sally)
    _run(sally, entity="task", status="failed", error="Exchange answered ErrorFolderNotFound")
    login(client, admin)
    page = client.get(reverse("fieldsync:sync_history")).content.decode()
    assert "2 runs." in page and "ErrorFolderNotFound" in page
    page = client.get(reverse("fieldsync:sync_history"), {"status": "failed"}).content.decode()
    assert "1 run." in page


def test_preview_shows_changes_per_field_and_an_estimate(client, make_mailbox, monkeypatch):
    from fieldsync.engine.model import RecordEvent, RecordPlan
    from fieldsync.mailboxes import run as mailbox_sync

    class Report:
        def __init__(self):
            self.plan = type("Plan", (), {})()
            self.plan.records = [
                RecordPlan(
                    "c1",
                    None,
                    None,
                    RecordEvent.CREATED_IN_EXCHANGE,
                    remote_create={"first_name": "Ann", "last_name": "Lee"},
                ),
                RecordPlan(
                    "c2", "i2", "k2", RecordEvent.MERGED, remote_update={"first_name": "Bo"}
                ),
            ]

        def count(self):
            return {"exchange_created": 1, "exchange_updated": 1, "items_seen": 2}

    calls = []

    def engine(*, owner, connector, entities=None, dry_run=False):
        calls.append(dry_run)
        return Report()

    monkeypatch.setattr(mailbox_sync, "_engine_sync", lambda: engine)
    monkeypatch.setattr("fieldsync.mailboxes.preview._engine_sync", lambda: engine)
    mailbox = make_mailbox("sally", sync_appointments=False, sync_tasks=False)
    login(client, mailbox.owner)
    page = client.post(reverse("fieldsync:sync_mailbox_preview", args=[mailbox.pk])).content
    page = page.decode()
    assert calls == [True]  # a dry run, nothing written
    assert "Would create 1, update 1" in page
    assert re.search(
        r"<th scope=\"row\">First name</th><td>Exchange</td><td class=\"num\">2</td>", page
    )
    assert "Estimated sync time:" in page


def test_preview_runs_the_real_engine_without_writing(client, make_mailbox, ews):
    from crm.models import Contact
    from fieldsync.mailboxes.connection import connector_for
    from security.services import role_upsert

    mailbox = make_mailbox("prev", sync_appointments=False, sync_tasks=False)
    levels = {("contact", a): "user" for a in ("create", "read", "write", "delete", "sync")}
    role_upsert(name="Seller", levels=levels, users=[mailbox.owner])
    for i in range(3):
        Contact.objects.create(owner=mailbox.owner, first_name=f"F{i}", last_name=f"L{i}")
    login(client, mailbox.owner)
    page = client.post(reverse("fieldsync:sync_mailbox_preview", args=[mailbox.pk])).content
    page = page.decode()
    assert "Would create 3, update 0 and delete 0 in Exchange" in page
    by_field = re.findall(
        r"<th scope=\"row\">([\w ]+)</th><td>Exchange</td><td class=\"num\">(\d+)</td>", page
    )
    assert by_field == [("Full Name", "3")]  # the catalog field's label
    assert "F2 / L2" in page  # a field of several columns, shown as its parts
    connector = connector_for(mailbox)
    (first_page,) = list(connector.list_changes("contacts", None))
    assert first_page.created == []  # nothing was written
    assert not SyncRun.objects.exists()


def test_the_estimate_learns_the_cost_per_item_from_past_runs(make_mailbox):
    from fieldsync.mailboxes.selectors import DEFAULT_SECONDS_PER_ITEM, cost_model

    assert cost_model("contact").per_item == DEFAULT_SECONDS_PER_ITEM  # nothing measured yet
    mailbox = make_mailbox()
    for items, seconds in ((100, 1.5), (200, 2.5), (400, 4.5)):  # 0.5 s + 10 ms per item
        now = timezone.now()
        _run(
            mailbox,
            items_seen=items,
            started_at=now - timezone.timedelta(seconds=seconds),
            finished_at=now,
        )
    model = cost_model("contact")
    assert model.measured_runs == 3
    assert model.per_item == pytest.approx(0.01, rel=0.01)
    assert model.estimate(1000) == pytest.approx(10.5, rel=0.01)


def test_the_dashboard_answers_is_all_well(client, admin, make_mailbox, settings):
    from fieldsync.models.sync import RejectedChange, SyncConflict

    settings.SYNCADMIN_SYNC_INTERVAL = 300
    now = timezone.now()
    ok, failing, _new = make_mailbox("okay"), make_mailbox("bad"), make_mailbox("fresh")
    Mailbox.objects.filter(pk=ok.pk).update(
        status="ok", last_success_at=now, last_attempt_at=now - timezone.timedelta(seconds=60)
    )
    Mailbox.objects.filter(pk=failing.pk).update(
        status="failing",
        failure_count=2,
        last_error="Exchange refused the password",
        next_attempt_at=now + timezone.timedelta(minutes=10),
    )
    SyncConflict.objects.create(
        owner=ok.owner,
        entity="contact",
        field="job_title",
        outcome="crm",
        reason="crm_wins",
        digest="c1",
    )
    RejectedChange.objects.create(
        owner=ok.owner,
        entity="contact",
        item_id="x",
        field="pager",
        reason="no_update_permission",
        digest="r1",
    )
    for n in range(7):
        _run(ok, started_at=now - timezone.timedelta(minutes=10 * (7 - n)), created_in_exchange=n)
    page = login(client, admin).get(reverse("fieldsync:sync_dashboard")).content.decode()
    totals = re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", " ", page.split('class="totals"')[1].split("</ul>")[0])
    )
    assert (
        "1 OK" in totals and "1 failing (1 backing off)" in totals and "1 not synced yet" in totals
    )
    row = page.split('data-mailbox="okay@worker.test"')[1].split("</tr>")[0]
    # Next run: one interval after the last attempt (4 minutes from now), in the viewer's zone.
    nxt = timezone.localtime(now - timezone.timedelta(seconds=60) + timezone.timedelta(seconds=300))
    assert f"{nxt:%H:%M}</time>" in row
    assert f'?show=open&amp;mailbox={ok.pk}">1</a>' in row  # open conflicts, linked
    assert f'?mailbox={ok.pk}">1</a>' in row  # rejected changes, linked
    bad_row = page.split('data-mailbox="bad@worker.test"')[1].split("</tr>")[0]
    assert "retry" in bad_row
    # It reloads itself even when nothing runs, so scheduled rounds show up.
    assert '<meta http-equiv="refresh" content="60">' in page
    assert "syncs run every 5 minutes" in page
    # The chart: five time labels, whole numbers on the items axis.
    assert page.count('class="axis time"') == 5
    items_axis = re.findall(r'class="axis items"[^>]*>([^<]+)<', page)
    assert items_axis and all(label.isdigit() for label in items_axis[:-1])


def test_sync_now_cannot_run_twice_while_queued(client, make_mailbox, queued):
    mailbox = make_mailbox("sally")
    login(client, mailbox.owner)
    url = reverse("fieldsync:sync_mailbox_sync", args=[mailbox.pk])
    client.post(url)
    page = client.get(reverse("fieldsync:sync_mailbox", args=[mailbox.pk])).content.decode()
    assert "Sync queued…</button>" in page and "disabled" in page.split("Sync queued")[0][-200:]
    response = client.post(url, follow=True)
    assert "already queued or running" in response.content.decode()
    assert Mailbox.objects.get(pk=mailbox.pk).status == MailboxStatus.QUEUED


def test_my_options_shows_what_applies_to_my_own_mailbox(client, make_mailbox, profile):
    from fieldsync.models.mailboxes import EmailServerProfile
    from security.models import AccessLevel
    from security.policy import SYNC_SETTINGS
    from security.services import role_upsert, secure_field

    secure_field(entity="contact", column="government_id")
    sally = make_mailbox("sally")
    dav = EmailServerProfile.objects.create(
        name="DAV", kind="caldav", ews_url="https://dav.test/{user}/", use_impersonation=False
    )
    make_mailbox("mona", server_profile=dav, username="mona", password="pw")
    role_upsert(
        name="Viewer",
        levels={(SYNC_SETTINGS, "read"): AccessLevel.ORGANIZATION},
        users=[sally.owner],
    )
    login(client, sally.owner)
    page = client.get(reverse("fieldsync:my_fields", args=["contact"])).content.decode()
    row = page.split('id="row-government_id"')[1].split("</tr>")[0]
    # A secured field she cannot read never syncs for her: the page says so, not "Both ways".
    assert "Not synced for you" in row and "Both ways" not in row
    assert "Secured: you cannot read it" in row
    assert "Not default" not in page
    # Her own mailbox, never another user's address.
    assert "Your mailbox <strong>sally@worker.test</strong> synchronizes this record type" in page
    assert "mona@worker.test" not in page
    Mailbox.objects.filter(owner=sally.owner).update(server_profile=dav)
    page = client.get(reverse("fieldsync:my_fields", args=["contact"])).content.decode()
    assert "CalDAV/CardDAV server keeps contacts as vCards" in page
    assert "which have no place for these fields" in page
    assert "mona@worker.test" not in page
    # Faxes are CRM records now (they sync as Outlook tasks): her box says how, not "no records".
    page = client.get(reverse("fieldsync:my_fields", args=["fax"])).content.decode()
    assert "This CRM has no records of this type yet" not in page
    assert "Your mailbox <strong>sally@worker.test</strong>" in page


def test_related_pages_link_to_each_other(client, admin, make_mailbox):
    sally = make_mailbox("sally")
    home = login(client, sally.owner).get(reverse("home")).content.decode()
    assert f'href="{reverse("fieldsync:sync_dashboard")}"' in home
    assert f'href="{reverse("fieldsync:sync_mailbox", args=[sally.pk])}"' in home  # her mailbox
    assert f'href="{reverse("profile")}"' in home
    login(client, admin)
    mailbox = client.get(reverse("fieldsync:sync_mailbox", args=[sally.pk])).content.decode()
    profile = reverse("fieldsync:sync_profile_edit", args=[sally.server_profile_id])
    assert f'href="{profile}"' in mailbox  # the mailbox links to its profile
    # Every sync page offers administrators Email server profiles in the sub-navigation.
    for name in ("sync_history", "sync_conflicts", "sync_rejected", "sync_dashboard"):
        page = client.get(reverse(f"fieldsync:{name}")).content.decode()
        assert ">Email server profiles</a>" in page, name
    # The history filter says "All", not "---------".
    history = client.get(reverse("fieldsync:sync_history")).content.decode()
    assert "---------" not in history


def test_verify_on_the_mailbox_page_shows_agreement_then_drift_with_both_values(
    client, make_mailbox, make_user
):
    from django.db import models

    from crm.models import Contact
    from fieldsync.mailboxes.run import mailbox_sync_run
    from fieldsync.models.mailboxes import VerifyReport
    from security.services import role_upsert

    sally = make_mailbox("sally", sync_appointments=False, sync_tasks=False)
    role_upsert(
        name="Seller",
        levels={("contact", a): "user" for a in ("create", "read", "write", "delete", "sync")},
        users=[sally.owner],
    )
    ann = Contact.objects.create(owner=sally.owner, last_name="Lee", job_title="CFO")
    assert mailbox_sync_run(mailbox_id=sally.pk).status == "succeeded"
    login(client, sally.owner)
    url = reverse("fieldsync:sync_mailbox_verify", args=[sally.pk])
    page = client.post(url, follow=True).content.decode()
    assert "Verify: both sides agree" in page and "none: both sides agree" in page
    models.QuerySet.update(Contact.objects.filter(pk=ann.pk), job_title="Sneaked in")
    page = client.post(url, follow=True).content.decode()
    assert "Verify found 1 unexplained difference." in page
    assert "Job Title" in page and "CRM Sneaked in, mailbox CFO" in page  # the field by its label
    assert f"of “{ann}”" in page and str(ann.pk)[:8] not in page  # its name, never its id
    assert VerifyReport.objects.filter(mailbox=sally).count() == 2

    # A settings administrator manages the mailbox but may not read sally's records: the
    # difference is listed without the record's name or either value.
    ops = make_user("opal")
    role_upsert(
        name="Sync settings",
        levels={("sync_settings", a): "organization" for a in ("read", "write")},
        users=[ops],
    )
    page = login(client, ops).get(reverse("fieldsync:sync_mailbox", args=[sally.pk]))
    text = page.content.decode()
    assert page.status_code == 200 and "a record you may not read" in text
    assert "Sneaked in" not in text and "CFO" not in text and "Lee" not in text
