"""CardDAV against a real Radicale on 127.0.0.1: initial load of N contacts through the DAV
connector (env BENCH_N, default 10,000, cut at a time budget), first sync, no-change sync; then
the same through the sync service (sync_mailbox: CRM, engine, DAV connector): initial sync of
as many contacts as the load stored in BENCH_DAV_SYNC_BUDGET seconds, and a no-change sync.
"""

# Radicale checks UID uniqueness on every PUT by reading every stored item, so a create costs more
# the fuller the address book: the load stops at BENCH_DAV_BUDGET seconds (default 170), says so,
# and extrapolates the full load from the measured batches.

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _sync_setup import (  # bench/ is on sys.path: run alone or by bench/run.py
    mailbox_owner,
    measure_in_child,
    start_django,
)

from connectors.base import NewItem
from connectors.dav import DavConnector
from connectors.dav.radicale import RadicaleServer

BATCH = 100


def _contact(i: int) -> dict[str, object]:
    return {
        "first_name": f"First{i}",
        "last_name": f"Last{i}",
        "job_title": "Buyer",
        "company_name": f"Company {i % 97}",
        "email": f"person{i}@example.test",
        "business_phone": f"+1 555 {i:06d}",
        "mobile_phone": f"+1 666 {i:06d}",
        "address1_street": f"{i} Main St",
        "address1_city": "Springfield",
        "address1_postal_code": f"{10000 + i % 89999}",
        "address1_country": "USA",
        "description": "Imported by the benchmark.",
    }


def _extrapolate(samples: list[tuple[int, float]], n: int) -> float:
    """Seconds to load n items if the per-item time keeps growing linearly with the book size."""
    if len(samples) < 2:
        return samples[0][1] * n if samples else 0.0
    mean_x = sum(x for x, _ in samples) / len(samples)
    mean_y = sum(y for _, y in samples) / len(samples)
    sxx = sum((x - mean_x) ** 2 for x, _ in samples) or 1.0
    slope = max(0.0, sum((x - mean_x) * (y - mean_y) for x, y in samples) / sxx)
    base = max(mean_y - slope * mean_x, 0.0)
    return base * n + slope * n * n / 2


def _sync_child(n: int) -> dict[str, float]:
    """In a child with its own migrated SQLite: n CRM contacts synced to a fresh Radicale
    address book by sync_mailbox, the next run reading its creates back, a no-change run."""
    start_django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import Contact
    from fieldsync.service.sync import sync_mailbox
    from security.models import BusinessUnit

    folder = Path(tempfile.mkdtemp(prefix="bench-dav-sync-"))
    server = RadicaleServer(folder, {"owner": "pw"})
    server.start()
    out: dict[str, float] = {"n": n}
    try:
        user = mailbox_owner("owner", BusinessUnit.objects.create(name="B"))
        Contact.objects.bulk_create(
            [Contact(owner=user, **_contact(i)) for i in range(n)], batch_size=2000
        )
        dav = DavConnector(url=f"{server.url}owner/", username="owner", password="pw")
        dav.ensure_collections()
        for name in ("initial", "echo", "quiet"):
            before = dav.request_count
            with CaptureQueriesContext(connection) as queries:
                t0 = time.perf_counter()
                report = sync_mailbox(owner=user, connector=dav, entities=["contact"])
                out[f"{name}_seconds"] = time.perf_counter() - t0
            out[f"{name}_requests"] = dav.request_count - before
            out[f"{name}_queries"] = len(queries)
            out[f"{name}_created"] = report.count().get("exchange_created", 0)
        dav.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return out


def _sync_rows(n: int, why: str) -> list[tuple[str, float | str, str, str]]:
    m = measure_in_child(__file__, "bench-dav-db-", "--sync-child", str(n))
    if int(m["initial_created"]) != n:
        raise RuntimeError(f"sync_mailbox created {m['initial_created']} of {n} contacts")
    return [
        (
            f"DAV/Radicale initial sync via sync_mailbox, {n:,} contacts{why}",
            m["initial_seconds"],
            "s",
            f"{int(m['initial_requests']):,} requests, {int(m['initial_queries'])} queries",
        ),
        (
            f"DAV/Radicale next sync reads its {n:,} creates back (sync_mailbox)",
            m["echo_seconds"],
            "s",
            f"{int(m['echo_requests'])} requests",
        ),
        (
            f"DAV/Radicale no-change sync via sync_mailbox, {n:,} contacts",
            m["quiet_seconds"],
            "s",
            f"< 0.5; {int(m['quiet_requests'])} request, {int(m['quiet_queries'])} queries",
        ),
    ]


