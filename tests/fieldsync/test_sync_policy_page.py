"""Settings > Email configuration > Synchronization > Sync policy through Django's test client:
editing and its audit, the read-only copy, refusals, validation messages, and the keep-copy
setting on the Synchronized fields pages."""

from __future__ import annotations

import lxml.html
import pytest
from django.urls import reverse

from fieldsync.models import SyncPolicyChange
from fieldsync.models.sync import SyncPolicy

pytestmark = pytest.mark.django_db

URL = reverse("fieldsync:sync_policy")


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True, first_name="Ada", last_name="L")


@pytest.fixture
def salesperson(make_user):
    """May view the sync settings (the read privilege), not change them."""
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


def page(response):
    return lxml.html.fromstring(response.content.decode())


def form_data(response) -> dict:
    """The policy form as a browser would post it back unchanged."""
    (form,) = page(response).xpath("//form[@id='policy-form']")
    data = dict(form.form_values())
    data.pop("csrfmiddlewaretoken", None)
    return data


def errors_of(response, setting: str) -> str:
    return " ".join(
        e.text_content()
        for e in page(response).xpath(f"//*[@id='setting-{setting}']//*[@class='error']")
    )


def history(response) -> list[list[str]]:
    return [
        [c.text_content().strip() for c in tr.xpath("./td|./th")]
        for tr in page(response).xpath("//table[@class='audit']/tbody/tr")
    ]


def test_admin_edits_the_policy_and_each_change_is_audited(client, admin):
    client.force_login(admin)
    response = client.get(URL)
    assert response.status_code == 200
    help_text = page(response).xpath("//*[@id='help-keep_copy_on_lost_access']")[0].text_content()
    assert "Dynamics" in help_text and "vanish" in help_text
    data = form_data(response) | {
        "conflict_policy": "latest_wins",
        "keep_copy_on_lost_access": "on",
        "mass_change_percent": "25",
        "appointment_filter": "business_unit",
    }
    response = client.post(URL, data, follow=True)
    assert response.status_code == 200
    policy = SyncPolicy.current()
    assert policy.conflict_policy == "latest_wins"
    assert policy.keep_copy_on_lost_access is True
    assert policy.mass_change_percent == 25
    assert policy.appointment_filter == "business_unit"
    assert policy.tracked_category == "Tracked to CRM"  # untouched, and not audited
    audited = {
        c.setting: (c.old_value, c.new_value, c.actor, c.source)
        for c in SyncPolicyChange.objects.all()
    }
    assert audited == {
        "conflict_policy": ("crm_wins", "latest_wins", admin, "web"),
        "keep_copy_on_lost_access": ("False", "True", admin, "web"),
        "mass_change_percent": ("50", "25", admin, "web"),
        "appointment_filter": ("default", "business_unit", admin, "web"),
    }
    rows = {r[2]: r for r in history(response)}
    assert rows["Mass-change threshold"][1] == "Ada L"
    assert rows["Mass-change threshold"][3:5] == ["50 %", "25 %"]
    assert rows["Conflict policy"][4] == "The later edit wins (a tie: the CRM)"
    assert "Saved the sync policy" in response.content.decode()

    again = client.post(URL, form_data(response), follow=True)  # OK without a change
    assert "Nothing to save" in again.content.decode()
    assert SyncPolicyChange.objects.count() == 4


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("mass_change_percent", "0", "from 1 to 100"),
        ("mass_change_percent", "101", "from 1 to 100"),
        ("mass_change_percent", "half", "from 1 to 100"),
        ("mass_change_min_items", "0", "at least 1 item"),
        ("tracked_category", "   ", "Outlook category that marks an item to track"),
        ("conflict_policy", "loudest_wins", "Select a valid choice"),
        ("contact_filter", "everything", "Select a valid choice"),
    ],
)
def test_invalid_values_are_refused_with_a_clear_message_and_nothing_saved(
    client, admin, setting, value, message
):
    client.force_login(admin)
    data = form_data(client.get(URL)) | {"conflict_policy": "exchange_wins", setting: value}
    response = client.post(URL, data)
    assert response.status_code == 400
    assert message in errors_of(response, setting)
    assert "Not saved" in response.content.decode()
    assert SyncPolicy.current().conflict_policy == "crm_wins"  # the valid change is not saved
    assert not SyncPolicyChange.objects.exists()


def test_end_user_sees_the_policy_read_only(client, salesperson):
    SyncPolicy.objects.update_or_create(pk=1, defaults={"keep_copy_on_lost_access": True})
    client.force_login(salesperson)
    response = client.get(URL)
    assert response.status_code == 200
    main = page(response).xpath("//main")[0]
    assert main.xpath(".//form | .//button | .//input | .//select | .//textarea") == []
    text = main.text_content()
    assert "Keep the Outlook copy when access is lost" in text
    assert "Yes: keep it, unsynced" in text
    assert "Dynamics" in text  # the reason for the setting, for users too


def test_end_user_forced_post_is_refused_and_changes_nothing(client, salesperson):
    client.force_login(salesperson)
    response = client.post(
        URL,
        {
            "conflict_policy": "exchange_wins",
            "remote_delete_policy": "restore",
            "tracked_category": "Mine",
            "mass_change_percent": "100",
            "mass_change_min_items": "1",
            "contact_filter": "all",
            "appointment_filter": "all",
            "task_filter": "all",
        },
    )
    assert response.status_code == 403
    policy = SyncPolicy.current()
    assert (policy.conflict_policy, policy.tracked_category) == ("crm_wins", "Tracked to CRM")
    assert not SyncPolicyChange.objects.exists()


def test_user_without_the_view_privilege_gets_403_and_anonymous_signs_in(client, make_user):
    client.force_login(make_user("nobody"))
    response = client.get(URL)
    assert response.status_code == 403
    assert "Conflict policy" not in response.content.decode()
    client.logout()
    response = client.get(URL)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("keep_copy", [False, True])
def test_synchronized_fields_pages_show_the_keep_copy_setting(
    client, admin, salesperson, keep_copy
):
    SyncPolicy.objects.update_or_create(pk=1, defaults={"keep_copy_on_lost_access": keep_copy})
    expected = "copy is kept, no longer synced" if keep_copy else "copy is removed"
    for user, url in (
        (admin, reverse("fieldsync:fields", args=["appointment"])),
        (salesperson, reverse("fieldsync:my_fields", args=["appointment"])),
    ):
        client.force_login(user)
        (line,) = page(client.get(url)).xpath("//*[@id='keep-copy']")
        assert expected in line.text_content()
        assert line.xpath(".//a/@href") == [URL]


def test_settings_index_links_to_the_sync_policy(client, admin):
    client.force_login(admin)
    assert page(client.get(reverse("fieldsync:settings"))).xpath(f"//a[@href='{URL}']")
