"""What every endpoint shares: the error body, authentication, throttling of token clients,
per-user tokens, and the OpenAPI schema with docs served without a CDN."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from rest_framework.test import APIClient

from crm.models import Contact

from .conftest import assert_error

pytestmark = pytest.mark.django_db


# ---- one error shape -----------------------------------------------------------------------


def test_malformed_json_is_400(clients):
    response = clients["end_user"].generic(
        "POST", "/api/v1/contacts/", '{"last_name": ', content_type="application/json"
    )
    assert "JSON parse error" in assert_error(response, 400, "parse_error")["message"]


def test_a_lone_surrogate_is_400_not_a_database_error(clients):
    response = clients["end_user"].generic(
        "POST", "/api/v1/contacts/", '{"last_name": "\\ud800"}', content_type="application/json"
    )
    assert_error(response, 400, "parse_error")
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        '{"last_name": "a\\u0000b"}',
        '{"changes": [{"values": {"x\\u0000": 1}}]}',
    ],
)
def test_a_nul_character_anywhere_is_400_not_a_database_error(clients, body):
    """PostgreSQL keeps no NUL in text or jsonb: found by the schema fuzz on the sync API."""
    response = clients["end_user"].generic(
        "POST", "/api/v1/contacts/", body, content_type="application/json"
    )
    assert "NUL" in assert_error(response, 400, "parse_error")["message"]
    assert not Contact.objects.exists()


def test_a_non_object_body_is_400(clients):
    response = clients["end_user"].post("/api/v1/contacts/", [1, 2], format="json")
    assert_error(response, 400, "invalid")


def test_a_body_that_is_not_json_is_415(clients):
    response = clients["end_user"].generic(
        "POST", "/api/v1/tasks/", "subject=x", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")


def test_date_time_filters_take_any_offset_and_refuse_dates_off_the_calendar(clients):
    # PostgreSQL refuses offsets beyond 15:59 that ISO 8601 allows: filters convert to UTC.
    ok = clients["admin"].get("/api/v1/audit/?since=0886-04-27T03:57:36-16:28")
    assert ok.status_code == 200
    off = clients["admin"].get("/api/v1/contacts/?modified_after=0001-01-01T00:00:00%2B05:00")
    assert "modified_after" in assert_error(off, 400, "invalid")["fields"]


def test_a_method_an_endpoint_lacks_is_405(clients):
    assert_error(clients["admin"].delete("/api/v1/entities/"), 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["/api/v1/nothing/here/", "/api/v1/contacts"])
def test_an_unknown_path_gets_the_json_404(clients, path):
    error = assert_error(clients["admin"].get(path), 404, "not_found")
    assert path in error["message"]


def test_a_wrong_token_is_401(clients):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    assert_error(client.get("/api/v1/entities/"), 401, "authentication_failed")


# ---- session authentication ----------------------------------------------------------------


def test_a_signed_in_browser_session_uses_the_api_with_csrf(org):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(org["sally"])
    assert client.get("/api/v1/contacts/").status_code == 200
    refused = client.post("/api/v1/tasks/", {"subject": "x"}, format="json")
    assert "CSRF" in assert_error(refused, 403, "permission_denied")["message"]


# ---- throttling ----------------------------------------------------------------------------


@pytest.fixture
def three_a_minute(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "3/minute"},
    }


def test_token_clients_are_rate_limited_with_429(clients, three_a_minute):
    for _ in range(3):
        assert clients["end_user"].get("/api/v1/entities/").status_code == 200
    response = clients["end_user"].get("/api/v1/entities/")
    error = assert_error(response, 429, "throttled")
    assert 0 < error["details"]["retry_after"] <= 60
    assert int(response["Retry-After"]) == error["details"]["retry_after"]
    # The limit is per token: another client is not slowed down by sally's script.
    assert clients["restricted"].get("/api/v1/entities/").status_code == 200


def test_browser_sessions_are_not_rate_limited(org, three_a_minute):
    client = APIClient()
    client.force_login(org["sally"])
    assert all(client.get("/api/v1/entities/").status_code == 200 for _ in range(5))


# ---- per-user tokens -----------------------------------------------------------------------


def test_admin_creates_replaces_and_revokes_a_users_token(clients, org):
    created = clients["admin"].post("/api/v1/users/sally/token/")
    assert created.status_code == 201
    key = created.json()["key"]
    assert created.json()["username"] == "sally"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/contacts/").status_code == 200

    replaced = clients["admin"].post("/api/v1/users/sally/token/").json()["key"]
    assert replaced != key
    assert_error(client.get("/api/v1/contacts/"), 401)

    assert clients["admin"].delete("/api/v1/users/sally/token/").status_code == 204
    client.credentials(HTTP_AUTHORIZATION=f"Token {replaced}")
    assert_error(client.get("/api/v1/contacts/"), 401)


@pytest.mark.parametrize("who", ["end_user", "restricted"])
def test_users_may_not_manage_tokens(clients, org, who):
    assert_error(clients[who].post("/api/v1/users/sam/token/"), 403, "permission_denied")
    assert_error(clients[who].delete("/api/v1/users/sally/token/"), 403)
    assert clients["end_user"].get("/api/v1/entities/").status_code == 200


def test_token_endpoint_for_anonymous_and_unknown_users(clients):
    assert_error(clients["anonymous"].post("/api/v1/users/sally/token/"), 401)
    assert_error(clients["admin"].post("/api/v1/users/nobody/token/"), 404)
    assert_error(clients["admin"].post("/api/v1/users/bad%00name/token/"), 404)


# ---- schema and docs -----------------------------------------------------------------------


def test_the_openapi_schema_is_public_and_describes_the_api():
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in (
        "/api/v1/entities/",
        "/api/v1/entities/{entity}/fields/",
        "/api/v1/entities/{entity}/fields/{crm_field}/",
        "/api/v1/audit/",
        "/api/v1/contacts/",
        "/api/v1/appointments/{id}/",
        "/api/v1/tasks/",
    ):
        assert path in paths
    conflict = paths["/api/v1/entities/{entity}/fields/"]["put"]["responses"]["409"]
    assert conflict["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


@pytest.mark.parametrize("page", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_the_docs_pages_load_their_assets_from_this_server(page):
    response = APIClient().get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower() and "//unpkg" not in html
    assets = re.findall(r'src="/static/([^"]+\.js)"', html)
    assert assets
    assert all(finders.find(a) for a in assets), assets


def test_the_api_root_lists_the_endpoints(clients):
    body = clients["end_user"].get("/api/v1/").json()
    assert body["contacts"].endswith("/api/v1/contacts/")
    assert body["docs"].endswith("/api/v1/docs/")
