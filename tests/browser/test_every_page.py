"""Every page, walked in Debian's chromium as an administrator and as a salesperson, at phone
width (390 px) and at a laptop's (1,280 px): no page is wider than the window (tables scroll
inside their card or reflow), and no page asks for a file that is not there (the favicon).

One browser, one test: the demo organization is seeded once, one sync runs so the sync pages
have runs, a conflict and a rejected change to show; then each page is loaded at both widths.
"""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from fieldsync.fields.services import catalog_sync
from fieldsync.mailboxes.services import mailbox_sync_request
from fieldsync.management.commands.run_demo import DEMO_MAILBOXES, DEMO_SERVICE_ACCOUNT
from fieldsync.models.mailboxes import EmailServerProfile, Mailbox
from fieldsync.models.sync import RejectedChange, SyncConflict
from syncadmin.celery import app as celery_app
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (390, 1280)
# For the docs: a few pages as a phone shows them (the first screenful).
PHONE_SHOTS = {
    ("admin", "/sync/"): "phone-dashboard.png",
    ("sally", "/my-options/synchronized-fields/contact/"): "phone-my-options.png",
    ("admin", "/settings/email-configuration/synchronization/synchronized-fields/contact/"): (
        "phone-fields.png"
    ),
}


def _empty_demo_mailboxes(ews_server) -> None:
    """The test server lives for the whole run: the demo's mailboxes start and end empty."""
    store = ews_server.store
    with store.lock:
        for (owner, _folder), items in store.folder_items.items():
            if owner in {a.lower() for a in DEMO_MAILBOXES}:
                for item_id in list(items):
                    store.items.pop(item_id, None)
                items.clear()


@pytest.fixture
def demo(transactional_db, ews_server):
    """seed_demo's organization, sally's mailbox synced once, a conflict and a rejected change."""
    from crm.models import Contact
    from security.models import User

    catalog_sync()
    _empty_demo_mailboxes(ews_server)
    call_command("seed_demo", contacts=6, verbosity=0)
    for address in DEMO_MAILBOXES:
        ews_server.store.add_mailbox(address, "demo")
    ews_server.service_accounts[DEMO_SERVICE_ACCOUNT[0]] = DEMO_SERVICE_ACCOUNT[1]
    EmailServerProfile.objects.filter(kind="exchange").update(ews_url=ews_server.url)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    sally = User.objects.get(username="sally")
    mailbox = Mailbox.objects.get(owner=sally)
    from django.db import transaction

    with transaction.atomic():
        mailbox_sync_request(mailbox=mailbox, trigger="manual")
    contact = Contact.objects.filter(owner=sally).order_by("last_name").first()
    conflict = SyncConflict.objects.create(
        owner=sally,
        entity="contact",
        crm_id=contact.pk,
        item_id="AAMkAD" + "x" * 120,
        field="job_title",
        base_value="Buyer",
        crm_value="Head of purchasing at the northern and the southern regional offices",
        exchange_value="Chief procurement officer for every office of the group",
        outcome="crm",
        reason="crm_wins",
        digest=uuid.uuid4().hex,
    )
    RejectedChange.objects.create(
        owner=sally,
        entity="contact",
        crm_id=contact.pk,
        item_id="AAMkAD" + "y" * 120,
        field="government_id",
        offered_value="123-45-6789-a-very-long-offered-value-that-does-not-wrap-anywhere-at-all",
        reason="field_security",
        digest=uuid.uuid4().hex,
    )
    yield {
        "sally": sally,
        "admin": User.objects.get(username="admin"),
        "mailbox": mailbox,
        "conflict": conflict,
    }
    celery_app.conf.task_always_eager = eager
    _empty_demo_mailboxes(ews_server)


def _pages(mailbox: Mailbox, conflict: SyncConflict, *, admin: bool) -> list[str]:
    r = reverse
    pages = [
        r("home"),
        r("profile"),
        r("fieldsync:sync_conflict_apply", args=[conflict.pk]),
        r("fieldsync:sync_conflicts") + f"?show=all&mailbox={mailbox.pk}&field=job",
        r("fieldsync:my_fields", args=["contact"]),
        r("fieldsync:sync_policy"),
        r("fieldsync:sync_dashboard"),
        r("fieldsync:sync_history"),
        r("fieldsync:sync_mailbox", args=[mailbox.pk]),
        r("fieldsync:sync_mailbox_preview", args=[mailbox.pk]),
        r("fieldsync:sync_conflicts"),
        r("fieldsync:sync_rejected"),
    ]
    if admin:
        pages += [
            r("fieldsync:settings"),
            r("fieldsync:fields", args=["contact"]),
            r("fieldsync:fields", args=["appointment"]),
            r("fieldsync:audit"),
            r("fieldsync:sync_mailbox_new"),
            r("fieldsync:sync_mailbox_edit", args=[mailbox.pk]),
            r("fieldsync:sync_profiles"),
            r("fieldsync:sync_profile_edit", args=[mailbox.server_profile_id]),
        ]
    else:  # what a salesperson may only view, or not at all, answers in words that fit too
        pages += [r("fieldsync:fields", args=["contact"]), r("fieldsync:sync_profiles")]
    return pages


def test_every_page_fits_the_window_at_phone_and_laptop_width(browser, live_server, demo):
    wider: list[str] = []
    missing: list[str] = []
    visited = 0
    for who in ("admin", "sally"):
        client = Client()
        client.force_login(demo[who])
        context = browser.new_context(viewport={"width": WIDTHS[0], "height": 800})
        context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": client.cookies["sessionid"].value,
                    "url": live_server.url,
                }
            ]
        )
        context.set_default_timeout(10000)
        page = context.new_page()
        page.on(
            "response",
            lambda resp: missing.append(resp.url) if resp.status == 404 else None,
        )
        anonymous = [reverse("login")] if who == "admin" else []
        pages = _pages(demo["mailbox"], demo["conflict"], admin=who == "admin")
        for path in pages + anonymous:
            if path == reverse("login"):
                context.clear_cookies()
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 800})
                page.goto(live_server.url + path)
                visited += 1
                scroll = page.evaluate("document.documentElement.scrollWidth")
                if scroll > width:
                    wider.append(f"{who} {path} at {width}: {scroll} px")
                if width == WIDTHS[0] and (who, path) in PHONE_SHOTS:
                    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SCREENSHOTS / PHONE_SHOTS[(who, path)]))
        context.close()
    assert visited >= 2 * (19 + 14) + 2
    assert not wider, "pages wider than the window:\n" + "\n".join(wider)
    assert not missing, "404s while loading the pages:\n" + "\n".join(sorted(set(missing)))
