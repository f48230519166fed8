"""For operators: /metrics (Prometheus) and /health (database, Redis, worker heartbeat)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from fieldsync.models.mailboxes import Mailbox, SyncRun
from fieldsync.models.sync import RejectedChange, SyncConflict
from syncadmin import ops


@pytest.fixture(autouse=True)
def own_var(settings, tmp_path):
    """A var/ of this test's own (the embedded heartbeat file), no Redis, no token."""
    settings.VAR_DIR = tmp_path
    settings.REDIS_URL = ""
    settings.SYNCADMIN_METRICS_TOKEN = ""
    ops._last_beat = 0.0


def _run(mailbox, seconds, status="succeeded", entity="contact", **kw):
    now = timezone.now()
    return SyncRun.objects.create(
        mailbox=mailbox,
        entity=entity,
        trigger="schedule",
        status=status,
        started_at=now - timezone.timedelta(seconds=seconds),
        finished_at=now,
        **kw,
    )


def scrape(client, **headers):
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_metrics_count_runs_failures_items_conflicts_and_durations(client, make_mailbox):
    sally, sam = make_mailbox("sally"), make_mailbox("sam")
    _run(sally, 0.4, items_seen=10, created_in_exchange=4)
    _run(sally, 3, items_seen=100, updated_in_crm=2)
    _run(sam, 45, status="failed", error="Exchange refused the password")
    _run(sam, 1, entity="task", status="retrying")
    SyncConflict.objects.create(
        owner=sally.owner,
        entity="contact",
        field="job_title",
        outcome="crm",
        reason="crm_wins",
        digest=uuid.uuid4().hex,
    )
    SyncConflict.objects.create(
        owner=sally.owner,
        entity="contact",
        field="email",
        outcome="crm",
        reason="crm_wins",
        digest=uuid.uuid4().hex,
        resolved_on=timezone.now(),
    )
    RejectedChange.objects.create(
        owner=sam.owner,
        entity="contact",
        item_id="AAMk",
        field="government_id",
        reason="field_security",
        digest=uuid.uuid4().hex,
    )
    Mailbox.objects.filter(pk=sam.pk).update(status="failing", failure_count=3, queued_at=None)
    Mailbox.objects.filter(pk=sally.pk).update(
        status="ok", last_success_at=timezone.now(), queued_at=timezone.now()
    )

    m = scrape(client)
    contact = (("entity", "contact"),)
    assert m[("syncadmin_sync_runs_total", (("entity", "contact"), ("status", "succeeded")))] == 2
    assert m[("syncadmin_sync_runs_total", (("entity", "contact"), ("status", "failed")))] == 1
    assert m[("syncadmin_sync_run_failures_total", contact)] == 1
    assert m[("syncadmin_sync_run_failures_total", (("entity", "task"),))] == 1
    assert m[("syncadmin_sync_items_seen_total", contact)] == 110
    assert m[("syncadmin_sync_items_changed_total", (*contact, ("side", "exchange")))] == 4
    assert m[("syncadmin_sync_items_changed_total", (*contact, ("side", "crm")))] == 2
    # Durations 0.4, 3 and 45 s: one at or under 0.5 s, two under 5 s, three under 60 s.
    hist = "syncadmin_sync_run_duration_seconds_bucket"
    assert m[(hist, (*contact, ("le", "0.5")))] == 1
    assert m[(hist, (*contact, ("le", "5.0")))] == 2
    assert m[(hist, (*contact, ("le", "30.0")))] == 2
    assert m[(hist, (*contact, ("le", "60.0")))] == 3
    assert m[(hist, (*contact, ("le", "+Inf")))] == 3
    assert m[("syncadmin_sync_run_duration_seconds_count", contact)] == 3
    assert m[("syncadmin_sync_run_duration_seconds_sum", contact)] == pytest.approx(48.4, abs=0.1)
    assert m[("syncadmin_sync_conflicts_total", contact)] == 2
    assert m[("syncadmin_sync_conflicts_open", contact)] == 1
    assert m[("syncadmin_sync_rejected_changes_total", contact)] == 1
    assert m[("syncadmin_sync_queue_depth", ())] == 1
    assert m[("syncadmin_mailboxes", (("status", "failing"),))] == 1
    assert m[("syncadmin_mailboxes", (("status", "ok"),))] == 1
    failing = (("mailbox", "sam@worker.test"),)
    assert m[("syncadmin_mailbox_consecutive_failures", failing)] == 3
    assert m[("syncadmin_mailbox_last_success_timestamp_seconds", failing)] == 0
    synced = m[
        ("syncadmin_mailbox_last_success_timestamp_seconds", (("mailbox", "sally@worker.test"),))
    ]
    assert abs(synced - time.time()) < 60


