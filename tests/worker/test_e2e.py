"""End to end: real Celery worker processes on Redis and PostgreSQL, the EWS test server as a
process, the real sync engine. A scheduled run syncs; two workers racing on one mailbox sync
it once; a worker killed (SIGKILL) in the middle of a slowed sync converges after a restart
with no duplicate and no lost edit; a throttled server is waited out; one broken mailbox does
not stop the others; a mailbox on Exchange Online (the Graph test server as a process) syncs
beside an EWS one.

The workers see the test database because the tests commit (transactional_db) and the workers
get its name in DATABASE_URL.
"""

from __future__ import annotations

import os
import time

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from crm.models import Contact
from fieldsync.fields.services import catalog_sync
from fieldsync.mailboxes.connection import connector_for
from fieldsync.mailboxes.services import mailbox_create, server_profile_create
from fieldsync.mailboxes.tasks import schedule_due_mailboxes, sync_mailbox_task
from fieldsync.models.mailboxes import Mailbox, MailboxStatus, RunStatus, SyncRun
from security.services import role_upsert

from .e2e import EwsProcess, GraphProcess, start_beat, start_worker, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SERVICE = ("svc@e2e.test", "svc-secret")
GRAPH_APP = ("e2e.onmicrosoft.com", "0e2e0e2e-0000-4000-8000-000000000001", "e2e-app-secret")
SELLER = {("contact", a): "user" for a in ("create", "read", "write", "delete", "sync")}
KILL_QUEUE = "e2e-kill"
BUSY = (MailboxStatus.QUEUED, MailboxStatus.SYNCING, MailboxStatus.RETRYING)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _clear_broker() -> None:
    r = _redis()
    for key in r.scan_iter("syncadmin:mailbox-sync:*"):
        r.delete(key)
    r.delete("celery", KILL_QUEUE, "unacked", "unacked_index", "unacked_mutex")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, django_db_setup, django_db_blocker):
    """The EWS server process and two workers (A, B) for the module; the env to start more."""
    logs = tmp_path_factory.mktemp("e2e")
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "SYNCADMIN_VAR_DIR": str(logs),
        "SYNCADMIN_CREDENTIALS_KEY": ",".join(settings.SYNCADMIN_CREDENTIALS_KEYS),
        "SYNCADMIN_SYNC_LOCK_TIMEOUT": "2",
        "SYNCADMIN_RETRY_BASE": "0.3",
        "SYNCADMIN_SYNC_INTERVAL": "2",
    }
    _clear_broker()
    ews = EwsProcess(logs, SERVICE, validate=False)
    graph = GraphProcess(logs, GRAPH_APP)
    workers = {}
    try:
        for name in ("a", "b"):
            workers[name] = start_worker(f"e2e-{name}", env, logs)
        yield {"ews": ews, "graph": graph, "env": env, "logs": logs, "workers": workers}
    finally:
        for proc in workers.values():
            proc.stop()
        ews.stop()
        graph.stop()
        _clear_broker()


@pytest.fixture
def world(stack, transactional_db):
    """A server profile; the test's mailboxes; idle workers and an empty queue afterwards."""
    catalog_sync()
    profile = server_profile_create(
        name="e2e",
        ews_url=stack["ews"].url,
        service_username=SERVICE[0],
        service_password=SERVICE[1],
        max_wait=1,
    )
    yield {**stack, "profile": profile}
    # The database is emptied after the test: let the workers finish first.
    wait_until(
        lambda: not Mailbox.objects.filter(status__in=BUSY).exists(),
        timeout=30,
        what="the workers to go idle",
    )
    _clear_broker()


def _mailbox(world, name: str, contacts: int, *, on_server: bool = True, profile=None) -> Mailbox:
    from security.models import BusinessUnit, User

    unit, _ = BusinessUnit.objects.get_or_create(name="E2E")
    user = User.objects.create_user(username=name, password="x", business_unit=unit)
    role_upsert(name=f"Seller {name}", levels=SELLER, users=[user])
    address = f"{name}@e2e.test"
    if on_server and profile is not None:
        world["graph"].control("mailbox", address=address)
    elif on_server:
        world["ews"].control("mailbox", smtp=address, password="pw")
    Contact.objects.bulk_create(
        Contact(owner=user, first_name=f"F{i}", last_name=f"{name}-{i:03d}", job_title="Buyer")
        for i in range(contacts)
    )
    return mailbox_create(
        owner=user,
        email_address=address,
        server_profile=profile or world["profile"],
        sync_appointments=False,
        sync_tasks=False,
    )


def _exchange_contacts(mailbox: Mailbox) -> list:
    connector = connector_for(mailbox, max_wait=10)
    try:
        items = []
        for page in connector.list_changes("contacts", None):
            items += page.created + page.updated
        return items
    finally:
        connector.close()


