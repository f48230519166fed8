"""For operators: `/metrics` (Prometheus text format) and `/health` (database, Redis, worker).

The figures are read from the database at each scrape, so every web process answers the same
and the worker needs no metrics port of its own: the runs, items, conflicts and durations the
worker records are the counters. The worker proves it is alive with a heartbeat: a timestamp it
writes at start, after each task and on Celery's own heartbeat (at most every 10 s), into Redis
when REDIS_URL is set, else into a file under var/.

`SYNCADMIN_METRICS_TOKEN`, when set, is required as `Authorization: Bearer <token>` on
/metrics (the per-mailbox series name mailbox addresses). /health says only ok or not, and why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

HEARTBEAT_KEY = "syncadmin:worker-heartbeat"
HEARTBEAT_EVERY = 10.0  # seconds: the worker writes at most this often
# Run durations, seconds: a no-change sync takes under a second, a first sync of a large
# mailbox minutes.
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800)
FAILED = ("failed", "retrying", "abandoned")

_last_beat = 0.0


# The worker's heartbeat ------------------------------------------------------------------


def _heartbeat_file() -> Any:
    return settings.VAR_DIR / "worker-heartbeat"


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def worker_heartbeat(hostname: str = "", *, force: bool = False) -> None:
    """Record that a worker is alive now (throttled to one write per HEARTBEAT_EVERY)."""
    global _last_beat
    now = time.time()
    if not force and now - _last_beat < HEARTBEAT_EVERY:
        return
    _last_beat = now
    value = json.dumps({"at": now, "worker": hostname})
    try:
        if settings.REDIS_URL:
            _redis().set(HEARTBEAT_KEY, value, ex=7 * 24 * 3600)
        else:
            path = _heartbeat_file()
            tmp = path.with_suffix(".tmp")
            tmp.write_text(value)
            tmp.replace(path)
    except Exception:  # a heartbeat must never break a task
        _last_beat = 0.0


def last_worker_heartbeat() -> dict[str, Any] | None:
    """{"at": epoch seconds, "worker": hostname} of the latest heartbeat, or None."""
    if settings.REDIS_URL:
        raw = _redis().get(HEARTBEAT_KEY)
    else:
        path = _heartbeat_file()
        raw = path.read_text() if path.exists() else None
    return json.loads(raw) if raw else None


def heartbeat_max_age() -> float:
    """A heartbeat older than this means no worker: three beat intervals, at least 60 s."""
    default = max(3 * settings.SYNCADMIN_SYNC_INTERVAL, 60)
    return float(getattr(settings, "SYNCADMIN_HEARTBEAT_MAX_AGE", default) or default)


# /health ---------------------------------------------------------------------------------


def _check_database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # reported, not raised
        return {"ok": False, "message": f"The database does not answer: {exc}"}
    return {"ok": True, "message": f"{connection.vendor} answers"}


def _check_redis() -> dict[str, Any]:
    try:
        _redis().ping()
    except Exception as exc:  # reported, not raised
        return {"ok": False, "message": f"Redis does not answer: {exc}"}
    return {"ok": True, "message": "Redis answers"}


def _check_worker() -> dict[str, Any]:
    try:
        beat = last_worker_heartbeat()
    except Exception as exc:  # reported, not raised
        return {"ok": False, "message": f"The worker heartbeat cannot be read: {exc}"}
    limit = heartbeat_max_age()
    if beat is None:
        return {"ok": False, "message": "No sync worker has reported since Redis/var/ was new."}
    age = max(time.time() - float(beat["at"]), 0.0)
    who = f" ({beat['worker']})" if beat.get("worker") else ""
    if age > limit:
        return {
            "ok": False,
            "age_seconds": round(age, 1),
            "message": f"The last worker heartbeat{who} is {age:.0f} s old "
            f"(more than {limit:.0f} s): is the worker running?",
        }
    return {
        "ok": True,
        "age_seconds": round(age, 1),
        "message": f"A worker{who} reported {age:.0f} s ago",
    }


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis (if configured) and a recent worker heartbeat are fine;
    503 naming what is not."""
    checks = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis()
    checks["worker"] = _check_worker()
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "failing", "checks": checks}, status=200 if ok else 503
    )


