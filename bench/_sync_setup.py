"""Set-up shared by the sync benchmarks (bench_sync, bench_graph, bench_entities, bench_dav,
bench_connector).

Each measures in a child process with its own SQLite database (a temporary file, migrated from
scratch), so it neither touches var/db.sqlite3 nor depends on what the other benchmarks
configured; the child prints its figures as JSON on its last line. bench/ is on sys.path (run
alone or by bench/run.py), so the benchmarks import this as `_sync_setup`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RIGHTS = ("create", "read", "write", "delete", "sync")
Row = tuple[str, float | str, str, str]


def measure_in_child(script: str, prefix: str, *args: str) -> dict[str, Any]:
    """Run `python script *args` with a database of its own; its figures (the JSON it prints
    last). A child that fails raises with the end of its error output."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        env = dict(os.environ)
        env["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        env["DJANGO_SETTINGS_MODULE"] = "syncadmin.settings"
        env.pop("REDIS_URL", None)
        done = subprocess.run(
            [sys.executable, script, *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        return json.loads(done.stdout.strip().splitlines()[-1])


def start_django() -> None:
    """In the child: Django set up on its fresh database, migrated."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncadmin.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def contact_values(i: int) -> dict[str, object]:
    """The CRM values of the i-th benchmark contact."""
    return {
        "first_name": f"First{i}",
        "last_name": f"Last{i}",
        "company_name": f"Company {i % 97}",
        "job_title": "Buyer",
        "email": f"person{i}@bench.test",
        "business_phone": f"+1 555 {i:06d}",
    }


def plain_ews_contact(account: Any, i: int, crm_id: str | None = None, **extra: Any) -> Any:
    """The i-th contact built with plain exchangelib (as our connector writes it); with crm_id
    it carries the same extended property."""
    from exchangelib.indexed_properties import EmailAddress, PhoneNumber
    from exchangelib.items import Contact

    v = contact_values(i)
    if crm_id:
        extra["crm_id"] = crm_id
    return Contact(
        **extra,
        account=account,
        folder=account.contacts,
        display_name=f"{v['first_name']} {v['last_name']}",
        given_name=v["first_name"],
        surname=v["last_name"],
        company_name=v["company_name"],
        job_title=v["job_title"],
        email_addresses=[EmailAddress(label="EmailAddress1", email=v["email"])],
        phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number=v["business_phone"])],
    )


def mailbox_owner(name: str, unit: Any, entities: Iterable[str] = ("contact",)) -> Any:
    """A user `name` (e-mail name@bench.test) who may sync their own records of `entities`."""
    from security.models import User
    from security.services import role_upsert

    user = User.objects.create_user(name, email=f"{name}@bench.test", business_unit=unit)
    levels = {(e, a): "user" for e in entities for a in RIGHTS}
    role_upsert(name=f"role-{name}", levels=levels, users=[user])
    return user


def own_contacts(user: Any, count: int) -> None:
    """`count` contacts owned by `user`, with contact_values."""
    from crm.models import Contact

    Contact.objects.bulk_create(
        [Contact(owner=user, **contact_values(i)) for i in range(count)], batch_size=2000
    )


def edit_both_sides(contacts: list[Any], outlook: Any, round_no: int) -> None:
    """Half the contacts edited in the CRM (job title), the other half in Outlook (department,
    through `outlook`, a second client of the mailbox)."""
    from connectors.base import ItemUpdate

    half = len(contacts) // 2
    for c in contacts[:half]:
        c.job_title = f"Head of purchasing {round_no}"
        c.save()
    found = outlook.find_by_crm_ids("contacts", [str(c.pk) for c in contacts[half:]])
    outlook.update_items(
        "contacts",
        [
            ItemUpdate(i.item_id, i.change_key, {"department": f"Sourcing {round_no}"})
            for i in found.values()
        ],
    )


def changed_rounds(
    contacts: list[Any], outlook: Any, sync: Callable[[], tuple]
) -> tuple[float, tuple]:
    """Three rounds of edit_both_sides, each synced by `sync()` (its answer: seconds first, the
    run's counts last), then the echo of the round's writes absorbed: the best seconds, and the
    last round's answer."""
    best = float("inf")
    for round_no in range(3):
        edit_both_sides(contacts, outlook, round_no)
        answer = sync()
        counts = answer[-1]
        assert counts["exchange_updated"] == len(contacts) // 2, counts
        assert counts["crm_updated"] == len(contacts) - len(contacts) // 2, counts
        best = min(best, answer[0])
        sync()  # the echo of this round's writes
    return best, answer


def changed_rows(m: dict[str, Any], prefix: str, requests: str) -> list[Row]:
    """The rows of changed_rounds' figures (changed_big_* and changed_small_*)."""
    n, small = int(m["n"]), int(m["small"])
    return [
        (
            f"{prefix}100 of {n} changed (50 CRM, 50 Outlook)",
            round(m["changed_big_seconds"], 3),
            "s",
            f"~ 100 of {small}: {m['changed_small_seconds']:.3f} s",
        ),
        (
            f"{prefix}100 of {n} changed: {requests} / SQL queries",
            f"{int(m['changed_big_requests'])} / {int(m['changed_big_queries'])}",
            "",
            f"100 of {small}: {int(m['changed_small_requests'])} / {int(m['changed_small_queries'])}",
        ),
    ]


def run_alone(child: Callable[[], dict[str, Any]], rows: Callable[[], list[Row]]) -> None:
    """`python bench/bench_x.py`: the rows; with --child, the measurement itself."""
    if "--child" in sys.argv:
        print(json.dumps(child()))
    else:
        for row in rows():
            print(" | ".join(str(c) for c in row))
