"""CardDAV against a real Radicale on 127.0.0.1: initial load of N contacts through the DAV
connector (env BENCH_N, default 10,000, cut at a time budget), first sync, no-change sync.
"""

# Radicale checks UID uniqueness on every PUT by reading every stored item, so a create costs more
# the fuller the address book: the load stops at BENCH_DAV_BUDGET seconds (default 170), says so,
# and extrapolates the full load from the measured batches.

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
    return rows


if __name__ == "__main__":
    for row in rows():
        print(" | ".join(str(cell) for cell in row))
