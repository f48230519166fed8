"""The API test organization: an admin, two salespeople and a field-restricted one, with tokens.

Contact.description and Contact.government_id are secured fields. sally's profile opens both;
rita's profile reads government_id only and does not open description at all.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from crm.models import Appointment, Contact, Task
from security.entities import RECORD_ENTITIES
from security.services import field_profile_upsert, role_upsert

RECORD_ACTIONS = ("create", "read", "write", "delete", "sync")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Four users per test: the production hasher would make setup take seconds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _own_throttle_counts(settings, request):
    # Throttle counters live in the cache; a private in-memory cache per test keeps counts
    # from leaking between tests without flushing a Redis database others may use.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"api-tests-{request.node.nodeid}",
        }
    }


@pytest.fixture
def org(make_user, business_units):
    admin = make_user("ada", bu="root", is_superuser=True, is_staff=True)
    sally = make_user("sally")
    sam = make_user("sam", bu="service")
    rita = make_user("rita")
    own = {(e, a): "user" for e in RECORD_ENTITIES for a in RECORD_ACTIONS}
    role_upsert(
        name="Salesperson",
        levels={**own, ("sync_settings", "read"): "organization"},
        users=[sally, sam, rita],
    )
    field_profile_upsert(
        name="Full",
        grants={
            ("contact", "description"): ("read", "create", "update"),
            ("contact", "government_id"): ("read", "create", "update"),
        },
        users=[sally, sam],
    )
    field_profile_upsert(
        name="Read government id",
        grants={("contact", "government_id"): ("read",)},
        users=[rita],
    )
    return {"admin": admin, "sally": sally, "sam": sam, "rita": rita}


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def clients(org):
    """anonymous, end user (sally), admin, field-restricted user (rita): token clients."""
    return {
        "anonymous": token_client(None),
        "end_user": token_client(org["sally"]),
        "admin": token_client(org["admin"]),
        "restricted": token_client(org["rita"]),
    }


@pytest.fixture
def make_contact():
    def make(owner, **values) -> Contact:
        values.setdefault("first_name", "Ann")
        values.setdefault("last_name", "Adler")
        return Contact.objects.create(owner=owner, **values)

    return make


@pytest.fixture
def make_appointment():
    def make(owner, **values) -> Appointment:
        start = timezone.now().replace(microsecond=0) + dt.timedelta(days=1)
        values.setdefault("subject", "Lunch")
        values.setdefault("scheduled_start", start)
        values.setdefault("scheduled_end", start + dt.timedelta(hours=1))
        return Appointment.objects.create(owner=owner, **values)

    return make


@pytest.fixture
def make_task():
    def make(owner, **values) -> Task:
        values.setdefault("subject", "Call back")
        return Task.objects.create(owner=owner, **values)

    return make


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The one error shape: {"error": {"code", "message", ...}}; returns the error object."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) <= {"code", "message", "fields", "details"}
    if code is not None:
        assert error["code"] == code, error
    return error
