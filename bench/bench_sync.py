"""Benchmark: the sync engine end to end (CRM, engine, exchangelib, the EWS test server in
process, schema validation off). BENCH_SYNC_N (10,000) contacts: initial sync against plain
exchangelib bulk_create of the same items, no-change sync, 100 changed of N and of N/10.
"""

# The measurement runs in a child process with its own SQLite database (bench/_sync_setup.py).
# `python bench/bench_sync.py` runs it alone.

from __future__ import annotations

import os
import time
from functools import partial

from _sync_setup import (  # bench/ is on sys.path: run alone or by bench/run.py
    changed_rounds,
    changed_rows,
    mailbox_owner,
    measure_in_child,
    own_contacts,
    plain_ews_contact,
    run_alone,
    start_django,
)

N = int(os.environ.get("BENCH_SYNC_N", "10000"))
SERVICE = ("svc@bench.test", "svc-pw")
CHANGED = 100
ROUNDS = 2


def _child() -> dict[str, float]:
    start_django()
    import exchangelib
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from exchangelib import (
        BASIC,
        IMPERSONATION,
        Account,
        Build,
        Configuration,
        Credentials,
        Version,
    )
    from exchangelib.items import Contact as EwsContact

    from connectors.ewsserver import EwsServer
    from connectors.exchange import ExchangeConnector
    from crm.models import Contact
    from fieldsync.service.sync import sync_mailbox
    from security.models import BusinessUnit

    small = max(N // 10, CHANGED)
    server = EwsServer(
        {"small@bench.test": "pw"},
        service_accounts={SERVICE[0]: SERVICE[1]},
        validate=False,
    )
    server.start()
    out: dict[str, float] = {"n": N, "small": small}
    try:
        unit = BusinessUnit.objects.create(name="Bench")

        def owner(name: str, count: int) -> tuple[object, ExchangeConnector]:
            user = mailbox_owner(name, unit)
            own_contacts(user, count)
            connector = ExchangeConnector(
                ews_url=server.url,
                username=SERVICE[0],
                password=SERVICE[1],
                primary_smtp_address=f"{name}@bench.test",
            )
            list(connector.list_changes("contacts", None))  # warm up: folder lookup, connection
            return user, connector

        def sync(user: object, connector: ExchangeConnector) -> tuple[float, int, int, dict]:
            server.reset()
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                report = sync_mailbox(owner=user, connector=connector, entities=["contact"])
                seconds = time.perf_counter() - started
            return seconds, len(queries), server.request_count(), report.count()

        # Initial sync of N against plain exchangelib bulk_create of the same items, each twice,
        # interleaved, best of two: the machine is shared and single runs are noisy.
        config = Configuration(
            service_endpoint=server.url,
            credentials=Credentials(*SERVICE),
            auth_type=BASIC,
            version=Version(build=Build(15, 1)),
        )
        plain_best = ours_best = float("inf")
        for round_no in range(ROUNDS):
            server.store.add_mailbox(f"plain{round_no}@bench.test", "pw")
            server.store.add_mailbox(f"big{round_no}@bench.test", "pw")
            plain = Account(
                f"plain{round_no}@bench.test",
                config=config,
                autodiscover=False,
                access_type=IMPERSONATION,
            )
            plain.bulk_create(
                folder=plain.contacts,
                items=[EwsContact(account=plain, folder=plain.contacts, display_name="warm")],
            )
            user, conn = owner(f"big{round_no}", N)
            server.reset()
            started = time.perf_counter()
            items = [
                plain_ews_contact(
                    plain, i, f"00000000-0000-0000-0000-{i:012d}", categories=["Tracked to CRM"]
                )
                for i in range(N)
            ]
            results = plain.bulk_create(folder=plain.contacts, items=items)
            plain_best = min(plain_best, time.perf_counter() - started)
            out["plain_requests"] = server.request_count()
            assert not any(isinstance(r, Exception) for r in results)
            s, q, r, counts = sync(user, conn)
            assert counts["exchange_created"] == N, counts
            ours_best = min(ours_best, s)
            out.update(initial_queries=q, initial_requests=r)
            if round_no == 0:
                big, big_conn = user, conn
        out.update(plain_seconds=plain_best, initial_seconds=ours_best)
        small_user, small_conn = owner("small", small)

        # The next run reads the items it created back (the saved sync state predates them).
        s, q, r, counts = sync(big, big_conn)
        out.update(echo_seconds=s, echo_requests=r)
        sync(small_user, small_conn)
        sync(small_user, small_conn)

        for label, user, conn in (("big", big, big_conn), ("small", small_user, small_conn)):
            runs = [sync(user, conn) for _ in range(3)]
            for _, _, _, counts in runs:
                assert not any(counts[k] for k in counts if k != "items_seen"), counts
            _, q, r, _ = runs[-1]
            out.update(
                {
                    f"quiet_{label}_seconds": min(run[0] for run in runs),
                    f"quiet_{label}_queries": q,
                    f"quiet_{label}_requests": r,
                    f"quiet_{label}_folder_requests": server.request_count("SyncFolderItems"),
                }
            )

        # 100 changed: half edited in the CRM, half in Outlook (through a second client);
        # best of three rounds, the echo of each round's writes absorbed before the next.
        for label, user, conn in (("big", big, big_conn), ("small", small_user, small_conn)):
            contacts = list(Contact.objects.filter(owner=user).order_by("last_name")[:CHANGED])
            outlook = ExchangeConnector(
                ews_url=server.url,
                username=SERVICE[0],
                password=SERVICE[1],
                primary_smtp_address=conn.primary_smtp_address,
            )
            best, (_, q, r, *_) = changed_rounds(contacts, outlook, partial(sync, user, conn))
            out.update(
                {
                    f"changed_{label}_seconds": best,
                    f"changed_{label}_queries": q,
                    f"changed_{label}_requests": r,
                }
            )
        return out
    finally:
        exchangelib.close_connections()
        server.stop()


def rows() -> list[tuple[str, float | str, str, str]]:
    m = measure_in_child(__file__, "bench-sync-", "--child")
    n, small = int(m["n"]), int(m["small"])
    ratio = m["initial_seconds"] / m["plain_seconds"]
    return [
        (f"initial sync, {n} contacts (CRM -> Exchange)", round(m["initial_seconds"], 2), "s", ""),
        (f"plain exchangelib bulk_create, same {n} items", round(m["plain_seconds"], 2), "s", ""),
        ("initial sync time / bulk_create time", round(ratio, 3), "x", "<= 1.3"),
        (
            "initial sync: EWS requests",
            int(m["initial_requests"]),
            "requests",
            f"bulk_create: {int(m['plain_requests'])}",
        ),
        ("initial sync: SQL queries", int(m["initial_queries"]), "queries", ""),
        (
            f"next sync reads its {n} creates back",
            round(m["echo_seconds"], 2),
            "s",
            f"{int(m['echo_requests'])} requests",
        ),
        (f"no-change sync, {n} contacts", round(m["quiet_big_seconds"], 3), "s", "< 0.5"),
        (
            f"no-change sync, {n} contacts: EWS requests (contacts folder)",
            int(m["quiet_big_folder_requests"]),
            "requests",
            f"constant ({small} contacts: {int(m['quiet_small_folder_requests'])})",
        ),
        (
            f"no-change sync, {n} contacts: SQL queries",
            int(m["quiet_big_queries"]),
            "queries",
            f"constant ({small} contacts: {int(m['quiet_small_queries'])})",
        ),
        *changed_rows(m, "", "EWS requests"),
    ]


if __name__ == "__main__":
    run_alone(_child, rows)
