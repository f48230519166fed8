"""The upgrade that adds phone calls, letters, faxes and service activities keeps existing roles
working: each gets the levels the role held on the activity Outlook showed them as."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from security.models import AccessLevel, RolePrivilege, SecurityRole

pytestmark = pytest.mark.django_db

upgrade = importlib.import_module("security.migrations.0006_activity_shares_and_privileges")


def _levels(role: SecurityRole) -> set[tuple[str, str, int]]:
    return set(role.privileges.values_list("entity", "action", "level"))


def test_existing_roles_get_the_new_activities_at_their_task_and_appointment_levels():
    role = SecurityRole.objects.create(name="Seller")
    RolePrivilege.objects.bulk_create(
        [
            RolePrivilege(role=role, entity="task", action="read", level=AccessLevel.BUSINESS_UNIT),
            RolePrivilege(role=role, entity="task", action="sync", level=AccessLevel.USER),
            RolePrivilege(role=role, entity="appointment", action="write", level=4),
            RolePrivilege(role=role, entity="contact", action="read", level=4),
            # Set by hand already: the upgrade leaves it as it is.
            RolePrivilege(role=role, entity="fax", action="read", level=AccessLevel.USER),
        ]
    )
    upgrade.grant_like_before(apps, None)
    assert _levels(role) == {
        ("task", "read", 2),
        ("task", "sync", 1),
        ("appointment", "write", 4),
        ("contact", "read", 4),
        ("phone_call", "read", 2),
        ("letter", "read", 2),
        ("fax", "read", 1),
        *((e, "sync", 1) for e in ("phone_call", "letter", "fax")),
        ("service_activity", "write", 4),
    }
    upgrade.grant_like_before(apps, None)  # a second run adds nothing
    assert len(_levels(role)) == 11
    upgrade.drop_new_privileges(apps, None)
    assert {e for e, _, _ in _levels(role)} == {"task", "appointment", "contact"}
