"""Fixtures for Graph connector tests: one Graph test server per session (real HTTP on
127.0.0.1), a fresh mailbox per test, and connectors bound to it. A response that breaks the
CSDL fails the test at teardown."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from connectors.graph import GraphConnector
from connectors.graphserver import App, GraphServer

TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "5f1c3a0e-2d4b-4f7a-9c11-8e2b6a7d0c01"
SECRET = "graph-test-secret"
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def graph_server() -> Iterator[GraphServer]:
    server = GraphServer(apps=[App(TENANT, CLIENT_ID, SECRET)])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def graph(graph_server: GraphServer) -> Iterator[GraphServer]:
    graph_server.reset()
    yield graph_server
    violations = list(graph_server.violations)
    graph_server.reset()
    assert not violations, f"Graph test server answers broke the CSDL: {violations}"


@pytest.fixture
def graph_mailbox(graph: GraphServer) -> Callable[[], str]:
    def make() -> str:
        address = f"user{next(_counter)}@contoso.test"
        graph.add_mailbox(address)
        return address

    return make


@pytest.fixture
def make_graph(graph: GraphServer) -> Callable[..., GraphConnector]:
    made: list[GraphConnector] = []

    def make(mailbox: str, **kw: object) -> GraphConnector:
        options: dict[str, object] = dict(
            tenant_id=TENANT,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            mailbox=mailbox,
            graph_url=graph.graph_url,
            login_url=graph.url,
            timezone="Europe/Berlin",
            max_wait=10,
        )
        options.update(kw)
        connector = GraphConnector(**options)  # type: ignore[arg-type]
        made.append(connector)
        return connector

    yield make  # type: ignore[misc]
    for connector in made:
        connector.close()
