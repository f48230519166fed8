"""The Synchronized fields pages through Django's test client: the no-JavaScript arrows, OK,
refusals (disallowed, stale, unprivileged), the read-only page and the change history.
"""

from datetime import timedelta

import lxml.html
import pytest
from django.urls import reverse
from django.utils import timezone

from fieldsync.fields.services import field_directions_update, settings_version
from fieldsync.models import DirectionChange, FieldMapping

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True)


@pytest.fixture
def other_admin(make_user):
    return make_user("bert", is_superuser=True, is_staff=True)


@pytest.fixture
def salesperson(make_user):
    """A salesperson may view the sync settings (the policy's read privilege), not change them."""
    from security.models import AccessLevel
    from security.policy import SYNC_SETTINGS
    from security.services import role_upsert

    user = make_user("sally")
    role_upsert(
        name="Salesperson",
        levels={(SYNC_SETTINGS, "read"): AccessLevel.ORGANIZATION},
        users=[user],
    )
    return user


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def fields_url(entity):
    return reverse("fieldsync:fields", args=[entity])


def page(response):
    return lxml.html.fromstring(response.content.decode())


def main(response):
    return page(response).xpath("//main")[0]


def arrow_label(response, crm_field):
    doc = page(response)
    (button,) = doc.xpath(f"//tr[@id='row-{crm_field}']//button")
    return button.get("aria-label")


def pending_value(response, crm_field):
    (inp,) = page(response).xpath(f"//input[@name='dir-{crm_field}']")
    return inp.get("value")


def posted_state(response):
    """Every hidden input of the settings form, as the browser would post it back."""
    (form,) = page(response).xpath("//form[@id='fs-form']")
    return {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}


def saved(entity, crm_field):
    return FieldMapping.objects.get(entity=entity, crm_field=crm_field).direction


def test_tabs_cover_every_entity_with_the_common_four_first(admin_client):
    response = admin_client.get(reverse("fieldsync:fields_default"))
    assert response.status_code == 200
    tabs = [a.text_content().strip() for a in page(response).xpath("//nav[@class='tabs']//a")]
    assert tabs[:4] == ["Appointment", "Recurring Appointment", "Contact", "Task"]
    assert sorted(tabs[4:]) == ["Fax", "Letter", "Phone Call", "Service Activity"]
    # The first tab is shown by default, with its current direction spelled out for readers.
    assert arrow_label(response, "subject") == "Subject: Synchronize both ways"


def test_arrow_without_javascript_shows_next_direction_and_saves_nothing(admin_client):
    response = admin_client.get(fields_url("contact"))
    state = posted_state(response)
    labels = []
    for _ in range(4):
        response = admin_client.post(fields_url("contact"), {**state, "cycle": "description"})
        assert response.status_code == 200
        labels.append(arrow_label(response, "description"))
        state = posted_state(response)
    assert labels == [
        "Description: Synchronize to Exchange/Outlook only",
        "Description: Synchronize to the CRM only",
        "Description: Don't synchronize",
        "Description: Synchronize both ways",
    ]
    assert saved("contact", "description") == "both"
    assert not DirectionChange.objects.exists()


def test_pending_choices_survive_cycling_another_field(admin_client):
    state = posted_state(admin_client.get(fields_url("contact")))
    state["dir-pager"] = "none"
    response = admin_client.post(fields_url("contact"), {**state, "cycle": "email"})
    assert pending_value(response, "pager") == "none"
    assert pending_value(response, "email") == "to_outlook"
    row = page(response).xpath("//tr[@id='row-pager']")[0]
    assert "Unsaved" in row.text_content() and "Not default" in row.text_content()
    assert "2 unsaved changes" in response.content.decode()


def test_field_with_one_allowed_direction_has_a_disabled_arrow(admin_client):
    response = admin_client.get(fields_url("appointment"))
    (button,) = page(response).xpath("//tr[@id='row-priority']//button")
    assert button.get("disabled") is not None
    assert button.get("name") is None
    assert "Importance" in button.get("title")  # the Outlook field it maps to
    # Forcing a cycle of that field leaves it where the catalog pins it.
    state = posted_state(response)
    response = admin_client.post(fields_url("appointment"), {**state, "cycle": "priority"})
    assert pending_value(response, "priority") == "both"


def test_hover_text_names_the_outlook_field_and_the_note(admin_client):
    response = admin_client.get(fields_url("contact"))
    (tip,) = page(response).xpath("//*[@id='hint-address_1']")
    assert "Mailing Address, Business Address" in tip.text_content()
    assert "based on System Settings" in tip.text_content()


