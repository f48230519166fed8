"""Benchmark: our connector's batch create vs plain exchangelib bulk_create, both against the
in-process EWS test server (schema validation on). BENCH_N sets the contact count (10,000).
"""

from __future__ import annotations

import math
import os
import time

import exchangelib
from _sync_setup import (  # bench/ is on sys.path: run alone or by bench/run.py
    contact_values,
    plain_ews_contact,
)
from exchangelib import BASIC, IMPERSONATION, Account, Build, Configuration, Credentials, Version

from connectors.base import NewItem
from connectors.ewsserver import EwsServer
from connectors.exchange import ExchangeConnector

SERVICE = ("svc@bench.test", "svc-pw")
CONSTANT_REQUESTS = 5
ROUNDS = 2  # best of two runs each: the machine is shared, single runs are noisy  # folder lookups (GetFolder) and the like, once per connector


def measure(n: int) -> dict[str, float]:
    server = EwsServer(
        {"ours@bench.test": "pw", "plain@bench.test": "pw"},
        service_accounts={SERVICE[0]: SERVICE[1]},
    )
    server.start()
    try:
        config = Configuration(
            service_endpoint=server.url,
            credentials=Credentials(*SERVICE),
            auth_type=BASIC,
            version=Version(build=Build(15, 1)),
        )
        plain = Account(
            "plain@bench.test", config=config, autodiscover=False, access_type=IMPERSONATION
        )
        ours = ExchangeConnector(
            ews_url=server.url,
            username=SERVICE[0],
            password=SERVICE[1],
            primary_smtp_address="ours@bench.test",
        )
        # Warm up both (folder lookups, connections) so the timed runs measure creates only.
        plain.bulk_create(folder=plain.contacts, items=[plain_ews_contact(plain, -1)])
        ours.create_items("contacts", [NewItem("warm", contact_values(-1))])

        plain_best = ours_best = bare_best = float("inf")
        for round_no in range(ROUNDS):
            # Plain exchangelib, timed from the CRM values as ours is: build Contacts, bulk_create.
            server.reset()
            started = time.perf_counter()
            plain_items = [plain_ews_contact(plain, i, f"crm-p{round_no}-{i}") for i in range(n)]
            plain_results = plain.bulk_create(folder=plain.contacts, items=plain_items)
            plain_best = min(plain_best, time.perf_counter() - started)
            plain_requests = server.request_count()
            assert not any(isinstance(r, Exception) for r in plain_results)

            server.reset()
            new_items = [NewItem(f"crm-{round_no}-{i}", contact_values(i)) for i in range(n)]
            started = time.perf_counter()
            results = ours.create_items("contacts", new_items)
            ours_best = min(ours_best, time.perf_counter() - started)
            ours_requests = server.request_count()
            validation = server.validation_seconds
            assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
            # And plain without the CRM id property: what that property costs by itself.
            server.reset()
            started = time.perf_counter()
            bare = [plain_ews_contact(plain, i) for i in range(n)]
            plain.bulk_create(folder=plain.contacts, items=bare)
            bare_best = min(bare_best, time.perf_counter() - started)
        plain_seconds, ours_seconds = plain_best, ours_best
        return {
            "n": n,
            "ours_rate": n / ours_seconds,
            "plain_rate": n / plain_seconds,
            "ratio": ours_seconds / plain_seconds,
            "ratio_bare": ours_seconds / bare_best,
            "requests": ours_requests,
            "plain_requests": plain_requests,
            "validation_ms": 1000 * validation / max(ours_requests, 1),
        }
    finally:
        exchangelib.close_connections()
        server.stop()


def rows() -> list[tuple[str, float | str, str, str]]:
    n = int(os.environ.get("BENCH_N", "10000"))
    m = measure(n)
    limit = math.ceil(n / 100) + CONSTANT_REQUESTS
    return [
        (f"connector create_items, {n} contacts", round(m["ours_rate"], 1), "items/s", ""),
        (f"exchangelib bulk_create, {n} contacts", round(m["plain_rate"], 1), "items/s", ""),
        (
            "connector time / bulk_create time (same items, CRM id incl.)",
            round(m["ratio"], 3),
            "x",
            "<= 1.2",
        ),
        (
            "connector time / bulk_create without the CRM id property",
            round(m["ratio_bare"], 3),
            "x",
            "",
        ),
        (f"HTTP requests for {n} creates", m["requests"], "requests", f"<= {limit}"),
        ("server schema validation per request", round(m["validation_ms"], 2), "ms", ""),
    ]


if __name__ == "__main__":
    for row in rows():
        print(" | ".join(str(c) for c in row))
