"""Shared fixtures: users in business units, the demo organization."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Debian's chromium (Playwright cannot download a browser here), started quietly: without the
# background-networking flags it keeps dialling hosts this closed network refuses.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The browser tests take the docs' screenshots. They land in docs/screenshots/ only when asked
# (SYNCADMIN_SCREENSHOTS=1), so a plain `make test` leaves the checkout as it found it.
_ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = (
    _ROOT / "docs" / "screenshots"
    if os.environ.get("SYNCADMIN_SCREENSHOTS") == "1"
    else _ROOT / "var" / "screenshots"
)

# The service account of the in-process EWS test server: it may impersonate every mailbox.
EWS_SERVICE = ("svc@ews.test", "svc-secret")


def pytest_configure(config):  # type: ignore[no-untyped-def]
    """A fast password hasher for the whole suite: tests make users by the dozen, and the
    default hasher costs about half a second each on this 2-core machine."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Sign-in lockout counts failures per user name and address: the suite signs in wrongly
    # on purpose here and there, and the test client's login() passes no request (which the
    # lockout backend needs). tests/security/test_signin_lockout.py turns it on.
    settings.AXES_ENABLED = False


@pytest.fixture
def business_units(db):
    from security.models import BusinessUnit

    root = BusinessUnit.objects.create(name="Contoso")
    sales = BusinessUnit.objects.create(name="Sales", parent=root)
    service = BusinessUnit.objects.create(name="Service", parent=root)
    return {"root": root, "sales": sales, "service": service}


@pytest.fixture
def make_user(db, business_units):
    from security.models import User

    def make(username: str, bu: str = "sales", **extra):
        return User.objects.create_user(
            username=username,
            password="pw-" + username,
            business_unit=business_units[bu],
            **extra,
        )

    return make


@pytest.fixture(scope="session")
def browser():
    """One headless chromium for every browser test of the run."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # between page actions are still plain synchronous calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def ews_server():
    """One in-process EWS test server (real HTTP on 127.0.0.1) for the whole run."""
    from connectors.ewsserver import EwsServer

    server = EwsServer({}, service_accounts={EWS_SERVICE[0]: EWS_SERVICE[1]})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ews(ews_server):
    """The server with no faults armed and zeroed request counters."""
    import exchangelib

    ews_server.reset()
    yield ews_server
    ews_server.reset()
    # exchangelib caches connections (and their retry policy) per endpoint and credentials.
    exchangelib.close_connections()


# The Graph test server (one per session) and connectors bound to it, for every test package.
from tests.connectors.graph_fixtures import (  # noqa: E402,F401
    graph,
    graph_mailbox,
    graph_server,
    make_graph,
)
