"""`manage.py sync_mailbox` end to end: a mailbox with a server profile, exchangelib, the EWS
test server; the Personal notes scenario as a salesperson and her admin live it."""

from __future__ import annotations

import io
import itertools

import pytest
from django.core.management import CommandError, call_command

from connectors.base import ItemRef, ItemUpdate
from crm.models import Contact
from fieldsync.models.sync import MailboxSyncState, SyncConflict

from .conftest import SERVICE

pytestmark = pytest.mark.django_db
_numbers = itertools.count(1)


@pytest.fixture
def sally_mailbox(ews, sally):
    """Sally's mailbox, a new one on the (session-wide) server for each test."""
    from fieldsync.mailboxes.services import mailbox_create, server_profile_create

    address = f"sally.{next(_numbers)}@contoso.test"
    ews.store.add_mailbox(address, "pw")
    profile = server_profile_create(
        name="Contoso Exchange",
        ews_url=ews.url,
        service_username=SERVICE[0],
        service_password=SERVICE[1],
        timezone_name="Europe/Berlin",
        max_wait=5,
    )
    return mailbox_create(owner=sally, email_address=address, server_profile=profile)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("sync_mailbox", *args, stdout=out)
    return out.getvalue()


def outlook(make_connector, mailbox):
    return make_connector(mailbox.email_address)


def test_personal_notes_stay_private_in_outlook_end_to_end(
    sally_mailbox, sally, make_connector, set_direction
):
    ann = Contact.objects.create(
        owner=sally, first_name="Ann", last_name="Lee", description="Met at the trade fair"
    )
    out = run(sally_mailbox.email_address, "--entity", "contact")
    assert "CRM -> Exchange: create 1, update 0, delete 0" in out
    user = outlook(make_connector, sally_mailbox)
    (page,) = list(user.list_changes("contacts", None))
    (item,) = page.created
    assert item.fields["description"] == "Met at the trade fair"  # Outlook's Notes

    # The admin sets Notes to "don't synchronize"; Sally writes private notes in Outlook.
    set_direction("contact", "description", "none")
    private = "Private: going through a divorce, avoid golf talk"
    (ok,) = user.update_items(
        "contacts", [ItemUpdate(item.item_id, item.change_key, {"description": private})]
    )
    assert ok.ok, ok.message
    ann.description = "Key account since 2024"
    ann.job_title = "Head of purchasing"
    ann.save()
    run(sally_mailbox.email_address, "--entity", "contact")
    run(sally_mailbox.email_address, "--entity", "contact")

    ann.refresh_from_db()
    (now,) = user.get_items("contacts", [item.item_id], ["description", "job_title"])
    assert ann.description == "Key account since 2024"  # the private notes never reached it
    assert now.fields["description"] == private  # and the CRM never overwrote them
    assert now.fields["job_title"] == "Head of purchasing"
    assert not SyncConflict.objects.filter(exchange_value__icontains="golf").exists()


def test_dry_run_prints_what_it_would_do_and_changes_nothing(sally_mailbox, sally, make_connector):
    Contact.objects.create(owner=sally, first_name="Ann", last_name="Lee")
    out = run(sally_mailbox.email_address, "--entity", "contact", "--dry-run")
    assert "CRM -> Exchange: would create 1" in out
    (page,) = list(outlook(make_connector, sally_mailbox).list_changes("contacts", None))
    assert page.created == []
    assert not MailboxSyncState.objects.exclude(remote_sync_state="").exists()


def test_guard_stop_is_printed_and_confirm_lets_the_run_go_ahead(
    sally_mailbox, sally, make_connector
):
    from fieldsync.models.sync import SyncPolicy

    SyncPolicy.objects.update_or_create(pk=1, defaults={"mass_change_min_items": 2})
    for i in range(3):
        Contact.objects.create(owner=sally, first_name="C", last_name=str(i))
    run(sally_mailbox.email_address, "--entity", "contact")
    user = outlook(make_connector, sally_mailbox)
    (page,) = list(user.list_changes("contacts", None))
    user.delete_items("contacts", [ItemRef(i.item_id, i.change_key) for i in page.created])
    out = run(sally_mailbox.email_address, "--entity", "contact")
    assert "STOPPED by the mass-change guard" in out and "--confirm" in out
    out = run(sally_mailbox.email_address, "--entity", "contact", "--confirm")
    assert "untrack 3" in out
    assert Contact.objects.count() == 3


def test_unknown_address_is_an_error_naming_what_to_set(db, monkeypatch):
    monkeypatch.delenv("SYNC_EWS_URL", raising=False)
    with pytest.raises(CommandError, match="No mailbox and no user"):
        run("nobody@contoso.test")


def test_command_runs_are_in_the_history_and_the_mailbox_status_follows_them(
    sally_mailbox, sally, make_connector
):
    from fieldsync.models.mailboxes import Mailbox, SyncRun
    from fieldsync.models.sync import SyncPolicy

    SyncPolicy.objects.update_or_create(pk=1, defaults={"mass_change_min_items": 2})
    for i in range(3):
        Contact.objects.create(owner=sally, first_name="C", last_name=str(i))
    run(sally_mailbox.email_address, "--entity", "contact")
    (first,) = SyncRun.objects.filter(mailbox=sally_mailbox)
    assert (first.trigger, first.entity, first.status) == ("command", "contact", "succeeded")
    assert first.created_in_exchange == 3
    assert first.get_trigger_display() == "Command (manage.py sync_mailbox)"
    assert Mailbox.objects.get(pk=sally_mailbox.pk).status == "ok"

    user = outlook(make_connector, sally_mailbox)
    (page,) = list(user.list_changes("contacts", None))
    user.delete_items("contacts", [ItemRef(i.item_id, i.change_key) for i in page.created])
    run(sally_mailbox.email_address, "--entity", "contact")
    stopped = SyncRun.objects.filter(mailbox=sally_mailbox).latest("started_at")
    assert (stopped.trigger, stopped.status, stopped.error_code) == (
        "command",
        "failed",
        "MassChangeGuard",
    )
    assert Mailbox.objects.get(pk=sally_mailbox.pk).status == "failing"

    run(sally_mailbox.email_address, "--entity", "contact", "--confirm")
    assert SyncRun.objects.filter(mailbox=sally_mailbox).count() == 3
    assert Mailbox.objects.get(pk=sally_mailbox.pk).status == "ok"


def test_verify_mailbox_compares_both_sides_and_fails_on_drift(
    sally_mailbox, sally, make_connector
):
    from django.db import models

    from fieldsync.models.mailboxes import VerifyReport

    ann = Contact.objects.create(owner=sally, first_name="Ann", last_name="Lee", job_title="CFO")
    run(sally_mailbox.email_address, "--entity", "contact")
    out = io.StringIO()
    call_command("verify_mailbox", sally_mailbox.email_address, "--entity", "contact", stdout=out)
    assert "contact: 1 records" in out.getvalue() and "both sides agree" in out.getvalue()
    models.QuerySet.update(Contact.objects.filter(pk=ann.pk), job_title="Sneaked in")
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 unexplained difference"):
        call_command(
            "verify_mailbox", sally_mailbox.email_address, "--entity", "contact", stdout=out
        )
    assert "job_title: CRM 'Sneaked in', mailbox 'CFO'" in out.getvalue()
    latest = VerifyReport.objects.filter(mailbox=sally_mailbox).first()
    assert (latest.trigger, latest.drift_count) == ("command", 1)
