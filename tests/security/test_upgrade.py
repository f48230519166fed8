"""The upgrade that adds phone calls, letters, faxes and service activities keeps existing roles
working: each gets the levels the role held on the activity Outlook showed them as."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("security", "0004_share_names"), ("crm", "0004_sync_permissions")]
AFTER = [("security", "0005_activity_shares_and_privileges")]


@pytest.mark.django_db(transaction=True)
def test_existing_roles_get_the_new_activities_at_their_task_and_appointment_levels():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    role = old.get_model("security", "SecurityRole").objects.create(name="Seller")
    privilege = old.get_model("security", "RolePrivilege")
    privilege.objects.bulk_create(
        [
            privilege(role=role, entity="task", action="read", level=2),
            privilege(role=role, entity="task", action="sync", level=1),
            privilege(role=role, entity="appointment", action="write", level=4),
            privilege(role=role, entity="contact", action="read", level=4),
        ]
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    rows = set(
        new.get_model("security", "RolePrivilege")
        .objects.filter(role_id=role.pk)
        .values_list("entity", "action", "level")
    )
    assert rows == {
        ("task", "read", 2),
        ("task", "sync", 1),
        ("appointment", "write", 4),
        ("contact", "read", 4),
        *((e, "read", 2) for e in ("phone_call", "letter", "fax")),
        *((e, "sync", 1) for e in ("phone_call", "letter", "fax")),
        ("service_activity", "write", 4),
    }
    # Back to the latest state for the tests that follow.
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
