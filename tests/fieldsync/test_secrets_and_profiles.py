"""Secrets on error pages (issue #15.4): every server-profile field is validated (the time
zone included) in the form and the API; Test connection turns any connector failure into
words; error reports never show a decrypted password, even with DEBUG on."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from rest_framework.authtoken.models import Token

from fieldsync.mailboxes.services import mailbox_create, server_profile_create
from fieldsync.models.mailboxes import EmailServerProfile
from security.services import role_upsert

pytestmark = pytest.mark.django_db

SERVICE_PASSWORD = "s3rvice-Passw0rd-never-shown"
UNREACHABLE = "http://127.0.0.1:9/EWS/Exchange.asmx"


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True)


@pytest.fixture
def sally_mailbox(make_user):
    sally = make_user("sally")
    role_upsert(
        name="Salesperson",
        levels={("contact", a): "user" for a in ("read", "sync")},
        users=[sally],
    )
    profile = server_profile_create(
        name="Exchange",
        ews_url=UNREACHABLE,
        service_username="svc@x.test",
        service_password=SERVICE_PASSWORD,
        max_wait=1,
    )
    return sally, mailbox_create(owner=sally, email_address="sally@x.test", server_profile=profile)


def test_a_time_zone_typo_is_refused_by_the_service(admin):
    with pytest.raises(ValidationError) as refused:
        server_profile_create(
            name="Typo",
            ews_url=UNREACHABLE,
            service_username="svc@x.test",
            service_password="x",
            timezone_name="Europe/Berln",
        )
    assert "timezone" in refused.value.message_dict
    assert "is not a time zone" in refused.value.message_dict["timezone"][0]


def test_a_time_zone_typo_is_refused_in_the_api(admin):
    client = Client()
    token = Token.objects.create(user=admin)
    answer = client.post(
        "/api/v1/server-profiles/",
        {
            "name": "Typo",
            "kind": "exchange",
            "ews_url": UNREACHABLE,
            "service_username": "svc@x.test",
            "service_password": "x",
            "timezone": "Mars/Olympus",
        },
        "application/json",
        HTTP_AUTHORIZATION=f"Token {token.key}",
    )
    assert answer.status_code == 400, answer.content
    assert "timezone" in answer.json()["error"]["fields"]
    assert not EmailServerProfile.objects.filter(name="Typo").exists()


def test_a_time_zone_typo_is_refused_in_the_form(admin):
    client = Client()
    client.force_login(admin)
    page = client.post(
        "/sync/profiles/new/",
        {
            "name": "Typo",
            "kind": "exchange",
            "ews_url": UNREACHABLE,
            "auth_type": "basic",
            "use_impersonation": "on",
            "service_username": "svc@x.test",
            "service_password": "x",
            "timezone": "Europe/Berln",
            "max_wait": "5",
        },
    )
    assert page.status_code in (200, 400)
    assert "is not a time zone" in page.content.decode()
    assert not EmailServerProfile.objects.filter(name="Typo").exists()


def test_test_connection_with_a_broken_profile_is_words_not_a_debug_page(sally_mailbox, settings):
    settings.DEBUG = True
    sally, mailbox = sally_mailbox
    # A profile saved before validation existed, with a time zone no library knows.
    EmailServerProfile.objects.update(timezone="Europe/Berln")
    client = Client(raise_request_exception=False)
    client.force_login(sally)
    answer = client.post(f"/sync/mailboxes/{mailbox.pk}/test/", follow=True)
    assert answer.status_code == 200
    text = answer.content.decode()
    assert "Test connection failed" in text
    assert SERVICE_PASSWORD not in text


def test_an_error_report_never_shows_the_decrypted_password(sally_mailbox, settings, monkeypatch):
    settings.DEBUG = True
    sally, mailbox = sally_mailbox
    from fieldsync.mailboxes import connection

    def crash(**kwargs):
        raise RuntimeError("the connector crashed")

    monkeypatch.setattr(connection, "ExchangeConnector", crash)
    monkeypatch.setattr("fieldsync.mailboxes.preview.connector_for", connection.connector_for)
    client = Client(raise_request_exception=False)
    client.force_login(sally)
    answer = client.post(f"/sync/mailboxes/{mailbox.pk}/preview/")
    assert answer.status_code == 500
    text = answer.content.decode()
    assert "the connector crashed" in text  # the debug page itself
    assert SERVICE_PASSWORD not in text


def test_a_run_error_keeps_no_record_value():
    """An unexpected error's text can quote record values (a database or validation error):
    the run history, which mailbox managers read too, keeps its kind only."""
    from fieldsync.mailboxes.connection import describe_error

    code, message = describe_error(ValueError("government_id 'GOV-123-45' is invalid"))
    assert code == "ValueError"
    assert "GOV-123-45" not in message and "ValueError" in message
