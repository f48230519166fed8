"""Fixtures for the server-side sync: an in-process EWS test server, a server profile that
impersonates through its service account, and mailboxes for users."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import exchangelib
import pytest

from connectors.ewsserver import EwsServer

SERVICE = ("svc@worker.test", "svc-secret")
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def ews_server() -> Iterator[EwsServer]:
    server = EwsServer({}, service_accounts={SERVICE[0]: SERVICE[1]})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ews(ews_server: EwsServer) -> Iterator[EwsServer]:
    ews_server.reset()
    yield ews_server
    ews_server.reset()
    exchangelib.close_connections()


@pytest.fixture
def profile(db, ews):
    from fieldsync.mailboxes import server_profile_create

    return server_profile_create(
        name="Test Exchange",
        ews_url=ews.url,
        service_username=SERVICE[0],
        service_password=SERVICE[1],
        max_wait=2,
    )


@pytest.fixture
def make_mailbox(ews, profile, make_user) -> Callable[..., object]:
    from fieldsync.mailboxes import mailbox_create

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
