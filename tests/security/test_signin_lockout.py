"""Sign-in lockout (issue #15.7): repeated failures lock the user name (from any address) and
the address (for any user name), on the site and the admin sign-in; the page says why and
for how long; every failure is recorded; an administrator unlocks in the admin."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.test import Client


@pytest.fixture(autouse=True)
def _lockout_on(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def _sign_in(path: str, username: str, password: str, address: str):
    client = Client(REMOTE_ADDR=address)
    return client, client.post(path, {"username": username, "password": password})


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_a_user_name_is_locked_after_repeated_failures_from_any_address(make_user, path):
    make_user("sally", is_staff=True)
    for n in range(3):
        _sign_in(path, "sally", "guess", f"10.0.0.{n}")
    client, page = _sign_in(path, "sally", "pw-sally", "10.9.9.9")
    assert page.status_code == 429
    text = page.content.decode()
    assert "Too many failed sign-ins" in text and "sally" in text
    assert "0:15:00" in text  # how long
    assert "ask an administrator to unlock" in text
    assert not _signed_in(client)
    # Recorded: who, from where, on which page.
    failures = AccessFailureLog.objects.filter(username="sally")
    assert failures.count() >= 3
    assert {f.ip_address for f in failures} >= {"10.0.0.0", "10.0.0.1", "10.0.0.2"}


def test_an_address_is_locked_for_every_user_name(make_user):
    make_user("mona")
    for name in ("a", "b", "c"):
        _sign_in("/accounts/login/", name, "guess", "10.1.1.1")
    client, page = _sign_in("/accounts/login/", "mona", "pw-mona", "10.1.1.1")
    assert page.status_code == 429
    assert not _signed_in(client)
    # The same user from another address is not locked.
    other, _ = _sign_in("/accounts/login/", "mona", "pw-mona", "10.2.2.2")
    assert _signed_in(other)


def test_fewer_failures_than_the_limit_do_not_lock_and_a_success_resets(make_user):
    make_user("sam")
    for _ in range(2):
        _sign_in("/accounts/login/", "sam", "guess", "10.3.3.3")
    client, _ = _sign_in("/accounts/login/", "sam", "pw-sam", "10.3.3.3")
    assert _signed_in(client)
    assert not AccessAttempt.objects.filter(username="sam").exists()


def test_an_administrator_unlocks_in_the_admin(make_user):
    make_user("sally")
    admin = make_user("ada", is_superuser=True, is_staff=True)
    for _ in range(3):
        _sign_in("/accounts/login/", "sally", "guess", "10.4.4.4")
    assert _sign_in("/accounts/login/", "sally", "pw-sally", "10.5.5.5")[1].status_code == 429
    staff = Client()
    staff.force_login(admin)
    listing = staff.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "sally" in listing.content.decode()
    ids = list(AccessAttempt.objects.filter(username="sally").values_list("pk", flat=True))
    done = staff.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert done.status_code == 302
    client, _ = _sign_in("/accounts/login/", "sally", "pw-sally", "10.5.5.5")
    assert _signed_in(client)