def rows() -> list[tuple[str, float | str, str, str]]:
    wanted = int(os.environ.get("BENCH_N", "10000"))
    budget = float(os.environ.get("BENCH_DAV_BUDGET", "170"))
    folder = Path(tempfile.mkdtemp(prefix="bench-dav-"))
    server = RadicaleServer(folder, {"bench": "bench"})
    server.start()
    try:
        dav = DavConnector(url=f"{server.url}bench/", username="bench", password="bench")
        dav.ensure_collections()
        samples: list[tuple[int, float]] = []  # (items stored before the batch, s per item)
        loaded = 0
        started = time.perf_counter()
        while loaded < wanted and time.perf_counter() - started < budget:
            size = min(BATCH, wanted - loaded)
            batch = [NewItem(f"bench-{loaded + i}", _contact(loaded + i)) for i in range(size)]
            t0 = time.perf_counter()
            results = dav.create_items("contacts", batch)
            samples.append((loaded, (time.perf_counter() - t0) / size))
            failed = [r for r in results if not r.ok]
            if failed:
                raise RuntimeError(f"{len(failed)} creates failed: {failed[0].message}")
            loaded += size
        load_seconds = time.perf_counter() - started

        before = dav.request_count
        t0 = time.perf_counter()
        pages = list(dav.list_changes("contacts", None))
        first_seconds = time.perf_counter() - t0
        first_requests = dav.request_count - before
        seen = sum(len(p.created) for p in pages)
        state = pages[-1].sync_state

        before = dav.request_count
        t0 = time.perf_counter()
        again = list(dav.list_changes("contacts", state))
        nochange_seconds = time.perf_counter() - t0
        nochange_requests = dav.request_count - before
        assert seen == loaded and not any(p.created or p.updated or p.deleted for p in again)
        dav.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)

    cut = ""
    if loaded < wanted:
        # Radicale's PUT reads every stored item to check the UID is new: O(n) per create.
        cut = f" (not {wanted:,}: cut at {load_seconds:.0f} s, PUT slows as the book grows)"
    last_rate = 1 / samples[-1][1] if samples and samples[-1][1] else 0.0
    rows: list[tuple[str, float | str, str, str]] = [
        (
            f"DAV/Radicale initial load, {loaded:,} contacts{cut}",
            loaded / load_seconds,
            "items/s",
            "measured (server-bound)",
        ),
        (
            f"DAV/Radicale create rate with {samples[-1][0]:,} contacts stored",
            last_rate,
            "items/s",
            "measured",
        ),
    ]
    if loaded < wanted:
        rows.append(
            (
                f"DAV/Radicale initial load of {wanted:,} contacts, extrapolated",
                _extrapolate(samples, wanted) / 60,
                "min",
                "estimate",
            )
        )
    rows += [
        (
            f"DAV/Radicale first sync, {seen:,} contacts",
            first_seconds,
            "s",
            f"{first_requests} requests",
        ),
        (f"DAV/Radicale no-change sync, {loaded:,} contacts", nochange_seconds, "s", "< 1 s"),
        (
            f"DAV/Radicale no-change sync, {loaded:,} contacts: requests",
            float(nochange_requests),
            "requests",
            "1",
        ),
        (f"DAV sync state for {loaded:,} contacts", len(state) / 1024, "KiB", "stored per folder"),
    ]
    # The sync service's initial sync PUTs as the load did: give it the contacts the load stored
    # within its budget (Radicale's PUT cost grows with the book), not all of them.
    sync_budget = float(os.environ.get("BENCH_DAV_SYNC_BUDGET", "60"))
    spent, sync_n = 0.0, 0
    for stored, per_item in samples:
        if spent + per_item * BATCH > sync_budget:
            break
        spent += per_item * BATCH
        sync_n = min(stored + BATCH, loaded)
    sync_n = max(sync_n, min(BATCH, loaded))
    why = (
        ""
        if sync_n >= wanted
        else f" (not {wanted:,}: what the load stored in {sync_budget:.0f} s)"
    )
    rows += _sync_rows(sync_n, why)
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sync-child"]:
        print(json.dumps(_sync_child(int(sys.argv[2]))))
        sys.exit(0)
    for row in rows():
        print(" | ".join(str(cell) for cell in row))