def _done(mailbox: Mailbox, since=None) -> Mailbox | None:
    mailbox.refresh_from_db()
    if mailbox.status in (MailboxStatus.OK, MailboxStatus.FAILING) and (
        since is None or (mailbox.last_attempt_at and mailbox.last_attempt_at >= since)
    ):
        return mailbox
    return None


def _assert_mirrors_the_crm(mailbox: Mailbox) -> list:
    items = _exchange_contacts(mailbox)
    crm_ids = [i.crm_id for i in items]
    assert len(crm_ids) == len(set(crm_ids)), "duplicate items in Exchange"
    expected = {
        str(pk) for pk in Contact.objects.filter(owner=mailbox.owner).values_list("pk", flat=True)
    }
    assert set(crm_ids) == expected
    return items


def test_a_scheduled_run_syncs(world):
    mailbox = _mailbox(world, "sched", 12)
    beat = start_beat(world["env"], world["logs"])
    try:
        done = wait_until(lambda: _done(mailbox), timeout=30, what="the scheduled sync")
    finally:
        beat.stop()
    assert done.status == MailboxStatus.OK, done.last_error
    run = SyncRun.objects.get(mailbox=mailbox, status=RunStatus.SUCCEEDED)
    assert run.trigger == "schedule" and run.created_in_exchange == 12
    _assert_mirrors_the_crm(mailbox)


def test_two_workers_racing_on_one_mailbox_sync_it_once(world):
    mailbox = _mailbox(world, "race", 20)
    ews = world["ews"]
    ews.control("reset")
    ews.control("delay", seconds=2.0, operation="CreateItem")  # hold the first sync
    sync_mailbox_task.delay(mailbox.pk, trigger="api")
    sync_mailbox_task.delay(mailbox.pk, trigger="api")
    wait_until(lambda: _done(mailbox), timeout=30, what="the sync")
    time.sleep(1.0)  # the second delivery has long been handled; give a late one a chance
    assert SyncRun.objects.filter(mailbox=mailbox).count() == 1
    assert ews.stats().get("CreateItem") == 1
    logs = "".join(w.log() for w in world["workers"].values())
    assert "race@e2e.test is being synced by another worker; skipped" in logs
    _assert_mirrors_the_crm(mailbox)


def test_a_killed_worker_converges_after_restart_without_duplicates_or_lost_edits(world):
    from connectors.base import ItemUpdate

    # The restarted worker hands out again what the dead one had taken, after 3 s.
    env = {**world["env"], "SYNCADMIN_BROKER_VISIBILITY_TIMEOUT": "3"}
    ews = world["ews"]
    mailbox = _mailbox(world, "kill", 15)
    first = start_worker("e2e-kill-1", env, world["logs"], queue=KILL_QUEUE)
    try:
        sync_mailbox_task.apply_async((mailbox.pk,), {"trigger": "api"}, queue=KILL_QUEUE)
        assert wait_until(lambda: _done(mailbox), timeout=30, what="the first sync").status == "ok"

        # While nobody syncs: edits in the CRM, new CRM contacts, an edit in Outlook.
        crm_edited = list(Contact.objects.filter(owner=mailbox.owner).order_by("last_name")[:5])
        for contact in crm_edited:
            contact.job_title = "Edited in the CRM"
            contact.save()
        for i in range(10):
            Contact.objects.create(owner=mailbox.owner, first_name="New", last_name=f"kill-n{i}")
        outlook = next(
            i
            for i in _exchange_contacts(mailbox)
            if i.crm_id not in {str(c.pk) for c in crm_edited}
        )
        connector = connector_for(mailbox, max_wait=10)
        (ok,) = connector.update_items(
            "contacts",
            [ItemUpdate(outlook.item_id, outlook.change_key, {"job_title": "Edited in Outlook"})],
        )
        connector.close()
        assert ok.ok, ok.message

        # The next sync stalls in the server while creating the new contacts; kill it there.
        ews.control("reset")
        ews.control("delay", seconds=4.0, operation="CreateItem")
        started = timezone.now()
        sync_mailbox_task.apply_async((mailbox.pk,), {"trigger": "api"}, queue=KILL_QUEUE)
        wait_until(
            lambda: ews.stats().get("CreateItem", 0) >= 1, timeout=20, what="the slowed create"
        )
        first.kill()
    finally:
        first.stop()
    assert SyncRun.objects.filter(mailbox=mailbox, status=RunStatus.RUNNING).exists()
    # The server still finishes the create the dead worker sent: 10 items that no link names.
    wait_until(
        lambda: len(_exchange_contacts(mailbox)) == 25,
        timeout=15,
        what="the server to finish the dead worker's request",
    )
    # The dead worker's lock expires (it renewed it; now nobody does).
    wait_until(
        lambda: not _redis().exists(f"syncadmin:mailbox-sync:{mailbox.pk}"),
        timeout=10,
        what="the dead worker's lock to expire",
    )
    second = start_worker("e2e-kill-2", env, world["logs"], queue=KILL_QUEUE)
    try:
        done = wait_until(
            lambda: _done(mailbox, since=started), timeout=40, what="the redelivered sync"
        )
    finally:
        second.stop()
    assert done.status == MailboxStatus.OK, done.last_error
    abandoned = SyncRun.objects.get(mailbox=mailbox, status=RunStatus.ABANDONED)
    assert "worker stopped" in abandoned.error
    items = _assert_mirrors_the_crm(mailbox)  # 25 items, each once
    assert len(items) == 25
    by_crm = {i.crm_id: i for i in items}
    for contact in crm_edited:
        assert by_crm[str(contact.pk)].fields["job_title"] == "Edited in the CRM"
    assert Contact.objects.get(pk=outlook.crm_id).job_title == "Edited in Outlook"
    assert by_crm[outlook.crm_id].fields["job_title"] == "Edited in Outlook"