def test_ok_saves_every_pending_change_and_audits_it(admin_client, admin):
    state = posted_state(admin_client.get(fields_url("contact")))
    state.update({"dir-description": "none", "dir-job_title": "to_crm"})
    response = admin_client.post(fields_url("contact"), {**state, "action": "save"}, follow=True)
    assert response.status_code == 200
    assert "Saved 2 changes to Contact synchronization" in response.content.decode()
    assert saved("contact", "description") == "none"
    assert saved("contact", "job_title") == "to_crm"
    audit = {
        (c.crm_field, c.old_direction, c.new_direction, c.actor_id, c.source)
        for c in DirectionChange.objects.all()
    }
    assert audit == {
        ("description", "both", "none", admin.pk, "web"),
        ("job_title", "both", "to_crm", admin.pk, "web"),
    }
    row = page(response).xpath("//tr[@id='row-description']")[0]
    assert "Not default" in row.text_content()
    assert row.xpath(".//span[@data-badge='unsaved']")[0].get("hidden") is not None


def test_disallowed_direction_is_refused_and_nothing_saved(admin_client):
    state = posted_state(admin_client.get(fields_url("appointment")))
    state.update({"dir-subject": "none", "dir-priority": "to_crm"})
    response = admin_client.post(fields_url("appointment"), {**state, "action": "save"})
    assert response.status_code == 400
    assert "Direction 'to_crm' is not allowed for Appointment.Priority (allowed: both)" in (
        main(response).xpath("//div[@role='alert']")[0].text_content()
    )
    assert saved("appointment", "subject") == "both"
    assert saved("appointment", "priority") == "both"
    assert not DirectionChange.objects.exists()
    # The admin's other pending choice is still on the page.
    assert pending_value(response, "subject") == "none"


def test_stale_ok_is_refused_naming_who_changed_what(admin_client, other_admin):
    state = posted_state(admin_client.get(fields_url("contact")))
    field_directions_update(
        entity="contact",
        changes={"pager": "none", "email": "to_outlook"},
        base_version=settings_version(entity="contact"),
        actor=other_admin,
    )
    state.update({"dir-description": "none", "dir-email": "to_crm"})
    response = admin_client.post(fields_url("contact"), {**state, "action": "save"})
    assert response.status_code == 409
    alert = page(response).xpath("//*[@id='stale']")[0].text_content()
    assert "bert changed Pager from “Synchronize both ways” to “Don't synchronize”" in " ".join(
        alert.split()
    )
    assert (
        "bert changed Email from “Synchronize both ways” to “Synchronize to Exchange/Outlook only”"
        in " ".join(alert.split())
    )
    # Nothing of ours was saved; theirs stands.
    assert saved("contact", "description") == "both"
    assert saved("contact", "email") == "to_outlook"
    assert DirectionChange.objects.filter(actor__username="ada").count() == 0
    # Our pending choices are kept; a field only they changed shows their value; a field both
    # changed keeps ours, marked as a conflict.
    assert pending_value(response, "description") == "none"
    assert pending_value(response, "pager") == "none"
    assert pending_value(response, "email") == "to_crm"
    email_row = page(response).xpath("//tr[@id='row-email']")[0].text_content()
    assert "Conflict: bert chose" in email_row

    # OK again, now knowingly on top of their version: ours saved, their pager kept.
    again = posted_state(response)
    response = admin_client.post(fields_url("contact"), {**again, "action": "save"})
    assert response.status_code == 302
    assert saved("contact", "description") == "none"
    assert saved("contact", "email") == "to_crm"
    assert saved("contact", "pager") == "none"


def test_reset_tab_is_pending_until_ok(admin_client, admin):
    field_directions_update(
        entity="task",
        changes={"subject": "none", "due_date": "to_crm"},
        base_version=settings_version(entity="task"),
        actor=admin,
    )
    state = posted_state(admin_client.get(fields_url("task")))
    response = admin_client.post(fields_url("task"), {**state, "action": "reset"})
    assert response.status_code == 200
    assert pending_value(response, "subject") == "both"
    assert saved("task", "subject") == "none"  # not yet
    response = admin_client.post(fields_url("task"), {**posted_state(response), "action": "save"})
    assert response.status_code == 302
    assert saved("task", "subject") == "both"
    assert saved("task", "due_date") == "both"


def test_non_default_rows_are_marked_in_words_and_counted_on_the_tab(admin_client, admin):
    field_directions_update(
        entity="contact",
        changes={"description": "none"},
        base_version=settings_version(entity="contact"),
        actor=admin,
    )
    response = admin_client.get(fields_url("appointment"))
    (contact_tab,) = page(response).xpath("//nav[@class='tabs']//a[contains(., 'Contact')]")
    assert "1 not at the default" in contact_tab.text_content()
    response = admin_client.get(fields_url("contact"))
    marked = [
        tr.get("id")
        for tr in page(response).xpath("//tbody/tr")
        if "Not default"
        in "".join(
            b.text_content() for b in tr.xpath(".//span[@data-badge='modified'][not(@hidden)]")
        )
    ]
    assert marked == ["row-description"]


