"""Benchmark: the sync engine end to end through the Graph connector against the Graph test
server in process (CSDL checks on). BENCH_GRAPH_N (10,000) contacts: the initial sync against a
plain httpx loop posting the same items in $batch requests of 20, its write requests, a
no-change sync, 100 changed of N and of N/10.
"""

# As bench_sync.py: the measurement runs in a child process with its own SQLite database
# (bench/_sync_setup.py). `python bench/bench_graph.py` runs it alone.

from __future__ import annotations

import math
import os
import time
from functools import partial

from _sync_setup import (  # bench/ is on sys.path: run alone or by bench/run.py
    changed_rounds,
    changed_rows,
    contact_values,
    mailbox_owner,
    measure_in_child,
    own_contacts,
    run_alone,
    start_django,
)

N = int(os.environ.get("BENCH_GRAPH_N", "10000"))
TENANT, CLIENT_ID, SECRET = "bench.onmicrosoft.com", "0be0c4a1-0000-4000-8000-00000000be01", "s"
CHANGED = 100
CONSTANT_REQUESTS = 5  # the category in the master list and the like, once per mailbox
CRM_ID = "String {00020329-0000-0000-C000-000000000046} Name SyncAdminCrmId"


def _plain_body(i: int) -> dict:
    """The contact our sync creates, written by hand: same values, CRM id, category."""
    v = contact_values(i)
    return {
        "givenName": v["first_name"],
        "surname": v["last_name"],
        "companyName": v["company_name"],
        "jobTitle": v["job_title"],
        "emailAddresses": [{"address": v["email"]}],
        "businessPhones": [v["business_phone"]],
        "categories": ["Tracked to CRM"],
        "singleValueExtendedProperties": [
            {"id": CRM_ID, "value": f"00000000-0000-0000-0000-{i:012d}"}
        ],
    }


