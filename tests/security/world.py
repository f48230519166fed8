"""A test organization built in bulk, plus the oracle that says what each user may do.

The oracle is written from the rules (the README's Security section), not from the policy's
code, so the matrix tests compare two independent answers.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from crm.models import CRM_MODELS
from security import policy
from security.models import (
    SHARE_MODELS,
    AccessLevel,
    BusinessUnit,
    FieldPermission,
    FieldSecurityProfile,
    RolePrivilege,
    SecuredField,
    SecurityRole,
    User,
)

# Every CRM record type: the matrix's per-entity cells cover each of them.
MODELS = dict(CRM_MODELS)
RELATIONS = ("own", "same_bu", "child_bu", "parent_bu", "other_bu")
# The narrowest level that reaches a record in each relation to a user of "Sales".
NEEDED = {
    "own": AccessLevel.USER,
    "same_bu": AccessLevel.BUSINESS_UNIT,
    "child_bu": AccessLevel.PARENT_CHILD,
    "parent_bu": AccessLevel.ORGANIZATION,
    "other_bu": AccessLevel.ORGANIZATION,
}
SHARE_PERMISSION = {"read": "view", "write": "change", "delete": "delete", "sync": "sync"}


def rule(level: AccessLevel, action: str, relation: str, shared_rights: set[str]) -> bool:
    """The access rules in one place: a level reaches records by relation; a share widens
    that only for someone holding the privilege, and any shared right includes read."""
    if level == AccessLevel.NONE:
        return False
    if level >= NEEDED[relation]:
        return True
    if action == "create":
        return False
    return action in shared_rights or (action == "read" and bool(shared_rights))


@dataclass
class World:
    units: dict[str, BusinessUnit] = field(default_factory=dict)
    colleagues: dict[str, User] = field(default_factory=dict)  # relation -> owner in that unit
    levels: dict[tuple[int, str, str], AccessLevel] = field(default_factory=dict)
    records: dict[str, dict[object, tuple[int, int]]] = field(
        default_factory=lambda: defaultdict(dict)
    )  # entity -> pk -> (owner_id, business_unit_id)
    shared: dict[tuple[str, object, int], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )  # (entity, pk, user_id) -> rights
    users: dict[tuple, User] = field(default_factory=dict)
    record_of: dict[tuple, object] = field(default_factory=dict)
    _counter: itertools.count = field(default_factory=itertools.count)
    _pending_roles: list = field(default_factory=list)
    _visible: dict = field(default_factory=dict)

    # ---- organization --------------------------------------------------------------
    def build_tree(self) -> None:
        org = BusinessUnit.objects.create(name="Org")
        sales = BusinessUnit.objects.create(name="Sales", parent=org)
        east = BusinessUnit.objects.create(name="Sales East", parent=sales)
        north = BusinessUnit.objects.create(name="Sales East North", parent=east)
        service = BusinessUnit.objects.create(name="Service", parent=org)
        self.units = {
            "Org": org,
            "Sales": sales,
            "Sales East": east,
            "Sales East North": north,
            "Service": service,
        }
        where = {
            "same_bu": "Sales",
            "child_bu": "Sales East North",
            "parent_bu": "Org",
            "other_bu": "Service",
        }
        made = User.objects.bulk_create(
            User(username=f"colleague-{rel}", password="!", business_unit=self.units[unit])
            for rel, unit in where.items()
        )
        self.colleagues = dict(zip(where, made, strict=True))

    def relation(self, user_id: int, owner_id: int, unit_id: int) -> str:
        if owner_id == user_id:
            return "own"
        names = {u.pk: n for n, u in self.units.items()}
        return {
            "Sales": "same_bu",
            "Sales East": "child_bu",
            "Sales East North": "child_bu",
            "Org": "parent_bu",
            "Service": "other_bu",
        }[names[unit_id]]

    def make_users(self, keys: list[tuple]) -> None:
        """One user in Sales per key, plus a personal team to share with and one to hold
        roles (teams named after the user)."""
        made = User.objects.bulk_create(
            User(
                username=f"u{next(self._counter)}",
                password="!",
                business_unit=self.units["Sales"],
            )
            for _ in keys
        )
        teams = Group.objects.bulk_create(
            Group(name=f"{u.username}-{kind}") for u in made for kind in ("share", "roles")
        )
        pairs = list(zip(teams[0::2], teams[1::2], strict=True))
        memberships = [
            User.groups.through(user_id=u.pk, group_id=t.pk)
            for u, pair in zip(made, pairs, strict=True)
            for t in pair
        ]
        User.groups.through.objects.bulk_create(memberships)
        for key, user, pair in zip(keys, made, pairs, strict=True):
            user.share_team, user.role_team = pair
            self.users[key] = user

    def grant(
        self,
        user: User,
        levels: dict[tuple[str, str], AccessLevel],
        *,
        via_team: bool = False,
    ) -> None:
        """Queue a role with `levels` for the user (directly or through their role team)."""
        self._pending_roles.append((user, levels, via_team))
        for (entity, action), level in levels.items():
            key = (user.pk, entity, action)
            self.levels[key] = max(self.levels.get(key, AccessLevel.NONE), level)

    def flush_roles(self) -> None:
        roles = SecurityRole.objects.bulk_create(
            SecurityRole(name=f"role-{next(self._counter)}") for _ in self._pending_roles
        )
        privileges, direct, via_team = [], [], []
        for role, (user, levels, team) in zip(roles, self._pending_roles, strict=True):
            privileges += [
                RolePrivilege(role=role, entity=e, action=a, level=lv)
                for (e, a), lv in levels.items()
            ]
            if team:
                via_team.append(
                    SecurityRole.teams.through(securityrole_id=role.pk, group_id=user.role_team.pk)
                )
            else:
                direct.append(SecurityRole.users.through(securityrole_id=role.pk, user_id=user.pk))
        RolePrivilege.objects.bulk_create(privileges)
        SecurityRole.users.through.objects.bulk_create(direct)
        SecurityRole.teams.through.objects.bulk_create(via_team)
        self._pending_roles = []

    def level(self, user_id: int, entity: str, action: str) -> AccessLevel:
        return self.levels.get((user_id, entity, action), AccessLevel.NONE)

    # ---- records -------------------------------------------------------------------
    def new_record(self, entity: str, owner: User, **values: object):  # type: ignore[no-untyped-def]
        model = MODELS[entity]
        if entity in ("appointment", "recurring_appointment", "service_activity"):
            start = timezone.now().replace(microsecond=0)
            values.setdefault("scheduled_start", start)
            values.setdefault("scheduled_end", start + dt.timedelta(hours=1))
        if entity == "recurring_appointment":
            values.setdefault("recurrence_pattern", "FREQ=WEEKLY;COUNT=3")
        if entity in ("task", "phone_call", "letter", "fax"):
            values.setdefault("due_date", dt.date(2030, 1, 1))
        return model(owner=owner, business_unit_id=owner.business_unit_id, **values)

    def owner_for(self, user: User, relation: str) -> User:
        return user if relation == "own" else self.colleagues[relation]

    def save_records(self, entity: str, pending: list[tuple[tuple, object]]) -> None:
        made = MODELS[entity].objects.bulk_create([r for _, r in pending])
        for (key, _), record in zip(pending, made, strict=True):
            self.records[entity][record.pk] = (record.owner_id, record.business_unit_id)
            if key is not None:
                self.record_of[key] = record

    def share(self, entity: str, pending: list[tuple[object, User, str, str]]) -> None:
        """Store shares (record, user, "user"|"team", right) in guardian's direct tables."""
        user_table, team_table = SHARE_MODELS[entity]
        model_name = MODELS[entity]._meta.model_name
        perms = {
            p.codename: p
            for p in Permission.objects.filter(
                content_type__app_label="crm", codename__endswith=f"_{model_name}"
            )
        }
        to_users, to_teams = [], []
        for record, user, who, right in pending:
            perm = perms[f"{SHARE_PERMISSION[right]}_{model_name}"]
            if who == "user":
                to_users.append(user_table(content_object=record, user=user, permission=perm))
            else:
                to_teams.append(
                    team_table(content_object=record, group=user.share_team, permission=perm)
                )
            self.shared[(entity, record.pk, user.pk)].add(right)
        user_table.objects.bulk_create(to_users)
        team_table.objects.bulk_create(to_teams)

    def visible(self, model: type, user: User, action: str) -> set:
        """What the restricted queryset returns for this user and action (evaluated once)."""
        key = (model, user.pk, action)
        if key not in self._visible:
            rows = policy.restrict(model.objects.all(), user, action).values_list("pk", flat=True)
            self._visible[key] = set(rows)
        return self._visible[key]

    def may(self, user: User, entity: str, action: str, pk: object) -> bool:
        owner_id, unit_id = self.records[entity][pk]
        return rule(
            self.level(user.pk, entity, action),
            action,
            self.relation(user.pk, owner_id, unit_id),
            self.shared.get((entity, pk, user.pk), set()),
        )

    # ---- field security ---------------------------------------------------------------
    def field_profile(
        self, user: User, column: SecuredField, ops: frozenset[str], *, via_team: bool
    ) -> None:
        profile = FieldSecurityProfile.objects.create(name=f"profile-{next(self._counter)}")
        FieldPermission.objects.create(
            profile=profile,
            field=column,
            can_read="read" in ops,
            can_create="create" in ops,
            can_update="update" in ops,
        )
        if via_team:
            profile.teams.add(user.role_team)
        else:
            profile.users.add(user)
