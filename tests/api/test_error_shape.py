"""No input makes a 500, and every API answer is JSON in the one error shape (issue #15.5).

Beyond the schema fuzz (test_fuzz_api.py): values it does not generate on its own, at every
path and every query parameter the OpenAPI schema names, and the answers Django gives before
or outside the REST framework's views (unknown paths, CSRF, oversized and deeply nested
bodies).
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from .conftest import assert_error

HUGE_INT = str(2**64 + 7)
EXTREMES = {
    "integer": [HUGE_INT, "-" + HUGE_INT, "1e999"],
    "number": [HUGE_INT, "1e999"],
    "date-time": ["9999-12-31T23:59:59-15:00", "0001-01-01T00:00:00+15:00", "9999-12-31T23:59:59"],
    "date": ["9999-12-31", "0001-01-01"],
    "string": ["\x00", "x" * 5000],
    "boolean": ["maybe"],
}
PATH_VALUES = [HUGE_INT, "-1", "0x10", "%00"]


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        answer = Client().get("/api/v1/schema/?format=json")
    return answer.json()


def _client(user, *, raise_errors: bool = False) -> Client:
    client = Client(raise_request_exception=raise_errors)
    key = Token.objects.get_or_create(user=user)[0].key
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
    return client


def _wrong(response, what: str) -> list[str]:
    """What is wrong with an answer: a 5xx, or a 4xx that is not the API's JSON error body."""
    if response.status_code >= 500:
        return [f"{what}: {response.status_code}"]
    if response.status_code >= 400:
        try:
            assert_error(response, response.status_code)
        except (AssertionError, ValueError):
            return [f"{what}: {response.status_code} {response['Content-Type']}"]
    return []


def _kind(param: dict) -> str:
    spec = param.get("schema", {})
    return spec.get("format") if spec.get("format") in EXTREMES else spec.get("type", "string")


def test_extreme_filter_values_and_ids_are_refused_in_words(org, schema):
    """Every GET operation, every query parameter of it at its type's extremes (64-bit
    overflow, dates whose offset falls off the calendar, NUL), every path id out of range."""
    client = _client(org["admin"])
    tried = 0
    wrong: list[str] = []
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if get is None:
            continue
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        for param in get.get("parameters", []):
            if param["in"] != "query":
                continue
            for value in EXTREMES.get(_kind(param), EXTREMES["string"]):
                response = client.get(concrete, {param["name"]: value})
                wrong += _wrong(response, f"GET {concrete}?{param['name']}={value!r}")
                tried += 1
        if "{" in path:
            for value in PATH_VALUES:
                url = re.sub(r"\{[^}]+\}", value, path)
                for method in ("get", "patch", "delete"):
                    if method == "get" and method in operations:
                        response = client.get(url)
                    elif method in operations:
                        response = getattr(client, method)(url, "{}", "application/json")
                    else:
                        continue
                        wrong += _wrong(response, f"{method.upper()} {url}")
                        tried += 1
    assert not wrong, "\n".join(wrong)
    assert tried > 100


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
def test_unknown_api_paths_answer_json_for_every_method_with_a_session(org, method):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org["sally"])
    if method == "get":
        response = client.get("/api/v1/no-such-thing/")
    else:
        response = getattr(client, method)("/api/v1/no-such-thing/", "{}", "application/json")
    assert_error(response, 404, "not_found")


def test_a_session_post_without_csrf_token_is_a_json_403(org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(org["sally"])
    response = client.post("/api/v1/contacts/", {"last_name": "X"}, "application/json")
    assert_error(response, 403)


def test_a_body_over_the_upload_limit_is_a_json_413(org, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    big = json.dumps({"last_name": "Big", "description": "x" * 20_000})
    response = _client(org["sally"]).post("/api/v1/contacts/", big, "application/json")
    assert_error(response, 413, "too_large")
    # Form-encoded (what Django itself reads) and an unknown path alike.
    client = Client(raise_request_exception=False)
    client.force_login(org["sally"])
    form = client.post("/api/v1/contacts/", {"description": "x" * 20_000})
    assert form.status_code in (400, 403, 413, 415)
    assert_error(form, form.status_code)
    unknown = _client(org["sally"]).post("/api/v1/nothing/", big, "application/json")
    assert_error(unknown, 404, "not_found")


def test_deeply_nested_json_is_a_parse_error(org):
    body = "[" * 100_000 + "]" * 100_000
    for method, path in (("post", "/api/v1/contacts/"), ("patch", "/api/v1/sync-policy/")):
        response = getattr(_client(org["admin"]), method)(path, body, "application/json")
        assert_error(response, 400, "parse_error")
    # Deep but shallow enough to parse: refused all the same, before anything reads it.
    response = _client(org["admin"]).post(
        "/api/v1/contacts/", "[" * 50 + "]" * 50, "application/json"
    )
    assert_error(response, 400, "parse_error")


def test_a_crash_under_the_api_is_a_json_500_without_details(org, monkeypatch):
    from crm.api import views

    def boom(*args, **kwargs):
        raise RuntimeError("secret-in-traceback")

    monkeypatch.setattr(views.ContactViewSet, "list", boom)
    response = _client(org["sally"]).get("/api/v1/contacts/")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "secret-in-traceback" not in response.content.decode()