def test_a_throttled_server_is_waited_out(world):
    mailbox = _mailbox(world, "busy", 8)
    ews = world["ews"]
    ews.control("reset")
    # Longer than the profile's max_wait (1 s): the connector gives up, the task retries.
    ews.control("throttle", back_off_ms=1500, count=2)
    sync_mailbox_task.delay(mailbox.pk, trigger="api")
    done = wait_until(lambda: _done(mailbox), timeout=40, what="the throttled sync")
    assert done.status == MailboxStatus.OK, done.last_error
    runs = list(SyncRun.objects.filter(mailbox=mailbox).order_by("started_at"))
    assert [(r.status, r.retry) for r in runs] == [
        ("retrying", 0),
        ("retrying", 1),
        ("succeeded", 2),
    ]
    assert runs[0].error_code == "ErrorServerBusy"
    assert "throttling" in runs[0].error
    # Each retry waited at least the 1.5 s the server asked for.
    assert (runs[1].started_at - runs[0].finished_at).total_seconds() >= 1.4
    _assert_mirrors_the_crm(mailbox)


def test_one_broken_mailbox_does_not_stop_the_others(world):
    good = [_mailbox(world, f"good{i}", 6) for i in range(2)]
    broken = _mailbox(world, "broken", 6, on_server=False)
    assert schedule_due_mailboxes() == 3
    for mailbox in [broken, *good]:
        wait_until(lambda m=mailbox: _done(m), timeout=30, what=f"{mailbox}")
    for mailbox in good:
        assert mailbox.status == MailboxStatus.OK, mailbox.last_error
        _assert_mirrors_the_crm(mailbox)
    assert broken.status == MailboxStatus.FAILING
    assert broken.last_error == "Exchange has no mailbox broken@e2e.test: check the e-mail address."
    assert broken.next_attempt_at > timezone.now()
    # The next tick passes it by while it backs off; the healthy ones are due again.
    assert schedule_due_mailboxes() == 2


def test_a_graph_mailbox_syncs_beside_an_ews_one(world):
    graph = world["graph"]
    online = server_profile_create(
        name="e2e online",
        kind="graph",
        tenant_id=GRAPH_APP[0],
        client_id=GRAPH_APP[1],
        client_secret=GRAPH_APP[2],
        graph_url=graph.graph_url,
        token_url=graph.url,
        max_wait=1,
    )
    on_graph = _mailbox(world, "online", 25, profile=online)
    on_ews = _mailbox(world, "onprem", 5)
    assert schedule_due_mailboxes() == 2
    for mailbox in (on_graph, on_ews):
        done = wait_until(lambda m=mailbox: _done(m), timeout=30, what=f"{mailbox}")
        assert done.status == MailboxStatus.OK, done.last_error
    run = SyncRun.objects.get(mailbox=on_graph, entity="contact")
    assert run.created_in_exchange == 25
    # 25 creates in $batch requests of 20 (what the server stored is checked by the next run)
    assert graph.stats().get("batch") == 2
    for mailbox in (on_graph, on_ews):
        _assert_mirrors_the_crm(mailbox)
    # An edit in the CRM reaches Exchange Online at the next run.
    ceo = Contact.objects.get(owner=on_graph.owner, last_name="online-007")
    ceo.job_title = "CEO"
    ceo.save()
    since = timezone.now()
    sync_mailbox_task.delay(on_graph.pk, trigger="api")
    wait_until(lambda: _done(on_graph, since), timeout=30, what="the second Graph sync")
    titles = {i.fields["last_name"]: i.fields["job_title"] for i in _exchange_contacts(on_graph)}
    assert titles["online-007"] == "CEO"
