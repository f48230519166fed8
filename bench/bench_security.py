"""Benchmark: the visible ids of 100,000 contacts for users with a business-unit role and a
parent-child role, in one query each. DATABASE_URL if set, else a temporary SQLite file.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncadmin.settings")

CONTACTS = int(os.environ.get("BENCH_SECURITY_N", "100000"))
UNITS = 20  # business units under the root
OWNERS_PER_UNIT = 10
SHARED = 50  # contacts of other units shared with the business-unit user
ROUNDS = 5  # median of five: the machine is shared


def _django() -> None:
    import logging

    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    logging.getLogger("security.services").setLevel(logging.WARNING)  # one line per share


def _populate() -> dict[str, object]:
    """An organization of UNITS units under a root, 100,000 contacts spread evenly over
    their owners, a sales user with a business-unit read role (via a team, next to two
    roles of their own), 50 contacts of other units shared with them, and a head of the
    organization with a parent-child read role at the root."""
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from crm.models import Contact
    from security.models import AccessLevel, BusinessUnit, User
    from security.services import role_upsert, share_record

    with transaction.atomic():
        root = BusinessUnit.objects.create(name="Bench root")
        units = [BusinessUnit.objects.create(name=f"Unit {i}", parent=root) for i in range(UNITS)]
        owners = User.objects.bulk_create(
            User(username=f"owner-{u.pk}-{i}", password="!", business_unit=u)
            for u in units
            for i in range(OWNERS_PER_UNIT)
        )
        seller = User.objects.create(username="bench-seller", business_unit=units[0])
        head = User.objects.create(username="bench-head", business_unit=root)
        admin = User.objects.create(username="bench-admin", is_superuser=True)
        team = Group.objects.create(name="Bench sales")
        seller.groups.add(team)
        role_upsert(
            name="Unit reader",
            levels={("contact", "read"): AccessLevel.BUSINESS_UNIT},
            teams=[team],
        )
        role_upsert(name="Own tasks", levels={("task", "read"): AccessLevel.USER}, users=[seller])
        role_upsert(
            name="Own contacts", levels={("contact", "read"): AccessLevel.USER}, users=[seller]
        )
        role_upsert(
            name="Head", levels={("contact", "read"): AccessLevel.PARENT_CHILD}, users=[head]
        )
        batch = 10_000
        for start in range(0, CONTACTS, batch):
            Contact.objects.bulk_create(
                [
                    Contact(
                        owner_id=(o := owners[i % len(owners)]).pk,
                        business_unit_id=o.business_unit_id,
                        last_name=f"Contact {i}",
                    )
                    for i in range(start, min(start + batch, CONTACTS))
                ],
                batch_size=2_000,
            )
        others = Contact.objects.exclude(business_unit=units[0]).order_by("pk")[:SHARED]
        for contact in others:
            share_record(record=contact, user_or_team=seller, rights=["read"], actor=admin)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    in_unit = Contact.objects.filter(business_unit=units[0]).count()
    return {"seller": seller, "head": head, "seller_expected": in_unit + SHARED}


def _time_visible_ids(user: object, expected: int) -> tuple[float, int]:
    """Median milliseconds to read the ids, and the number of queries one read takes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import Contact
    from security import policy

    def read() -> list[object]:
        # Unordered, as the sync engine reads them (Contact's default order is by name).
        visible = policy.restrict(Contact.objects.order_by(), user)
        return list(visible.values_list("id", flat=True))

    with CaptureQueriesContext(connection) as queries:
        ids = read()  # also builds (and caches) the user's condition
    assert len(ids) == expected, (len(ids), expected)
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        read()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), len(queries.captured_queries)


def measure() -> dict[str, object]:
    _django()
    from django.db import connection

    settings_dict = connection.settings_dict
    temporary = None
    if connection.vendor == "sqlite":
        temporary = tempfile.NamedTemporaryFile(suffix=".sqlite3", delete=False)  # noqa: SIM115
        temporary.close()
        settings_dict["TEST"]["NAME"] = temporary.name
    else:  # never the real database; not pytest's test database either
        settings_dict["TEST"]["NAME"] = f"bench_security_{settings_dict['NAME']}"
    real_name = settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        started = time.perf_counter()
        world = _populate()
        populate_s = time.perf_counter() - started
        seller_ms, seller_queries = _time_visible_ids(world["seller"], world["seller_expected"])
        head_ms, head_queries = _time_visible_ids(world["head"], CONTACTS)
        assert seller_queries == 1, f"{seller_queries} queries for the visible ids"
        assert head_queries == 1, f"{head_queries} queries for the visible ids"
        return {
            "vendor": connection.vendor,
            "populate_s": populate_s,
            "seller_ms": seller_ms,
            "seller_ids": world["seller_expected"],
            "seller_queries": seller_queries,
            "head_ms": head_ms,
        }
    finally:
        connection.creation.destroy_test_db(real_name, verbosity=0)
        if temporary is not None and os.path.exists(temporary.name):
            os.unlink(temporary.name)


def rows() -> list[tuple[str, float | str, str, str]]:
    m = measure()
    n = f"{CONTACTS:,} contacts, {m['vendor']}"
    return [
        (
            f"visible contact ids, business-unit role ({m['seller_ids']:,} of {n})",
            round(float(m["seller_ms"]), 1),
            "ms",
            "< 250",
        ),
        ("queries to read a user's visible contact ids", m["seller_queries"], "queries", "1"),
        (
            f"visible contact ids, parent-child role at the root (all {n})",
            round(float(m["head_ms"]), 1),
            "ms",
            "",
        ),
    ]


if __name__ == "__main__":
    for row in rows():
        print(" | ".join(str(c) for c in row))
