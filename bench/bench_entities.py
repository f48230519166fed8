"""Benchmark: a no-change sync of a mailbox with all eight entities (contacts, appointments,
recurring appointments, service activities, tasks, phone calls, letters, faxes) through
exchangelib and the EWS test server in process (schema validation off). BENCH_ENTITIES_N
(10,000) items in all, spread over the entities, against a mailbox a tenth that size: the
requests per folder and the SQL queries must be the same.
"""

# Like bench_sync.py, the measurement runs in a child process with its own SQLite database
# (bench/_sync_setup.py). `python bench/bench_entities.py` runs it alone.

from __future__ import annotations

import datetime
import os
import time
from collections import Counter

from _sync_setup import (  # bench/ is on sys.path: run alone or by bench/run.py
    mailbox_owner,
    measure_in_child,
    run_alone,
    start_django,
)

N = int(os.environ.get("BENCH_ENTITIES_N", "10000"))
SERVICE = ("svc@bench.test", "svc-pw")
START = datetime.datetime(2027, 1, 4, 9, tzinfo=datetime.UTC)


def _records(owner, models, n: int) -> None:  # type: ignore[no-untyped-def]
    """n records in all, an equal share per entity."""
    share = n // len(models)
    for entity, model in models.items():
        if entity == "contact":
            rows = [model(owner=owner, first_name="F", last_name=f"L{i}") for i in range(share)]
        elif entity in ("appointment", "recurring_appointment", "service_activity"):
            rows = [
                model(
                    owner=owner,
                    subject=f"{entity} {i}",
                    scheduled_start=START + datetime.timedelta(hours=i),
                    scheduled_end=START + datetime.timedelta(hours=i, minutes=30),
                    **(
                        {"recurrence_pattern": "FREQ=WEEKLY;COUNT=4"}
                        if entity == "recurring_appointment"
                        else {}
                    ),
                )
                for i in range(share)
            ]
        else:
            rows = [model(owner=owner, subject=f"{entity} {i}") for i in range(share)]
        model.objects.bulk_create(rows, batch_size=2000)


def _child() -> dict[str, object]:
    start_django()
    import exchangelib
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from connectors.ewsserver import EwsServer
    from connectors.exchange import ExchangeConnector
    from crm.models import CRM_MODELS
    from fieldsync.service.rules import ENTITIES
    from fieldsync.service.sync import sync_mailbox
    from fieldsync.service.values import FOLDERS
    from security.models import BusinessUnit

    server = EwsServer({}, service_accounts={SERVICE[0]: SERVICE[1]}, validate=False)
    server.start()
    out: dict[str, object] = {"n": N}
    try:
        unit = BusinessUnit.objects.create(name="Bench")
        models = {e: CRM_MODELS[e] for e in ENTITIES}

        def mailbox(name: str, count: int) -> tuple[object, ExchangeConnector]:
            server.store.add_mailbox(f"{name}@bench.test", "pw")
            user = mailbox_owner(name, unit, ENTITIES)
            _records(user, models, count)
            connector = ExchangeConnector(
                ews_url=server.url,
                username=SERVICE[0],
                password=SERVICE[1],
                primary_smtp_address=f"{name}@bench.test",
            )
            return user, connector

        def run(user: object, connector: ExchangeConnector) -> tuple[float, int, Counter, dict]:
            server.reset()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                report = sync_mailbox(owner=user, connector=connector, entities=ENTITIES)
                seconds = time.perf_counter() - started
            folders: Counter = Counter()
            for entity in ENTITIES:
                folders[FOLDERS[entity]] += 1  # one SyncFolderItems per entity and folder
            return seconds, len(queries), folders, report.count()

        for label, count in (("big", N), ("small", max(N // 10, len(ENTITIES)))):
            user, connector = mailbox(label, count)
            started = time.perf_counter()
            run(user, connector)
            out[f"{label}_initial_seconds"] = time.perf_counter() - started
            run(user, connector)  # the echo of the creates
            run(user, connector)  # each entity has seen the others' creates
            runs = [run(user, connector) for _ in range(3)]
            for _, _, _, counts in runs:
                assert not any(counts[k] for k in counts if k != "items_seen"), counts
            _, queries, folders, _ = runs[-1]
            out[f"{label}_quiet_seconds"] = min(r[0] for r in runs)
            out[f"{label}_quiet_queries"] = queries
            out[f"{label}_quiet_requests"] = server.request_count()
            out[f"{label}_quiet_sync_folder_items"] = server.request_count("SyncFolderItems")
            out[f"{label}_per_folder"] = dict(folders)
            out[f"{label}_items"] = count // len(ENTITIES) * len(ENTITIES)
        return out
    finally:
        exchangelib.close_connections()
        server.stop()


def rows() -> list[tuple[str, float | str, str, str]]:
    m = measure_in_child(__file__, "bench-entities-", "--child")
    big, small = int(m["big_items"]), int(m["small_items"])
    per_folder = ", ".join(f"{f} {n}" for f, n in sorted(m["big_per_folder"].items()))
    return [
        (
            f"no-change sync, 8 entities, {big} items in all",
            round(m["big_quiet_seconds"], 3),
            "s",
            f"{small} items: {m['small_quiet_seconds']:.3f} s",
        ),
        (
            f"no-change sync, 8 entities, {big} items: EWS requests",
            int(m["big_quiet_requests"]),
            "requests",
            f"constant ({small} items: {int(m['small_quiet_requests'])}); "
            f"{int(m['big_quiet_sync_folder_items'])} SyncFolderItems ({per_folder})",
        ),
        (
            f"no-change sync, 8 entities, {big} items: SQL queries",
            int(m["big_quiet_queries"]),
            "queries",
            f"constant ({small} items: {int(m['small_quiet_queries'])})",
        ),
        (
            f"initial sync, 8 entities, {big} items (CRM -> Exchange)",
            round(m["big_initial_seconds"], 1),
            "s",
            "",
        ),
    ]


if __name__ == "__main__":
    run_alone(_child, rows)