def test_metrics_need_the_token_when_one_is_set(client, settings, db):
    settings.SYNCADMIN_METRICS_TOKEN = "s3cret-token"
    response = client.get("/metrics")
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.content.decode()
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-token") is not None


def test_health_is_ok_with_a_recent_worker_heartbeat_and_says_what_fails(client, settings, db):
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["checks"]["database"]["ok"] is True
    assert "No sync worker has reported" in body["checks"]["worker"]["message"]
    assert "redis" not in body["checks"]  # the embedded setup has none

    # A task run by the worker (the beat tick, eagerly here) leaves a heartbeat.
    from fieldsync.mailboxes.tasks import schedule_mailbox_syncs

    schedule_mailbox_syncs.apply()
    response = client.get("/health")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"
    assert response.json()["checks"]["worker"]["age_seconds"] < 5

    # A heartbeat older than three intervals: no worker.
    settings.SYNCADMIN_HEARTBEAT_MAX_AGE = 900
    (settings.VAR_DIR / "worker-heartbeat").write_text(
        json.dumps({"at": time.time() - 3600, "worker": "celery@box"})
    )
    response = client.get("/health")
    assert response.status_code == 503
    message = response.json()["checks"]["worker"]["message"]
    assert (
        "celery@box" in message and "3600 s old" in message and "is the worker running" in message
    )


def test_health_names_redis_when_it_does_not_answer(client, settings, db):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/health")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["redis"]["ok"] is False
    assert checks["redis"]["message"].startswith("Redis does not answer")


@pytest.mark.postgres  # needs the real Redis CI runs (REDIS_URL); deselected without it
def test_the_worker_heartbeat_goes_through_redis_when_redis_is_configured(client, settings, db):
    import os

    import redis

    # A database number of this test's own on the configured server, emptied first.
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    settings.REDIS_URL = f"{base}/14"
    server = redis.Redis.from_url(settings.REDIS_URL)
    server.delete(ops.HEARTBEAT_KEY)
    try:
        assert client.get("/health").json()["checks"]["worker"]["ok"] is False
        ops.worker_heartbeat("celery@redis-box", force=True)
        # The beat is in Redis, not in var/: another web process (same Redis) sees it.
        assert json.loads(server.get(ops.HEARTBEAT_KEY))["worker"] == "celery@redis-box"
        assert not (settings.VAR_DIR / "worker-heartbeat").exists()
        assert 0 < server.ttl(ops.HEARTBEAT_KEY) <= 7 * 24 * 3600
        body = client.get("/health").json()
        assert body["checks"]["redis"] == {"ok": True, "message": "Redis answers"}
        assert body["checks"]["worker"]["ok"] is True
        assert "celery@redis-box" in body["checks"]["worker"]["message"]
        # A beat that is too old, as written by a worker that stopped an hour ago.
        server.set(ops.HEARTBEAT_KEY, json.dumps({"at": time.time() - 3600, "worker": "w1"}))
        assert client.get("/health").status_code == 503
    finally:
        server.delete(ops.HEARTBEAT_KEY)