def test_end_user_post_gets_403_and_changes_nothing(client, salesperson):
    client.force_login(salesperson)
    version = settings_version(entity="contact")
    response = client.post(
        fields_url("contact"),
        {"base_version": version, "dir-description": "none", "action": "save"},
    )
    assert response.status_code == 403
    assert saved("contact", "description") == "both"
    assert not DirectionChange.objects.exists()
    assert client.get(fields_url("contact")).status_code == 403
    assert client.get(reverse("fieldsync:audit")).status_code == 403


def test_read_only_page_shows_the_tables_without_any_control(client, salesperson, admin):
    field_directions_update(
        entity="contact",
        changes={"description": "none"},
        base_version=settings_version(entity="contact"),
        actor=admin,
    )
    client.force_login(salesperson)
    response = client.get(reverse("fieldsync:my_fields", args=["contact"]))
    assert response.status_code == 200
    content = main(response)
    assert content.xpath(".//form | .//button | .//input | .//select | .//textarea") == []
    rows = content.xpath(".//tbody/tr")
    assert len(rows) == 34
    description = next(r for r in rows if "Description" in r.xpath("./th")[0].text_content())
    assert "Don't synchronize" in description.text_content()
    assert "Not default" in description.text_content()
    # The menu offers My options but not Settings.
    nav = page(response).xpath("//nav[@aria-label='Main']")[0].text_content()
    assert "My options" in nav and "Settings" not in nav
    assert client.post(reverse("fieldsync:my_fields", args=["contact"])).status_code == 405


def test_user_without_the_view_privilege_does_not_see_the_settings(client, make_user):
    client.force_login(make_user("nobody"))
    response = client.get(reverse("fieldsync:my_fields", args=["contact"]))
    assert response.status_code == 403
    assert "Description" not in response.content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(fields_url("contact"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def _audit_rows(response):
    return [
        [c.text_content().strip() for c in tr.xpath("./td|./th")]
        for tr in page(response).xpath("//table[@class='audit']/tbody/tr")
    ]


def test_change_history_filters_by_entity_field_user_and_date(admin_client, admin, other_admin):
    for actor, entity, changes in [
        (admin, "contact", {"description": "none"}),
        (other_admin, "contact", {"pager": "to_crm"}),
        (other_admin, "task", {"description": "to_outlook"}),
    ]:
        field_directions_update(
            entity=entity,
            changes=changes,
            base_version=settings_version(entity=entity),
            actor=actor,
        )
    url = reverse("fieldsync:audit")
    assert len(_audit_rows(admin_client.get(url))) == 3

    rows = _audit_rows(admin_client.get(url, {"entity": "contact"}))
    assert {r[3] for r in rows} == {"Description", "Pager"}

    rows = _audit_rows(admin_client.get(url, {"field": "description"}))
    assert {r[2] for r in rows} == {"Contact", "Task"}

    rows = _audit_rows(admin_client.get(url, {"user": other_admin.pk, "entity": "contact"}))
    assert len(rows) == 1
    assert rows[0][1:] == [
        "bert",
        "Contact",
        "Pager",
        "Both ways",
        "To the CRM only",
        "Settings page",
        "3",
    ]

    today = timezone.localdate()
    DirectionChange.objects.filter(crm_field="pager").update(
        changed_on=timezone.now() - timedelta(days=10)
    )
    rows = _audit_rows(admin_client.get(url, {"date_from": today.isoformat()}))
    assert {r[3] for r in rows} == {"Description"}
    rows = _audit_rows(admin_client.get(url, {"date_to": (today - timedelta(days=5)).isoformat()}))
    assert [r[3] for r in rows] == ["Pager"]


def test_change_history_is_paginated(admin_client, admin):
    entity = "contact"
    for i in range(55):
        field_directions_update(
            entity=entity,
            changes={"pager": "none" if i % 2 == 0 else "both"},
            base_version=settings_version(entity=entity),
            actor=admin,
        )
    url = reverse("fieldsync:audit")
    first = admin_client.get(url, {"entity": entity})
    assert len(_audit_rows(first)) == 50
    assert "Page 1 of 2" in first.content.decode()
    (older,) = page(first).xpath("//a[@rel='next']")
    assert "entity=contact" in older.get("href")
    second = admin_client.get(url + older.get("href"))
    assert len(_audit_rows(second)) == 5
