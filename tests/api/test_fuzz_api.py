"""Property-based fuzz of the API against its own OpenAPI schema (schemathesis, in-process).

Every operation gets valid and invalid generated requests (date-times include the calendar's
ends with extreme offsets; test_error_shape.py adds 64-bit overflows, deep nesting, oversized
bodies and paths outside the schema) (contacts as a field-restricted user,
the rest as an administrator): no answer may be a 5xx or break the schema. Bounded for CI.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from crm.models import Contact, Task
from syncadmin.wsgi import application

EXAMPLES_PER_OPERATION = 10

# Date-times the generator would rarely reach on its own: offsets that push a date off the
# calendar once converted to UTC, the calendar's ends, and ordinary ones.
EXTREME_DATE_TIMES = st.sampled_from(
    [
        "9999-12-31T23:59:59-15:00",
        "0001-01-01T00:00:00+15:00",
        "9999-12-31T23:59:59.999999+00:00",
        "0001-01-01T00:00:00Z",
    ]
) | st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
schemathesis.openapi.format("date-time", EXTREME_DATE_TIMES)
schemathesis.openapi.format(
    "date", st.sampled_from(["9999-12-31", "0001-01-01"]) | st.dates().map(str)
)


@pytest.fixture
def _keep_the_test_connection():
    # The WSGI handler would close the connection after each request, ending the test's
    # transaction on PostgreSQL; Django's own test client disconnects these signals too.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(org, settings, _keep_the_test_connection):
    # The fuzz sends more requests a minute than the production token rate allows.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1000000/minute"},
    }
    for user in (org["admin"], org["rita"]):
        Contact.objects.create(owner=user, last_name="Fuzz", description="hidden from rita")
        Task.objects.create(owner=user, subject="Fuzz")
    return {name: Token.objects.get_or_create(user=org[name])[0].key for name in ("admin", "rita")}


def caller(path: str) -> str:
    """Contacts have secured fields: fuzz them, and the Outlook client sync (whose pages and
    answers leave the same field out), as rita; the rest as the administrator, who reaches
    every success path."""
    return "rita" if path.startswith(("/api/v1/contacts/", "/api/v1/sync/")) else "admin"


# Loaded at collection (pytest-django has set Django up by then); the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)


@schema.parametrize()
@pytest.mark.django_db
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_no_response_outside_the_schema(case, tokens):
    token = tokens[caller(case.operation.path)]
    response = case.call(headers={"Authorization": f"Token {token}"})
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