def _plain_load(server, address: str, n: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """A plain httpx loop: one token, then $batch requests of 20 POSTs, one after another."""
    import httpx

    with httpx.Client(timeout=120) as http:
        token = http.post(
            f"{server.url}/{TENANT}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": SECRET,
                "scope": "https://graph.microsoft.com/.default",
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        url = f"/users/{address}/contactFolders/contacts/contacts"
        requests = 0
        started = time.perf_counter()
        for start in range(0, n, 20):
            batch = {
                "requests": [
                    {
                        "id": str(i),
                        "method": "POST",
                        "url": url,
                        "headers": {"Content-Type": "application/json"},
                        "body": _plain_body(i),
                    }
                    for i in range(start, min(start + 20, n))
                ]
            }
            answer = http.post(f"{server.graph_url}/$batch", json=batch, headers=headers)
            requests += 1
            assert answer.status_code == 200
            assert all(r["status"] == 201 for r in answer.json()["responses"])
        return time.perf_counter() - started, requests


def _child() -> dict[str, float]:
    start_django()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from connectors.graph import GraphConnector
    from connectors.graphserver import App, GraphServer
    from crm.models import Contact
    from fieldsync.service.sync import sync_mailbox
    from security.models import BusinessUnit

    small = max(N // 10, CHANGED)
    server = GraphServer(apps=[App(TENANT, CLIENT_ID, SECRET)])
    server.start()
    out: dict[str, float] = {"n": N, "small": small}
    made: list[GraphConnector] = []

    def connect(address: str) -> GraphConnector:
        connector = GraphConnector(
            tenant_id=TENANT,
            client_id=CLIENT_ID,
            client_secret=SECRET,
            mailbox=address,
            graph_url=server.graph_url,
            login_url=server.url,
            timeout=300,
        )
        made.append(connector)
        return connector

    try:
        unit = BusinessUnit.objects.create(name="Bench")

        def owner(name: str, count: int) -> tuple[object, GraphConnector]:
            user = mailbox_owner(name, unit)
            own_contacts(user, count)
            server.add_mailbox(f"{name}@bench.test")
            connector = connect(f"{name}@bench.test")
            connector.client.token()  # warm up: the token, the connection
            return user, connector

        def sync(user: object, connector: GraphConnector) -> tuple[float, int, int, int, dict]:
            requests, writes = connector.client.requests, connector.client.write_requests
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                report = sync_mailbox(owner=user, connector=connector, entities=["contact"])
                seconds = time.perf_counter() - started
            return (
                seconds,
                len(queries),
                connector.client.requests - requests,
                connector.client.write_requests - writes,
                report.count(),
            )

        # The initial sync of N against the plain loop, interleaved, in the same run.
        server.add_mailbox("plain@bench.test")
        plain_seconds, plain_requests = _plain_load(server, "plain@bench.test", N)
        big, big_conn = owner("big", N)
        s, q, r, w, counts = sync(big, big_conn)
        assert counts["exchange_created"] == N, counts
        out.update(
            plain_seconds=plain_seconds,
            plain_requests=plain_requests,
            initial_seconds=s,
            initial_queries=q,
            initial_requests=r,
            initial_writes=w,
        )
        small_user, small_conn = owner("small", small)

        # The next run reads the items it created back (the saved delta link predates them).
        s, q, r, w, counts = sync(big, big_conn)
        out.update(echo_seconds=s, echo_requests=r)
        sync(small_user, small_conn)
        sync(small_user, small_conn)

        for label, user, conn in (("big", big, big_conn), ("small", small_user, small_conn)):
            runs = [sync(user, conn) for _ in range(3)]
            for *_, counts in runs:
                assert not any(counts[k] for k in counts if k != "items_seen"), counts
            _, q, r, _, _ = runs[-1]
            out.update(
                {
                    f"quiet_{label}_seconds": min(run[0] for run in runs),
                    f"quiet_{label}_queries": q,
                    f"quiet_{label}_requests": r,
                }
            )

        # 100 changed: half edited in the CRM, half in Outlook (through a second client).
        for label, user, conn in (("big", big, big_conn), ("small", small_user, small_conn)):
            contacts = list(Contact.objects.filter(owner=user).order_by("last_name")[:CHANGED])
            outlook = connect(conn.mailbox)
            best, (_, q, r, *_) = changed_rounds(contacts, outlook, partial(sync, user, conn))
            out.update(
                {
                    f"changed_{label}_seconds": best,
                    f"changed_{label}_queries": q,
                    f"changed_{label}_requests": r,
                }
            )
        out["violations"] = len(server.violations)
        return out
    finally:
        for connector in made:
            connector.close()
        server.stop()


def rows() -> list[tuple[str, float | str, str, str]]:
    m = measure_in_child(__file__, "bench-graph-", "--child")
    n, small = int(m["n"]), int(m["small"])
    ratio = m["initial_seconds"] / m["plain_seconds"]
    limit = math.ceil(n / 20) + CONSTANT_REQUESTS
    return [
        (
            f"Graph: initial sync, {n} contacts (CRM -> Graph)",
            round(m["initial_seconds"], 2),
            "s",
            "",
        ),
        (
            f"Graph: plain httpx loop, same {n} items in $batch of 20",
            round(m["plain_seconds"], 2),
            "s",
            f"{int(m['plain_requests'])} requests",
        ),
        ("Graph: initial sync time / plain $batch loop time", round(ratio, 3), "x", "<= 1.3"),
        (
            "Graph: initial sync write requests",
            int(m["initial_writes"]),
            "requests",
            f"<= {limit} (all requests: {int(m['initial_requests'])})",
        ),
        ("Graph: initial sync SQL queries", int(m["initial_queries"]), "queries", ""),
        (
            f"Graph: next sync reads its {n} creates back",
            round(m["echo_seconds"], 2),
            "s",
            f"{int(m['echo_requests'])} requests",
        ),
        (f"Graph: no-change sync, {n} contacts", round(m["quiet_big_seconds"], 3), "s", "< 0.5"),
        (
            f"Graph: no-change sync, {n} contacts: requests (contacts folder)",
            int(m["quiet_big_requests"]),
            "requests",
            f"1 ({small} contacts: {int(m['quiet_small_requests'])})",
        ),
        *changed_rows(m, "Graph: ", "requests"),
        ("Graph test server: CSDL violations in its answers", int(m["violations"]), "", "0"),
    ]


if __name__ == "__main__":
    run_alone(_child, rows)
