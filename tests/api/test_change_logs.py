"""One rule for the change logs (issue #15.9), pages and API alike: the settings audit and the
sync policy's change log are for administrators of the synchronization settings. A user who
may only view the settings reads the settings, not who changed them."""

from __future__ import annotations

import pytest
from django.test import Client

from .conftest import assert_error

LOGS_API = ("/api/v1/audit/", "/api/v1/sync-policy/changes/")


@pytest.mark.parametrize("path", LOGS_API)
@pytest.mark.parametrize("who", ["end_user", "restricted"])
def test_read_only_users_may_not_read_change_logs_in_the_api(clients, path, who):
    error = assert_error(clients[who].get(path), 403, "permission_denied")
    assert "change logs" in error["message"]
    # They still read the settings themselves.
    assert clients[who].get("/api/v1/sync-policy/").status_code == 200
    assert clients[who].get("/api/v1/entities/contact/fields/").status_code == 200


@pytest.mark.parametrize("path", LOGS_API)
def test_administrators_read_change_logs_in_the_api(clients, path):
    assert clients["admin"].get(path).status_code == 200


def test_the_pages_follow_the_same_rule(org):
    sally = Client()
    sally.force_login(org["sally"])
    history = sally.get("/settings/email-configuration/synchronization/change-history/")
    assert history.status_code in (403, 404)
    policy_page = sally.get(
        "/settings/email-configuration/synchronization/sync-policy/"
    ).content.decode()
    assert "Change history" not in policy_page
    admin = Client()
    admin.force_login(org["admin"])
    assert (
        "Change history"
        in admin.get("/settings/email-configuration/synchronization/sync-policy/").content.decode()
    )
