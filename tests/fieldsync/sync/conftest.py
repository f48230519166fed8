"""Fixtures for the sync service: a salesperson who may sync her own records, an administrator,
her mailbox (in memory, on the EWS test server through exchangelib, or on a real Radicale through
the DAV connector) and one sync run."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from connectors.dav.radicale import RadicaleServer
from connectors.dav.xandikos import XandikosServer
from connectors.ewsserver import EwsServer
from connectors.exchange import ExchangeConnector
from security.entities import RECORD_ENTITIES
from tests.conftest import EWS_SERVICE

from .mailboxes import (
    DavMailbox,
    ExchangeMailbox,
    GraphMailbox,
    MemoryMailbox,
    XandikosMailbox,
)

SERVICE = EWS_SERVICE
_counter = itertools.count(1)

ENTITIES = RECORD_ENTITIES  # every record type, the four activities included
RIGHTS = ("create", "read", "write", "delete", "sync")


@pytest.fixture
def admin(make_user):
    return make_user("admin", is_superuser=True, is_staff=True, email="admin@contoso.test")


@pytest.fixture
def sally(make_user):
    from security.services import role_upsert

    user = make_user("sally", email="sally@contoso.test")
    role_upsert(
        name="Salesperson",
        levels={(e, a): "user" for e in ENTITIES for a in RIGHTS},
        users=[user],
    )
    return user


@pytest.fixture
def make_connector(ews: EwsServer) -> Callable[..., ExchangeConnector]:
    def make(address: str) -> ExchangeConnector:
        return ExchangeConnector(
            ews_url=ews.url,
            username=SERVICE[0],
            password=SERVICE[1],
            primary_smtp_address=address,
            timezone="Europe/Berlin",
            max_wait=5,
        )

    return make


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    """One Radicale for the session; each mailbox is a user of its own (auth: any name)."""
    with RadicaleServer(tmp_path_factory.mktemp("radicale")) as server:
        yield server


@pytest.fixture(scope="session")
def xandikos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XandikosServer]:
    """One Xandikos for the session; each mailbox has collections of its own in its homes."""
    with XandikosServer(tmp_path_factory.mktemp("xandikos")) as server:
        yield server


def make_mailbox(request, kind: str):  # type: ignore[no-untyped-def]
    """Sally's mailbox of one kind (the fixtures below and modules with kinds of their own)."""
    if kind == "memory":
        return MemoryMailbox()
    if kind in ("dav", "xandikos"):
        if kind == "dav":
            mailbox = DavMailbox(request.getfixturevalue("radicale"), f"sally{next(_counter)}")
        else:
            server = request.getfixturevalue("xandikos")
            mailbox = XandikosMailbox(server, f"sally{next(_counter)}")
        request.addfinalizer(mailbox.close)
        return mailbox
    if kind == "graph":
        address = request.getfixturevalue("graph_mailbox")()
        return GraphMailbox(
            request.getfixturevalue("graph"), request.getfixturevalue("make_graph"), address
        )
    ews = request.getfixturevalue("ews")
    address = f"sally{next(_counter)}@sync.test"
    ews.store.add_mailbox(address, "pw")
    return ExchangeMailbox(ews, request.getfixturevalue("make_connector"), address)


@pytest.fixture
def mailbox(request):
    """Sally's mailbox: in memory, on the EWS test server through exchangelib, her address
    book and calendars on Radicale or on Xandikos through the DAV connector (kind "dav"), or on
    the Graph test server through the Graph connector (Exchange Online). Which of them a
    scenario runs on, it says itself (runs_on.py)."""
    if not hasattr(request, "param"):
        pytest.fail(
            f"{request.node.name} takes a mailbox without saying on which connectors it runs: "
            "mark it connector_scenario, dav_server_scenario or engine_scenario "
            "(tests/fieldsync/sync/runs_on.py)",
            pytrace=False,
        )
    return make_mailbox(request, request.param)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    report = yield
    if report.when == "call":
        item.passed_call = report.passed
    return report


@pytest.fixture
def sync(sally, mailbox, request):
    """One sync of sally's mailbox. Every scenario that synced ends with *Verify* on the
    entities it synced: both sides read, and no difference left unexplained (no drift)."""
    from fieldsync.service.sync import sync_mailbox

    synced: list[str] = []

    def run(entity: str = "contact", *, owner=None, connector=None, **kw):
        report = sync_mailbox(
            owner=owner or sally,
            connector=connector or mailbox.connector,
            entities=[entity],
            batch_size=kw.pop("batch_size", 3),
            **kw,
        )
        if owner in (None, sally) and connector is None and entity not in synced:
            synced.append(entity)
        return report.entities[entity]

    yield run
    if synced and getattr(request.node, "passed_call", False):
        from fieldsync.service.verify import verify_mailbox

        for report in verify_mailbox(owner=sally, connector=mailbox.connector, entities=synced):
            assert report.error == "", report.error
            assert report.drift == [], f"{report.entity}: unexplained drift {report.drift}"


@pytest.fixture
def set_direction(admin):
    from fieldsync.fields.services import field_directions_update, settings_version

    def set_(entity: str, crm_field: str, direction: str) -> None:
        field_directions_update(
            entity=entity,
            changes={crm_field: direction},
            base_version=settings_version(entity=entity),
            actor=admin,
        )

    return set_


@pytest.fixture
def secure(sally):
    """Make a column secured and open it to sally for the given operations only."""
    from security.models import FieldPermission, FieldSecurityProfile, SecuredField

    def secure_(entity: str, column: str, *ops: str) -> None:
        field, _ = SecuredField.objects.get_or_create(entity=entity, column=column)
        profile = FieldSecurityProfile.objects.create(name=f"{entity}.{column}")
        FieldPermission.objects.create(
            profile=profile,
            field=field,
            can_read="read" in ops,
            can_create="create" in ops,
            can_update="update" in ops,
        )
        profile.users.add(sally)

    return secure_
