"""Use cases that change security: sharing records, roles, secured fields, the demo setup.

Plain functions with keyword arguments; admin screens and commands call these.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Model
from guardian.shortcuts import assign_perm, remove_perm

from . import policy
from .entities import RECORD_ENTITIES, Entity, entity_of
from .models import (
    AccessLevel,
    FieldPermission,
    FieldSecurityProfile,
    RolePrivilege,
    SecuredField,
    SecurityRole,
    User,
    privileges_of,
)
from .policy import SHARE_PERMISSIONS, SYNC_SETTINGS, Action

log = logging.getLogger(__name__)

Principal = User | Group


def _share_codenames(record: Model, rights: Iterable[Action | str]) -> list[tuple[Action, str]]:
    wanted = []
    for right in rights:
        action = Action(right)
        if action not in SHARE_PERMISSIONS:
            shareable = ", ".join(a.value for a in SHARE_PERMISSIONS)
            raise ValueError(f"'{action}' cannot be shared (shareable rights: {shareable})")
        wanted.append((action, f"{SHARE_PERMISSIONS[action]}_{record._meta.model_name}"))
    return wanted


def _check_actor(actor: Any, record: Model, rights: Iterable[Action], verb: str) -> None:
    """You can only give (or take back) rights on a record that you hold yourself."""
    missing = [r.value for r in rights if not policy.can(actor, r, record)]
    if missing:
        raise PermissionDenied(
            f"You may not {verb} {', '.join(missing)} on this {record._meta.verbose_name}: "
            "you do not hold that right on it yourself."
        )


@transaction.atomic
def share_record(
    *,
    record: Model,
    user_or_team: Principal,
    rights: Iterable[Action | str],
    actor: Any,
) -> list[str]:
    """Share `record` with a user or a team (a Django group) for `rights` (read, write,
    delete, sync). Any right includes reading the record. The actor must hold each right on
    the record. Idempotent; returns the permission codenames now granted by this call."""
    entity_of(type(record))  # TypeError for a model that is not a CRM record
    wanted = _share_codenames(record, rights)
    _check_actor(actor, record, [a for a, _ in wanted], "share")
    for _, codename in wanted:
        assign_perm(codename, user_or_team, record)
    log.info(
        "%s shared %s %s with %s: %s",
        actor,
        record._meta.model_name,
        record.pk,
        user_or_team,
        ", ".join(a.value for a, _ in wanted),
    )
    return [codename for _, codename in wanted]


@transaction.atomic
def revoke_share(
    *,
    record: Model,
    user_or_team: Principal,
    rights: Iterable[Action | str] | None = None,
    actor: Any,
) -> list[str]:
    """Take back shared `rights` (all shareable rights when None) from a user or team.
    The actor must hold each right on the record. Returns the codenames revoked."""
    entity_of(type(record))
    wanted = _share_codenames(record, SHARE_PERMISSIONS if rights is None else rights)
    _check_actor(actor, record, [a for a, _ in wanted], "revoke")
    for _, codename in wanted:
        remove_perm(codename, user_or_team, record)
    log.info("%s revoked %s on %s %s", actor, wanted, record._meta.model_name, record.pk)
    return [codename for _, codename in wanted]


@transaction.atomic
def role_upsert(
    *,
    name: str,
    levels: Mapping[tuple[str, str], AccessLevel | int | str],
    description: str = "",
    users: Iterable[User] = (),
    teams: Iterable[Group] = (),
) -> SecurityRole:
    """Create or update the role `name` so that it grants exactly `levels`
    ((entity, action) -> access level; missing cells are none), and add `users` and `teams`
    to it (existing members stay). Idempotent."""
    role, _ = SecurityRole.objects.get_or_create(name=name)
    if description and role.description != description:
        role.description = description
        role.save(update_fields=["description"])
    role_privileges_set(role=role, levels=levels)
    role.users.add(*users)
    role.teams.add(*teams)
    return role


@transaction.atomic
def role_privileges_set(
    *, role: SecurityRole, levels: Mapping[tuple[str, str], AccessLevel | int | str]
) -> None:
    """Make `role` grant exactly `levels`; every other cell becomes none."""
    cells: dict[tuple[str, str], AccessLevel] = {}
    for (entity, action), level in levels.items():
        if entity not in Entity.values:
            raise ValueError(f"Unknown entity {entity!r} (known: {', '.join(Entity.values)})")
        if Action(action).value not in privileges_of(entity):
            allowed = ", ".join(privileges_of(entity))
            raise ValueError(f"{Entity(entity).label} has the privileges {allowed} only")
        cells[(entity, Action(action).value)] = AccessLevel.parse(level)
    keep = {k: v for k, v in cells.items() if v > AccessLevel.NONE}
    current = {(p.entity, p.action): p for p in role.privileges.all()}
    for key, row in current.items():
        if key not in keep:
            row.delete()
        elif row.level != keep[key]:
            row.level = keep[key]
            row.save(update_fields=["level"])
    RolePrivilege.objects.bulk_create(
        RolePrivilege(role=role, entity=e, action=a, level=lv)
        for (e, a), lv in keep.items()
        if (e, a) not in current
    )


def secure_field(*, entity: str, column: str) -> SecuredField:
    """Mark a CRM column secured (idempotent): from now on only profiles open it."""
    field = SecuredField(entity=entity, column=column)
    field.full_clean(validate_unique=False, validate_constraints=False)
    field, _ = SecuredField.objects.get_or_create(entity=entity, column=column)
    return field


@transaction.atomic
def field_profile_upsert(
    *,
    name: str,
    grants: Mapping[tuple[str, str], Iterable[str]],
    description: str = "",
    users: Iterable[User] = (),
    teams: Iterable[Group] = (),
) -> FieldSecurityProfile:
    """Create or update the profile `name` so it grants exactly `grants`
    ((entity, column) -> some of "read", "create", "update") on those secured columns (they
    are secured if not yet), and add `users` and `teams`. Idempotent."""
    profile, _ = FieldSecurityProfile.objects.get_or_create(name=name)
    if description and profile.description != description:
        profile.description = description
        profile.save(update_fields=["description"])
    for (entity, column), ops in grants.items():
        ops = set(ops)
        unknown = ops - {"read", "create", "update"}
        if unknown:
            raise ValueError(
                f"Unknown field operations {sorted(unknown)} (known: read, create, update)"
            )
        FieldPermission.objects.update_or_create(
            profile=profile,
            field=secure_field(entity=entity, column=column),
            defaults={
                "can_read": "read" in ops,
                "can_create": "create" in ops,
                "can_update": "update" in ops,
            },
        )
    profile.users.add(*users)
    profile.teams.add(*teams)
    return profile


RECORD_PRIVILEGES = (Action.CREATE, Action.READ, Action.WRITE, Action.DELETE, Action.SYNC)


def _grid(level: AccessLevel) -> dict[tuple[str, str], AccessLevel]:
    """Every privilege on every record entity at `level`."""
    return {(e, a.value): level for e in RECORD_ENTITIES for a in RECORD_PRIVILEGES}


@transaction.atomic
def seed_security_demo(
    *, admin: User, salespeople: Sequence[User], managers: Sequence[User]
) -> dict[str, Any]:
    """The demo's security (idempotent): the roles Salesperson, Sales Manager and System
    Administrator, Contact.government_id secured, and the field security profile Managers
    that reads and updates it. Assigns the given users; returns what it made, by name."""
    org = AccessLevel.ORGANIZATION
    salesperson = role_upsert(
        name="Salesperson",
        description="Own contacts, appointments and tasks only; may view the sync settings.",
        levels={**_grid(AccessLevel.USER), (SYNC_SETTINGS, Action.READ): org},
        users=salespeople,
    )
    manager_levels = _grid(AccessLevel.BUSINESS_UNIT)
    # Managers read their unit and the units below it; they change their own unit's records.
    manager_levels.update({(e, "read"): AccessLevel.PARENT_CHILD for e in RECORD_ENTITIES})
    manager = role_upsert(
        name="Sales Manager",
        description="Records of their business unit; reads the units below it too.",
        levels={**manager_levels, (SYNC_SETTINGS, Action.READ): org},
        users=managers,
    )
    sysadmin = role_upsert(
        name="System Administrator",
        description="Everything in the organization, including the sync settings.",
        levels={**_grid(org), (SYNC_SETTINGS, "read"): org, (SYNC_SETTINGS, "write"): org},
        users=[admin],
    )
    profile = field_profile_upsert(
        name="Managers",
        description="May see and change secured contact fields such as the government ID.",
        grants={("contact", "government_id"): ("read", "update")},
        users=managers,
    )
    return {
        "roles": {r.name: r for r in (salesperson, manager, sysadmin)},
        "profiles": {profile.name: profile},
        "secured_fields": list(SecuredField.objects.all()),
    }
