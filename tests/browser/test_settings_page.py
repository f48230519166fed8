"""The Synchronized fields pages in Debian's chromium (Playwright): arrows cycle in place, OK
saves, Cancel drops, and the read-only page offers nothing to click. Writes the README's
screenshots to docs/screenshots/.
"""

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from fieldsync.fields.services import catalog_sync
from fieldsync.models import DirectionChange, FieldMapping
from tests.conftest import SCREENSHOTS


def screenshot(page, name, hover):
    """The whole page in one window-sized shot (so the sticky OK/Cancel bar sits at the end),
    with the hover text of one field name showing."""
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1280, "height": height})
    page.locator(hover).hover()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mappings(transactional_db):
    # transactional_db empties the tables between tests, the migration-seeded mappings too.
    catalog_sync()


@pytest.fixture
def signed_in(browser, live_server, mappings):
    """A new browser page signed in as `user` (session cookie from Django's test client)."""
    contexts = []

    def open_page(user, javascript=True):
        client = Client()
        client.force_login(user)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
        )
        context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": client.cookies["sessionid"].value,
                    "url": live_server.url,
                }
            ]
        )
        context.set_default_timeout(5000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True, first_name="Ada", last_name="Admin")


@pytest.fixture
def salesperson(make_user):
    from security.models import AccessLevel
    from security.policy import SYNC_SETTINGS
    from security.services import role_upsert

    user = make_user("sally", first_name="Sally", last_name="Sales")
    role_upsert(
        name="Salesperson",
        levels={(SYNC_SETTINGS, "read"): AccessLevel.ORGANIZATION},
        users=[user],
    )
    return user


def saved(entity, crm_field):
    return FieldMapping.objects.get(entity=entity, crm_field=crm_field).direction


def test_arrow_cycles_in_place_ok_saves_and_reload_shows_it(signed_in, live_server, admin):
    page = signed_in(admin)
    url = live_server.url + reverse("fieldsync:fields", args=["contact"])
    page.goto(url)
    arrow = page.locator("#row-description button.arrow")
    expect(arrow).to_have_attribute("aria-label", "Description: Synchronize both ways")
    page.evaluate("window.stillTheSamePage = true")

    for label in [
        "Synchronize to Exchange/Outlook only",
        "Synchronize to the CRM only",
        "Don't synchronize",
        "Synchronize both ways",
        "Synchronize to Exchange/Outlook only",
        "Synchronize to the CRM only",
        "Don't synchronize",
    ]:
        arrow.click()
        expect(arrow).to_have_attribute("aria-label", f"Description: {label}")
    # The arrows changed in place (no round trip) and nothing is saved yet.
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.locator("#fs-summary")).to_have_text(
        "1 unsaved change: press OK to save, or Cancel to discard."
    )
    expect(page.locator("#row-description [data-badge=unsaved]")).to_be_visible()
    assert saved("contact", "description") == "both"

    page.get_by_role("button", name="OK", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Saved 1 change to Contact")
    page.reload()
    expect(arrow).to_have_attribute("aria-label", "Description: Don't synchronize")
    expect(page.locator("#row-description [data-badge=modified]")).to_be_visible()
    expect(page.locator("#row-description [data-badge=unsaved]")).to_be_hidden()
    assert saved("contact", "description") == "none"
    (change,) = DirectionChange.objects.all()
    assert (change.crm_field, change.old_direction, change.new_direction, change.actor_id) == (
        "description",
        "both",
        "none",
        admin.pk,
    )

    # For the README: one saved non-default row, one pending change, the hover text shown.
    page.locator("#row-email button.arrow").click()
    screenshot(page, "settings-admin.png", hover="#row-address_1 .fname")


def test_arrows_and_ok_work_without_javascript(signed_in, live_server, admin):
    page = signed_in(admin, javascript=False)
    page.goto(live_server.url + reverse("fieldsync:fields", args=["appointment"]))
    arrow = page.locator("#row-location button.arrow")
    arrow.click()  # a real form post: the server answers with the next direction
    expect(arrow).to_have_attribute("aria-label", "Location: Synchronize to Exchange/Outlook only")
    expect(arrow).to_be_focused()
    arrow.click()
    expect(arrow).to_have_attribute("aria-label", "Location: Synchronize to the CRM only")
    assert saved("appointment", "location") == "both"
    page.get_by_role("button", name="OK", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Saved 1 change to Appointment")
    expect(arrow).to_have_attribute("aria-label", "Location: Synchronize to the CRM only")
    assert saved("appointment", "location") == "to_crm"


def test_cancel_drops_pending_changes(signed_in, live_server, admin):
    page = signed_in(admin)
    page.goto(live_server.url + reverse("fieldsync:fields", args=["task"]))
    arrow = page.locator("#row-subject button.arrow")
    arrow.click()
    arrow.click()
    expect(arrow).to_have_attribute("aria-label", "Subject: Synchronize to the CRM only")
    page.get_by_role("link", name="Cancel").click()
    expect(arrow).to_have_attribute("aria-label", "Subject: Synchronize both ways")
    expect(page.locator("#fs-summary")).to_have_text("No unsaved changes.")
    assert saved("task", "subject") == "both"
    assert not DirectionChange.objects.exists()


def test_read_only_page_has_no_working_control(signed_in, live_server, admin, salesperson):
    description = FieldMapping.objects.get(entity="contact", crm_field="description")
    description.direction = "none"
    description.save()
    page = signed_in(salesperson)
    page.goto(live_server.url + reverse("fieldsync:my_fields", args=["contact"]))
    content = page.locator("main")
    expect(content.locator("tbody tr")).to_have_count(34)
    row = content.locator("tbody tr", has_text="Description")
    expect(row).to_contain_text("Don't synchronize")
    expect(row).to_contain_text("Not default")
    assert content.locator("button, input, select, textarea, form, [role=button]").count() == 0
    assert page.locator("nav[aria-label=Main]").get_by_text("Settings").count() == 0

    # Clicking where the arrow is does nothing.
    row.locator(".arrow").click()
    expect(row).to_contain_text("Don't synchronize")
    assert saved("contact", "description") == "none"
    screenshot(page, "settings-readonly.png", hover=".fname:has(#hint-address_1)")

    response = page.goto(live_server.url + reverse("fieldsync:fields", args=["contact"]))
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You can't change these settings")
