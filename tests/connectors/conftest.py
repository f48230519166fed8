"""Fixtures for connector tests: one in-process EWS test server per session, a fresh mailbox
per test, and Exchange connectors (real exchangelib over HTTP on 127.0.0.1) bound to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from connectors.ewsserver import EwsServer
from connectors.exchange import ExchangeConnector
from tests.conftest import EWS_SERVICE

SERVICE = EWS_SERVICE
_counter = itertools.count(1)


@pytest.fixture
def new_mailbox(ews: EwsServer) -> Callable[[], str]:
    def make() -> str:
        address = f"user{next(_counter)}@demo.test"
        ews.store.add_mailbox(address, "pw-" + address)
        return address

    return make


@pytest.fixture
def make_connector(ews: EwsServer) -> Callable[..., ExchangeConnector]:
    def make(mailbox: str, **kw: object) -> ExchangeConnector:
        options: dict[str, object] = dict(
            ews_url=ews.url,
            username=SERVICE[0],
            password=SERVICE[1],
            primary_smtp_address=mailbox,
            timezone="Europe/Berlin",
            max_wait=10,
        )
        options.update(kw)
        return ExchangeConnector(**options)  # type: ignore[arg-type]

    return make


@pytest.fixture
def connector(new_mailbox, make_connector) -> ExchangeConnector:
    return make_connector(new_mailbox())
