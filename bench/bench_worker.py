"""Benchmark: the server-side sync worker. BENCH_WORKER_MAILBOXES (200) mailboxes of
BENCH_WORKER_CONTACTS (500) CRM contacts each, first sync into the EWS test server (a separate
process, schema validation off) by 2 Celery worker processes on Redis and PostgreSQL:
mailboxes per minute and p95 run time. Then the beat tick's own cost for
BENCH_WORKER_SCHEDULED (10,000) enabled mailboxes: all due (10,000 messages published) and
none due (the steady state between syncs).

PostgreSQL: a temporary database on 127.0.0.1:5432 (user postgres), dropped afterwards.
Redis: BENCH_WORKER_REDIS_URL (redis://127.0.0.1:6379/9), flushed before and after.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _pg import temporary_database  # bench/ is on sys.path: run alone or by bench/run.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAILBOXES = int(os.environ.get("BENCH_WORKER_MAILBOXES", "200"))
CONTACTS = int(os.environ.get("BENCH_WORKER_CONTACTS", "500"))
SCHEDULED = int(os.environ.get("BENCH_WORKER_SCHEDULED", "10000"))
REDIS_URL = os.environ.get("BENCH_WORKER_REDIS_URL", "redis://127.0.0.1:6379/9")
SERVICE = ("svc@bench.test", "svc-pw")
WORKERS = 2


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


# ---- the measurement (in a child process with the bench's environment) ---------------------


def _seed(ews_url: str, count: int, contacts: int, *, start: int = 0) -> list[int]:
    """`count` users, each with a mailbox (contacts only) and `contacts` CRM contacts."""
    from django.contrib.auth.hashers import make_password

    from crm.models import Contact
    from fieldsync.mailboxes import credentials
    from fieldsync.models.mailboxes import EmailServerProfile, Mailbox
    from security.models import BusinessUnit, User
    from security.services import role_upsert

    unit, _ = BusinessUnit.objects.get_or_create(name="Bench worker unit")
    profile = EmailServerProfile.objects.filter(name="bench").first()
    if profile is None:
        profile = EmailServerProfile.objects.create(
            name="bench",
            ews_url=ews_url,
            service_username=SERVICE[0],
            service_password_encrypted=credentials.encrypt(SERVICE[1]),
            max_wait=30,
        )
    password = make_password(None)
    users = User.objects.bulk_create(
        User(username=f"bench{i:05d}", password=password, business_unit=unit)
        for i in range(start, start + count)
    )
    levels = {("contact", a): "user" for a in ("create", "read", "write", "delete", "sync")}
    role_upsert(name=f"Bench seller {start}", levels=levels, users=users)
    Mailbox.objects.bulk_create(
        Mailbox(
            owner=u,
            email_address=f"{u.username}@bench.test",
            server_profile=profile,
            sync_appointments=False,
            sync_tasks=False,
        )
        for u in users
    )
    if contacts:
        Contact.objects.bulk_create(
            (
                Contact(
                    owner=u,
                    first_name=f"First{i}",
                    last_name=f"Last{i:04d}",
                    company_name=f"Company {i % 37}",
                    email=f"{u.username}.{i}@crm.test",
                    business_phone=f"+1 555 {i:06d}",
                )
                for u in users
                for i in range(contacts)
            ),
            batch_size=5000,
        )
    return [u.pk for u in users]


def _measure() -> dict[str, float]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncadmin.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db.models import Max, Min
    from django.utils import timezone

    from fieldsync.fields.services import catalog_sync
    from fieldsync.mailboxes.tasks import schedule_due_mailboxes
    from fieldsync.models.mailboxes import Mailbox, MailboxStatus, RunStatus, SyncRun
    from tests.worker.e2e import EwsProcess, start_worker

    call_command("migrate", verbosity=0)
    catalog_sync()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        ews = EwsProcess(logs, SERVICE, validate=False)
        workers = []
        try:
            _seed(ews.url, MAILBOXES, CONTACTS)
            for i in range(MAILBOXES):
                ews.control("mailbox", smtp=f"bench{i:05d}@bench.test", password="pw")
            env = {
                **os.environ,
                "PYTHONUNBUFFERED": "1",
                "SYNCADMIN_VAR_DIR": tmp,
                "SYNCADMIN_CREDENTIALS_KEY": ",".join(settings.SYNCADMIN_CREDENTIALS_KEYS),
            }
            workers = [start_worker(f"bench{n}", env, logs) for n in range(WORKERS)]
            began = time.monotonic()
            schedule_due_mailboxes()
            done = (MailboxStatus.OK, MailboxStatus.FAILING)
            while Mailbox.objects.exclude(status__in=done).exists():
                if time.monotonic() - began > 3600:
                    raise RuntimeError("the sync did not finish within an hour")
                time.sleep(0.5)
            elapsed = time.monotonic() - began
            attempts = (
                SyncRun.objects.filter(status=RunStatus.SUCCEEDED)
                .values("attempt_id")
                .annotate(start=Min("started_at"), end=Max("finished_at"))
            )
            durations = sorted((a["end"] - a["start"]).total_seconds() for a in attempts)
            failing = Mailbox.objects.filter(status=MailboxStatus.FAILING)
            out["failed"] = failing.count()
            if out["failed"]:
                print(f"first failure: {failing.first().last_error}", file=sys.stderr)
            out["mailboxes_per_min"] = MAILBOXES / elapsed * 60
            out["items_per_s"] = MAILBOXES * CONTACTS / elapsed
            if len(durations) > 1:
                out["p95_run_s"] = statistics.quantiles(durations, n=20)[18]
            else:
                out["p95_run_s"] = durations[0] if durations else float("nan")
            out["elapsed_s"] = elapsed
        finally:
            for w in workers:
                w.stop()
            ews.stop()
        # The tick alone: no worker consumes, so the published messages stay in Redis.
        _seed("http://127.0.0.1:9/EWS/Exchange.asmx", SCHEDULED - MAILBOXES, 0, start=MAILBOXES)
        Mailbox.objects.update(queued_at=None, next_attempt_at=None)
        ticks = []
        for _ in range(3):
            Mailbox.objects.update(queued_at=None)
            _flush_redis()
            started = time.perf_counter()
            queued = schedule_due_mailboxes(now=timezone.now())
            ticks.append(time.perf_counter() - started)
        assert queued == SCHEDULED, queued
        out["tick_all_due_s"] = min(ticks)
        idle = []
        for _ in range(5):
            started = time.perf_counter()
            schedule_due_mailboxes(now=timezone.now())
            idle.append(time.perf_counter() - started)
        out["tick_none_due_ms"] = min(idle) * 1000
    return out


def rows() -> list[tuple[str, float | str, str, str]]:
    _flush_redis()
    try:
        with temporary_database("sa_bench_worker") as url:
            env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL}
            done = subprocess.run(
                [sys.executable, __file__, "--measure"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=3600,
            )
            if done.returncode:
                raise RuntimeError(done.stderr[-2000:])
            for line in done.stderr.splitlines():
                if line.startswith("first failure"):
                    print(line, file=sys.stderr)
            m = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        _flush_redis()
    size = f"{MAILBOXES} mailboxes x {CONTACTS} contacts, {WORKERS} workers"
    return [
        (f"worker: first sync, {size}", m["mailboxes_per_min"], "mailboxes/min", ">= 60"),
        ("worker: items synced", m["items_per_s"], "items/s", ""),
        ("worker: p95 run time of one mailbox", m["p95_run_s"], "s", "<= 60"),
        ("worker: failed mailboxes", int(m["failed"]), "mailboxes", "0"),
        (f"scheduler tick, {SCHEDULED:,} mailboxes all due", m["tick_all_due_s"], "s", "<= 10"),
        (
            f"scheduler tick, {SCHEDULED:,} mailboxes none due",
            m["tick_none_due_ms"],
            "ms",
            "<= 50",
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        print(json.dumps(_measure()))
    else:
        for row in rows():
            print(" | ".join(str(c) for c in row))
