"""A throwaway PostgreSQL database for a benchmark, on the local server (trust auth)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def temporary_database(prefix: str) -> Iterator[str]:
    """Create `<prefix>_<pid>`, yield its URL, drop it afterwards whatever happened."""
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    base = ADMIN_URL.rsplit("/", 1)[0]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.replace('postgresql://', 'postgres://', 1)}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
