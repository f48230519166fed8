"""Mailboxes and server profiles: credentials encrypted at rest, never readable back, and
"Test connection" saying in words what the server refused."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings

from fieldsync.mailboxes import credentials
from fieldsync.mailboxes.connection import connector_for, mailbox_test_connection
from fieldsync.mailboxes.services import (
    mailbox_create,
    mailbox_update,
    server_profile_create,
    server_profile_update,
)
from fieldsync.models.mailboxes import Mailbox, MailboxStatus

from .conftest import SERVICE


def _raw_columns(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])
        return " ".join(str(v) for v in cursor.fetchone())


def test_passwords_are_stored_encrypted_and_only_the_connector_sees_them(profile, make_mailbox):
    assert SERVICE[1] not in _raw_columns("fieldsync_emailserverprofile", profile.pk)
    personal = server_profile_create(
        name="Per-mailbox sign-in", ews_url=profile.ews_url, use_impersonation=False
    )
    mailbox = make_mailbox(server_profile=personal, username="u", password="my-own-secret")
    assert "my-own-secret" not in _raw_columns("fieldsync_mailbox", mailbox.pk)
    connector = connector_for(mailbox)
    assert connector.config.credentials.password == "my-own-secret"
    assert connector.access_type == "delegate"


def test_a_changed_key_names_the_problem_instead_of_crashing(profile, make_mailbox):
    mailbox = make_mailbox()
    from cryptography.fernet import Fernet

    with override_settings(SYNCADMIN_CREDENTIALS_KEYS=[Fernet.generate_key().decode()]):
        check = mailbox_test_connection(mailbox=mailbox)
    assert not check.ok
    assert "cannot be decrypted" in check.message


def test_key_rotation_keeps_old_ciphertexts_readable():
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(SYNCADMIN_CREDENTIALS_KEYS=[old]):
        token = credentials.encrypt("s3cret")
    with override_settings(SYNCADMIN_CREDENTIALS_KEYS=[new, old]):
        assert credentials.decrypt(token) == "s3cret"
        rotated = credentials.rotate(token)
    with override_settings(SYNCADMIN_CREDENTIALS_KEYS=[new]):
        assert credentials.decrypt(rotated) == "s3cret"


def test_a_profile_without_impersonation_needs_per_mailbox_credentials(profile, make_user):
    personal = server_profile_create(
        name="Per-mailbox", ews_url=profile.ews_url, use_impersonation=False
    )
    with pytest.raises(ValidationError, match="needs its own user name and password"):
        mailbox_create(
            owner=make_user("nopw"), email_address="nopw@worker.test", server_profile=personal
        )


def test_test_connection_succeeds_against_a_reachable_mailbox(make_mailbox):
    check = mailbox_test_connection(mailbox=make_mailbox())
    assert check.ok, check.message
    assert "Connected to" in check.message


def test_test_connection_explains_a_refused_password(profile, make_mailbox):
    mailbox = make_mailbox()
    server_profile_update(profile=profile, service_password="wrong")
    check = mailbox_test_connection(mailbox=Mailbox.objects.get(pk=mailbox.pk))
    assert not check.ok
    assert "refused the user name or password (HTTP 401)" in check.message
    assert "service account" in check.message


def test_test_connection_explains_a_missing_mailbox(make_mailbox):
    check = mailbox_test_connection(mailbox=make_mailbox(on_server=False))
    assert not check.ok
    assert check.code == "ErrorNonExistentMailbox"
    assert "has no mailbox" in check.message


def test_test_connection_explains_denied_impersonation(ews, make_mailbox):
    ews.store.add_mailbox("plain@worker.test", "plain-pw")
    profile = server_profile_create(
        name="Not a service account",
        ews_url=ews.url,
        service_username="plain@worker.test",
        service_password="plain-pw",
    )
    check = mailbox_test_connection(mailbox=make_mailbox(server_profile=profile))
    assert not check.ok
    assert "may not impersonate" in check.message
    assert "ApplicationImpersonation" in check.message


def test_test_connection_explains_an_unreachable_server(profile, make_mailbox):
    server_profile_update(profile=profile, ews_url="http://127.0.0.1:9/EWS/Exchange.asmx")
    check = mailbox_test_connection(mailbox=Mailbox.objects.get(pk=make_mailbox().pk))
    assert not check.ok
    assert "Could not complete the request to http://127.0.0.1:9/" in check.message


def test_fixing_the_credentials_ends_the_back_off(make_mailbox):
    mailbox = make_mailbox()
    Mailbox.objects.filter(pk=mailbox.pk).update(
        status=MailboxStatus.FAILING, failure_count=3, next_attempt_at="2999-01-01T00:00Z"
    )
    mailbox.refresh_from_db()
    mailbox_update(mailbox=mailbox, sync_tasks=False)  # not a fix: still backing off
    assert Mailbox.objects.get(pk=mailbox.pk).next_attempt_at is not None
    mailbox_update(mailbox=mailbox, email_address=mailbox.email_address.upper().replace("@", "2@"))
    fixed = Mailbox.objects.get(pk=mailbox.pk)
    assert fixed.next_attempt_at is None and fixed.failure_count == 0
