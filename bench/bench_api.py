"""Benchmark: requests/s, p50 and p99 of the API under concurrent load, served by gunicorn
(2 workers) on PostgreSQL and loaded from a second process.

Endpoints: GET /api/v1/entities/contact/fields/ and GET /api/v1/contacts/ (a page of 100 of a
salesperson's 1,000 contacts, one secured field hidden from them). DATABASE_URL if set, else
a temporary database on 127.0.0.1:5432 (user postgres), dropped afterwards.
BENCH_API_SECONDS (10) per endpoint, BENCH_API_CLIENTS (4) concurrent client threads.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from _pg import temporary_database  # bench/ is on sys.path: run alone or by bench/run.py

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SECONDS = float(os.environ.get("BENCH_API_SECONDS", "10"))
CLIENTS = int(os.environ.get("BENCH_API_CLIENTS", "4"))
CONTACTS = 1000
SELLER = "bench-api-seller"
# name: (path, target req/s at least, target p50 ms at most, target p99 ms at most). The
# targets hold on this project's shared 2-core machine with other work running beside it.
PATHS = {
    "fields": ("/api/v1/entities/contact/fields/", 100, 50, 200),
    "contacts": ("/api/v1/contacts/", 25, 200, 600),
}


# ---- the database --------------------------------------------------------------------------


@contextlib.contextmanager
def _database() -> Iterator[str]:
    """DATABASE_URL, or a temporary database on the local server that is dropped after."""
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    with temporary_database("sa_bench_api") as url:
        yield url


def _seed() -> None:
    """(In a child process with the bench's DATABASE_URL.) A salesperson with 1,000 contacts,
    Contact.description secured and closed to them; prints their API token."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncadmin.settings")
    django.setup()
    from rest_framework.authtoken.models import Token

    from crm.models import Contact
    from security.models import BusinessUnit, User
    from security.services import role_upsert, secure_field

    unit, _ = BusinessUnit.objects.get_or_create(name="Bench API unit")
    seller, _ = User.objects.get_or_create(username=SELLER, defaults={"business_unit": unit})
    levels = {("contact", a): "user" for a in ("create", "read", "write", "delete")}
    role_upsert(
        name="Bench API seller",
        levels={**levels, ("sync_settings", "read"): "organization"},
        users=[seller],
    )
    secure_field(entity="contact", column="description")
    missing = CONTACTS - Contact.objects.filter(owner=seller).count()
    Contact.objects.bulk_create(
        Contact(
            owner=seller,
            first_name=f"First{i}",
            last_name=f"Last{i:05d}",
            company_name=f"Company {i % 37}",
            email=f"p{i}@bench.test",
            description="private notes",
        )
        for i in range(max(missing, 0))
    )
    token, _ = Token.objects.get_or_create(user=seller)
    print(token.key)


# ---- the server ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _gunicorn(env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            str(Path(PYTHON).with_name("gunicorn")),
            "syncadmin.wsgi",
            "--workers=2",
            f"--bind=127.0.0.1:{port}",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---- the load (runs in a second process) ---------------------------------------------------


def _load(url: str, token: str, seconds: float, clients: int) -> dict[str, float]:
    """CLIENTS threads, each sending GET `url` back to back for `seconds`."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        mine: list[float] = []
        bad = 0
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                conn.request("GET", parts.path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()  # gunicorn's sync workers close after each response
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
            if ok:
                mine.append(time.perf_counter() - started)
            else:
                bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "rps": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
    }


def _load_from_another_process(url: str, token: str, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [PYTHON, __file__, "--load", url, token, str(seconds), str(CLIENTS)],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    return json.loads(out.stdout)


# ---- the figures ---------------------------------------------------------------------------


def measure() -> dict[str, dict[str, float]]:
    with _database() as database_url:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "syncadmin.settings",
            "DJANGO_DEBUG": "0",
            # The throttle still runs (its cost is measured) but never refuses the bench.
            "API_TOKEN_RATE": "100000000/minute",
            "LOG_LEVEL": "WARNING",
        }
        manage = [PYTHON, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        seeded = subprocess.run(
            [PYTHON, __file__, "--seed"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        token = seeded.stdout.decode().split()[-1]
        results = {}
        with _gunicorn(env) as base:
            for name, (path, *_targets) in PATHS.items():
                _load_from_another_process(base + path, token, 1.0)  # warm up both workers
                results[name] = _load_from_another_process(base + path, token, SECONDS)
                if results[name]["errors"]:
                    raise RuntimeError(f"{path}: {results[name]['errors']} failed requests")
        return results


def rows() -> list[tuple[str, float | str, str, str]]:
    results = measure()
    out: list[tuple[str, float | str, str, str]] = []
    for name, (path, min_rps, max_p50, max_p99) in PATHS.items():
        r = results[name]
        label = f"API GET {path} ({CLIENTS} clients, gunicorn 2 workers, PostgreSQL)"
        out += [
            (f"{label}: throughput", round(r["rps"], 1), "req/s", f">= {min_rps}"),
            (f"{label}: p50 latency", round(r["p50_ms"], 1), "ms", f"<= {max_p50}"),
            (f"{label}: p99 latency", round(r["p99_ms"], 1), "ms", f"<= {max_p99}"),
        ]
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--seed"]:
        sys.path.insert(0, str(ROOT))
        _seed()
    elif sys.argv[1:2] == ["--load"]:
        url, token, seconds, clients = sys.argv[2:6]
        print(json.dumps(_load(url, token, float(seconds), int(clients))))
    else:
        for row in rows():
            print(" | ".join(str(c) for c in row))
