"""Fixtures for the server-side sync: an in-process EWS test server, a server profile that
impersonates through its service account, and mailboxes for users."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import pytest

from tests.conftest import EWS_SERVICE

SERVICE = EWS_SERVICE
_counter = itertools.count(1)


@pytest.fixture
def profile(db, ews):
    from fieldsync.mailboxes.services import server_profile_create

    return server_profile_create(
        name="Test Exchange",
        ews_url=ews.url,
        service_username=SERVICE[0],
        service_password=SERVICE[1],
        max_wait=2,
    )


@pytest.fixture
def make_mailbox(ews, profile, make_user) -> Callable[..., object]:
    from fieldsync.mailboxes.services import mailbox_create

    def make(user: str | None = None, *, on_server: bool = True, **kw):
        n = next(_counter)
        username = user or f"user{n}"
        address = f"{username}@worker.test"
        if on_server:
            ews.store.add_mailbox(address, "pw-" + address)
        options = {
            "owner": make_user(username),
            "email_address": address,
            "server_profile": profile,
        }
        options.update(kw)
        return mailbox_create(**options)

    return make


def _on_postgres_and_redis() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgres") and bool(
        os.environ.get("REDIS_URL")
    )


def pytest_collection_modifyitems(config, items):
    """The end-to-end tests need PostgreSQL and Redis (CI sets both, and must run them). On a
    machine without them they are deselected with a note, never silently passed."""
    if _on_postgres_and_redis() or os.environ.get("SYNCADMIN_REQUIRE_POSTGRES") == "1":
        return
    here = os.path.dirname(__file__)
    kept, dropped = [], []
    for item in items:
        mine = str(item.fspath).startswith(here)
        (dropped if mine and item.get_closest_marker("postgres") else kept).append(item)
    if dropped:
        items[:] = kept
        config.hook.pytest_deselected(items=dropped)
        config.issue_config_time_warning(
            pytest.PytestWarning(
                f"{len(dropped)} worker tests that need PostgreSQL and Redis deselected: set DATABASE_URL=postgres://... "
                "and REDIS_URL=redis://... to run them (CI does)."
            ),
            stacklevel=2,
        )