# /metrics --------------------------------------------------------------------------------


class SyncCollector:
    """Reads the sync's figures from the database at each scrape."""

    def collect(self) -> Iterator[Metric]:
        yield from _run_metrics()
        yield from _duration_histogram()
        yield from _conflict_metrics()
        yield from _mailbox_metrics()
        yield from _queue_metrics()


def _run_metrics() -> Iterator[Metric]:
    from fieldsync.models.mailboxes import SyncRun

    runs = CounterMetricFamily(
        "syncadmin_sync_runs",
        "Sync runs (one mailbox, one record type) by result.",
        labels=["entity", "status"],
    )
    failures = CounterMetricFamily(
        "syncadmin_sync_run_failures",
        "Sync runs that failed, will retry, or were abandoned.",
        labels=["entity"],
    )
    items = CounterMetricFamily(
        "syncadmin_sync_items_seen", "Items the runs looked at, both sides.", labels=["entity"]
    )
    changed = CounterMetricFamily(
        "syncadmin_sync_items_changed",
        "Items the runs created, updated or deleted, per side written.",
        labels=["entity", "side"],
    )
    failed_by_entity: dict[str, int] = {}
    rows = (
        SyncRun.objects.order_by()
        .values("entity", "status")
        .annotate(
            n=Count("pk"),
            seen=Sum("items_seen"),
            crm=Sum(F("created_in_crm") + F("updated_in_crm") + F("deleted_in_crm")),
            exchange=Sum(
                F("created_in_exchange") + F("updated_in_exchange") + F("deleted_in_exchange")
            ),
        )
    )
    seen: dict[str, int] = {}
    crm: dict[str, int] = {}
    exchange: dict[str, int] = {}
    for r in rows:
        entity = r["entity"]
        runs.add_metric([entity, r["status"]], r["n"])
        if r["status"] in FAILED:
            failed_by_entity[entity] = failed_by_entity.get(entity, 0) + r["n"]
        seen[entity] = seen.get(entity, 0) + (r["seen"] or 0)
        crm[entity] = crm.get(entity, 0) + (r["crm"] or 0)
        exchange[entity] = exchange.get(entity, 0) + (r["exchange"] or 0)
    for entity in seen:
        failures.add_metric([entity], failed_by_entity.get(entity, 0))
        items.add_metric([entity], seen[entity])
        changed.add_metric([entity, "crm"], crm[entity])
        changed.add_metric([entity, "exchange"], exchange[entity])
    yield from (runs, failures, items, changed)


def _duration_histogram() -> Iterator[Metric]:
    from fieldsync.models.mailboxes import SyncRun

    duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    buckets = {
        f"le_{i}": Count("pk", filter=Q(d__lte=timedelta(seconds=b)))
        for i, b in enumerate(DURATION_BUCKETS)
    }
    rows = (
        SyncRun.objects.filter(finished_at__isnull=False)
        .order_by()
        .annotate(d=duration)
        .values("entity")
        .annotate(n=Count("pk"), total=Sum("d"), **buckets)
    )
    hist = HistogramMetricFamily(
        "syncadmin_sync_run_duration_seconds",
        "How long finished sync runs took, per record type.",
        labels=["entity"],
    )
    for r in rows:
        total = r["total"]
        seconds = total.total_seconds() if isinstance(total, timedelta) else (total or 0) / 1e6
        cumulative = [(str(float(b)), r[f"le_{i}"]) for i, b in enumerate(DURATION_BUCKETS)]
        cumulative.append(("+Inf", r["n"]))
        hist.add_metric([r["entity"]], cumulative, seconds)
    yield hist


