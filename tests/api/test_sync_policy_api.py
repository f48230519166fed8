"""GET/PATCH /api/v1/sync-policy/ and its change log: reading for whoever may view the sync
settings, changing for administrators, the API's error shape for refusals."""

from __future__ import annotations

import pytest

from fieldsync.models import SyncPolicyChange
from fieldsync.models.sync import SyncPolicy

from .conftest import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/v1/sync-policy/"


@pytest.mark.parametrize("who", ["end_user", "admin"])
def test_users_who_may_view_the_settings_read_the_policy(clients, who):
    response = clients[who].get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["conflict_policy"] == "crm_wins"
    assert body["keep_copy_on_lost_access"] is False
    assert body["mass_change_percent"] == 50
    assert body["tracked_category"] == "Tracked to CRM"
    assert body["contact_filter"] == "default"


def test_admin_patches_some_settings_and_each_change_is_audited_as_api(clients, org):
    response = clients["admin"].patch(
        URL,
        {"conflict_policy": "latest_wins", "keep_copy_on_lost_access": True, "task_filter": "all"},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["conflict_policy"], body["keep_copy_on_lost_access"]) == ("latest_wins", True)
    assert body["mass_change_percent"] == 50  # not sent, not changed
    policy = SyncPolicy.current()
    assert (policy.conflict_policy, policy.task_filter) == ("latest_wins", "all")
    log = clients["admin"].get(URL + "changes/").json()["results"]
    assert {(c["setting"], c["old_value"], c["new_value"]) for c in log} == {
        ("conflict_policy", "crm_wins", "latest_wins"),
        ("keep_copy_on_lost_access", "False", "True"),
        ("task_filter", "default", "all"),
    }
    assert {(c["actor"], c["source"]) for c in log} == {("ada", "api")}


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"mass_change_percent": 0}, "mass_change_percent", "from 1 to 100"),
        ({"mass_change_percent": 101}, "mass_change_percent", "from 1 to 100"),
        ({"mass_change_percent": "lots"}, "mass_change_percent", "from 1 to 100"),
        ({"mass_change_min_items": 0}, "mass_change_min_items", "at least 1 item"),
        ({"tracked_category": "  "}, "tracked_category", "Outlook category"),
        ({"conflict_policy": "loudest_wins"}, "conflict_policy", "valid: crm_wins"),
        ({"contact_filter": "everyone"}, "contact_filter", "valid: default"),
        ({"colour": "blue"}, "colour", "Unknown setting"),
    ],
)
def test_invalid_values_are_400_naming_the_setting_and_nothing_is_saved(
    clients, body, field, message
):
    response = clients["admin"].patch(
        URL, {"conflict_policy": "exchange_wins", **body}, format="json"
    )
    error = assert_error(response, 400)
    assert message in " ".join(error["fields"][field])
    assert SyncPolicy.current().conflict_policy == "crm_wins"
    assert not SyncPolicyChange.objects.exists()


def test_a_body_that_is_not_an_object_is_400(clients):
    assert_error(clients["admin"].patch(URL, [1, 2], format="json"), 400, "invalid")


def test_end_user_patch_is_403_and_changes_nothing(clients):
    response = clients["end_user"].patch(URL, {"keep_copy_on_lost_access": True}, format="json")
    assert_error(response, 403, "permission_denied")
    assert SyncPolicy.current().keep_copy_on_lost_access is False
    assert not SyncPolicyChange.objects.exists()


def test_user_without_the_view_privilege_gets_403(make_user):
    from .conftest import token_client

    client = token_client(make_user("nobody"))
    assert_error(client.get(URL), 403, "permission_denied")
    assert_error(client.get(URL + "changes/"), 403, "permission_denied")


def test_anonymous_is_401(clients):
    assert_error(clients["anonymous"].get(URL), 401, "not_authenticated")
    assert_error(clients["anonymous"].patch(URL, {}, format="json"), 401)


def test_the_schema_documents_the_sync_policy(clients):
    schema = clients["anonymous"].get("/api/v1/schema/?format=json").json()
    ops = schema["paths"]["/api/v1/sync-policy/"]
    assert set(ops) >= {"get", "patch"}
    assert "/api/v1/sync-policy/changes/" in schema["paths"]
