"""In Debian's chromium (Playwright): the demo's Sync now button runs a sync and the new run
shows up in the sync history. The worker runs eagerly inside the live server (the real
engine, the real Exchange connector, an in-process EWS test server). Writes the README's
dashboard screenshot to docs/screenshots/.
"""

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from fieldsync.fields.services import catalog_sync
from fieldsync.management.commands.run_demo import DEMO_MAILBOXES, DEMO_SERVICE_ACCOUNT
from fieldsync.models.mailboxes import EmailServerProfile, Mailbox, SyncRun
from syncadmin.celery import app as celery_app
from tests.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(transactional_db, ews_server):
    """seed_demo's organization and mailboxes, with the profile pointed at a test server."""
    catalog_sync()
    call_command("seed_demo", contacts=8, verbosity=0)
    for address in DEMO_MAILBOXES:
        ews_server.store.add_mailbox(address, "demo")
    ews_server.service_accounts[DEMO_SERVICE_ACCOUNT[0]] = DEMO_SERVICE_ACCOUNT[1]
    EmailServerProfile.objects.update(ews_url=ews_server.url)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager


def test_sync_now_shows_the_new_run_in_the_history(browser, live_server, demo):
    from security.models import User

    sally = User.objects.get(username="sally")
    mailbox = Mailbox.objects.get(owner=sally)
    assert not SyncRun.objects.exists()
    client = Client()
    client.force_login(sally)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    context.set_default_timeout(30000)
    page = context.new_page()
    page.goto(live_server.url + reverse("fieldsync:sync_dashboard"))
    page.get_by_role("link", name="sally@contoso.test").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("sally@contoso.test")
    page.get_by_role("button", name="Sync now").click()
    expect(page.get_by_role("status").first).to_contain_text("Sync of sally@contoso.test queued")

    page.get_by_role("link", name="Sync history").click()
    runs = page.locator("#runs tbody tr")
    expect(runs.first).to_be_visible()
    contact_run = page.locator("#runs tbody tr", has_text="contact")
    expect(contact_run).to_contain_text("Sync now")
    expect(contact_run).to_contain_text("Succeeded")
    expect(contact_run).to_contain_text("sally@contoso.test")
    run = SyncRun.objects.get(mailbox=mailbox, entity="contact")
    assert run.status == "succeeded" and run.created_in_exchange == 8

    # Two more runs after an edit in the CRM, for a chart with something to show.
    from crm.models import Contact

    for n in range(2):
        contact = Contact.objects.filter(owner=sally).order_by("last_name")[n]
        contact.job_title = f"Edited {n}"
        contact.save()
        page.goto(live_server.url + reverse("fieldsync:sync_mailbox", args=[mailbox.pk]))
        page.get_by_role("button", name="Sync now").click()
        expect(page.get_by_role("status").first).to_contain_text("queued")
    page.get_by_role("link", name="Dashboard").click()
    row = page.locator("tr[data-mailbox='sally@contoso.test']")
    expect(row).to_contain_text("OK")
    expect(page.locator("svg.chart rect.bar")).to_have_count(3)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1280, "height": height})
    page.screenshot(path=str(SCREENSHOTS / "sync-dashboard.png"))
    context.close()