def _conflict_metrics() -> Iterator[Metric]:
    from fieldsync.models.sync import RejectedChange, SyncConflict

    total = CounterMetricFamily(
        "syncadmin_sync_conflicts",
        "Fields changed on both sides between two syncs.",
        labels=["entity"],
    )
    open_ = GaugeMetricFamily(
        "syncadmin_sync_conflicts_open",
        "Conflicts whose losing value was not applied.",
        labels=["entity"],
    )
    rows = (
        SyncConflict.objects.order_by()
        .values("entity")
        .annotate(n=Count("pk"), open=Count("pk", filter=Q(resolved_on__isnull=True)))
    )
    for r in rows:
        total.add_metric([r["entity"]], r["n"])
        open_.add_metric([r["entity"]], r["open"])
    rejected = CounterMetricFamily(
        "syncadmin_sync_rejected_changes",
        "Exchange changes the mailbox's user may not make in the CRM.",
        labels=["entity"],
    )
    for r in RejectedChange.objects.order_by().values("entity").annotate(n=Count("pk")):
        rejected.add_metric([r["entity"]], r["n"])
    yield from (total, open_, rejected)


def _mailbox_metrics() -> Iterator[Metric]:
    from fieldsync.models.mailboxes import Mailbox, MailboxStatus

    by_status = GaugeMetricFamily(
        "syncadmin_mailboxes", "Enabled mailboxes by sync state.", labels=["status"]
    )
    counts = dict(
        Mailbox.objects.filter(enabled=True)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    for status in MailboxStatus.values:
        by_status.add_metric([status], counts.get(status, 0))
    last_success = GaugeMetricFamily(
        "syncadmin_mailbox_last_success_timestamp_seconds",
        "When each enabled mailbox last synced without error (0: never).",
        labels=["mailbox"],
    )
    failures = GaugeMetricFamily(
        "syncadmin_mailbox_consecutive_failures",
        "Failed runs in a row of each enabled mailbox (0 when its last run succeeded).",
        labels=["mailbox"],
    )
    rows = Mailbox.objects.filter(enabled=True).values_list(
        "email_address", "last_success_at", "failure_count"
    )
    for address, success, failed in rows.iterator():
        last_success.add_metric([address], success.timestamp() if success else 0)
        failures.add_metric([address], failed)
    yield from (by_status, last_success, failures)


def _queue_metrics() -> Iterator[Metric]:
    from fieldsync.models.mailboxes import Mailbox

    queued = GaugeMetricFamily(
        "syncadmin_sync_queue_depth",
        "Mailboxes queued for the worker and not yet started.",
    )
    queued.add_metric([], Mailbox.objects.filter(queued_at__isnull=False).count())
    yield queued
    if settings.REDIS_URL:
        broker = GaugeMetricFamily(
            "syncadmin_broker_queue_length", "Messages waiting in the Celery queue in Redis."
        )
        try:
            broker.add_metric([], _redis().llen("celery"))
        except Exception:  # noqa: S110 - /health reports Redis; metrics carry on
            pass
        else:
            yield broker
    age = GaugeMetricFamily(
        "syncadmin_worker_heartbeat_age_seconds",
        "Seconds since a sync worker last reported (absent: never).",
    )
    try:
        beat = last_worker_heartbeat()
    except Exception:  # /health says why
        beat = None
    if beat is not None:
        age.add_metric([], max(time.time() - float(beat["at"]), 0.0))
        yield age


def _authorized(request: HttpRequest) -> bool:
    token = getattr(settings, "SYNCADMIN_METRICS_TOKEN", "")
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    return given.startswith("Bearer ") and constant_time_compare(given[7:], token)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The sync's figures in Prometheus' text format."""
    if not _authorized(request):
        response = HttpResponse(
            "This endpoint needs the metrics token: Authorization: Bearer <token>.\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SyncCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
