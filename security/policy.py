"""The ONE place that answers access questions: which records and which fields a user may use.

Every view, API endpoint, admin page and the sync engine asks here. Record access is decided
in SQL (a queryset filter), never by looping over records in Python.

Interface (stable; colleagues build on these names and signatures):
- restrict(queryset, user, action)      records of queryset's model the user may <action>
- can(user, action, record)             the same question for one record
- has_privilege(user, entity, action)   any access level above "none" for the entity type
- field_access(user, entity)            which secured columns the user may read/create/update
- can_change_sync_settings(user)        the settings-write privilege
Added: access_level(), record_filter(), readable_values(), check_field_changes(),
get_object_or_404(), can_view_sync_settings(), SHARE_PERMISSIONS, and on FieldAccess
strip_unreadable() and denied(). security.mixins.RestrictedAdminMixin applies it to admin
screens of CRM records.

The model is the one Dynamics-style CRM admins know:
- Role-based: security roles grant each privilege (create, read, write, delete, sync) on an
  entity at an access level: none, user (own records), business unit, parent: child business
  units, organization. A user has the highest level found in their own roles and their teams'
  roles.
- Record-based: a record shared with the user, or with one of their teams, grants the shared
  rights on that record; any shared right includes reading it. As in Dynamics, a share only
  takes effect for someone whose roles hold the privilege at some level (at least "user"):
  role-based security decides the entity type, sharing only widens the records.
- Field-level: secured columns are closed until a field security profile (of the user or one
  of their teams) opens them for read, create or update. Unsecured columns follow the record.
- Active superusers (system administrators) may do everything; inactive and anonymous users
  nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, Max, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.lookups import Exact, StartsWith
from django.http import Http404

from .entities import RECORD_ENTITIES, Entity, entity_of, record_model
from .models import (
    SHARE_MODELS,
    AccessLevel,
    BusinessUnit,
    FieldPermission,
    FieldSecurityProfile,
    RolePrivilege,
    SecuredField,
    SecurityRole,
    User,
    privileges_of,
)


class Action(StrEnum):
    CREATE = "create"
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    SYNC = "sync"  # the product's own privilege: "sync to Exchange/Outlook"


# The entity name of the field-sync settings themselves, for has_privilege().
SYNC_SETTINGS = "sync_settings"

# The Django permission (guardian share) behind each shareable right. Create is not shareable:
# it concerns records that do not exist yet.
SHARE_PERMISSIONS: dict[Action, str] = {
    Action.READ: "view",
    Action.WRITE: "change",
    Action.DELETE: "delete",
    Action.SYNC: "sync",
}


@dataclass(frozen=True)
class FieldAccess:
    """What a user may do with the secured columns of one entity.

    Columns not in `secured` follow the record's rights and are always allowed here.
    """

    secured: frozenset[str]
    readable: frozenset[str]
    creatable: frozenset[str]
    updatable: frozenset[str]

    def can_read(self, column: str) -> bool:
        return column not in self.secured or column in self.readable

    def can_create(self, column: str) -> bool:
        return column not in self.secured or column in self.creatable

    def can_update(self, column: str) -> bool:
        return column not in self.secured or column in self.updatable

    def hidden(self) -> frozenset[str]:
        """Secured columns the user may not read."""
        return self.secured - self.readable

    def strip_unreadable(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` without the columns the user may not read.

        Hidden columns are left out, not blanked: a None would read as "cleared" to the sync
        engine and erase the value on the other side.
        """
        return {k: v for k, v in values.items() if self.can_read(k)}

    def denied(self, columns: Iterable[str], *, creating: bool) -> list[str]:
        """The columns of `columns` the user may not set (on create or on update), sorted."""
        allowed = self.can_create if creating else self.can_update
        return sorted({c for c in columns if not allowed(c)})


def _action(action: Action | str) -> Action:
    try:
        return Action(action)
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise ValueError(f"Unknown action {action!r} (known: {known})") from None


def _active(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and getattr(user, "is_active", False))


def _is_admin(user: Any) -> bool:
    return _active(user) and bool(user.is_superuser)


# ---- role-based: the level a user holds, as SQL -------------------------------------------


def _user_teams(uid: int) -> QuerySet:
    return User.groups.through.objects.filter(user_id=uid).values("group_id")


def _held_privileges(
    uid: int, entity: str, action: Action, teams: QuerySet | None = None
) -> QuerySet[RolePrivilege]:
    """The privilege rows above none of the user's own roles and their teams' roles (not
    evaluated). A row at level none grants nothing, like a missing row."""
    teams = _user_teams(uid) if teams is None else teams
    roles = SecurityRole.users.through.objects
    team_roles = SecurityRole.teams.through.objects
    return RolePrivilege.objects.filter(
        Q(role_id__in=roles.filter(user_id=uid).values("securityrole_id"))
        | Q(role_id__in=team_roles.filter(group_id__in=teams).values("securityrole_id")),
        entity=entity,
        action=action.value,
        level__gte=AccessLevel.USER,
    )


def _reachable_units(uid: int, held: QuerySet[RolePrivilege]) -> QuerySet:
    """Ids of the business units whose records the held privileges reach: all of them at
    organization level, the user's unit and every unit below it at parent-child level (by
    materialized path), the user's own unit at business-unit level. A correlated EXISTS over
    the (small) business-unit table, so the privilege rows are named once."""
    own_unit = User.objects.filter(pk=uid).values("business_unit_id")[:1]
    own_path = BusinessUnit.objects.filter(users=uid).order_by().values("path")[:1]
    reaching = held.filter(
        Q(level__gte=AccessLevel.ORGANIZATION)
        | Q(StartsWith(OuterRef("path"), Subquery(own_path)), level__gte=AccessLevel.PARENT_CHILD)
        | Q(Exact(OuterRef("pk"), Subquery(own_unit)), level__gte=AccessLevel.BUSINESS_UNIT)
    )
    return BusinessUnit.objects.filter(Exists(reaching)).values("pk")


def _shared(uid: int, entity: str, action: Action, teams: QuerySet) -> Q:
    user_shares, team_shares = SHARE_MODELS[entity]
    model_name = record_model(entity)._meta.model_name
    if action is Action.READ:
        perms = [f"{p}_{model_name}" for p in SHARE_PERMISSIONS.values()]
    else:
        perms = [f"{SHARE_PERMISSIONS[action]}_{model_name}"]
    to_user = user_shares.objects.filter(user_id=uid, permission__codename__in=perms)
    to_team = team_shares.objects.filter(group_id__in=teams, permission__codename__in=perms)
    return Q(pk__in=to_user.values("content_object_id")) | Q(
        pk__in=to_team.values("content_object_id")
    )


def record_filter(user: Any, entity: str, action: Action | str = Action.READ) -> Q:
    """The condition, over a record entity's rows, for "user may <action> this record".

    Pure SQL with uncorrelated subqueries: whatever the number of roles, teams, shares and
    business units, a queryset filtered by it is still one query, and the database evaluates
    each privilege test once per query, not once per row. Superusers and inactive users are
    answered by restrict(); this is the condition for everyone else.
    """
    action = _action(action)
    if entity not in RECORD_ENTITIES:
        raise KeyError(f"Unknown record entity {entity!r} (known: {', '.join(RECORD_ENTITIES)})")
    return _record_condition(user.pk, entity, action).copy()


@lru_cache(maxsize=2048)
def _record_condition(uid: int, entity: str, action: Action) -> Q:
    """Built once per (user, entity, action) and process: the Q holds only the SQL's shape
    and the user's id, never roles or shares (those are read when the query runs), so it
    cannot go stale; building it costs more Python than running the query does."""
    teams = _user_teams(uid)
    held = _held_privileges(uid, entity, action, teams)
    # Own and shared records need the privilege at some level; wider levels reach units.
    personal = Q(owner_id=uid)
    if action is not Action.CREATE:
        personal |= _shared(uid, entity, action, teams)
    return (Q(Exists(held)) & personal) | Q(business_unit_id__in=_reachable_units(uid, held))


def restrict(queryset: QuerySet, user: Any, action: Action | str = Action.READ) -> QuerySet:
    """The records of `queryset` that `user` may <action>, as one SQL query.

    For Action.CREATE: the records that lie within the user's create scope (shares never
    grant create). Raises TypeError for a model that is not a CRM record type.
    """
    action = _action(action)
    entity = entity_of(queryset.model)
    if not _active(user):
        return queryset.none()
    if user.is_superuser:
        return queryset
    return queryset.filter(record_filter(user, entity, action))


def access_level(user: Any, entity: str, action: Action | str) -> AccessLevel:
    """The widest level at which the user holds `action` on `entity`. One query."""
    action = _action(action)
    if entity not in Entity.values:
        raise KeyError(f"Unknown entity {entity!r} (known: {', '.join(Entity.values)})")
    if action.value not in privileges_of(entity):
        return AccessLevel.NONE
    if not _active(user):
        return AccessLevel.NONE
    if user.is_superuser:
        return AccessLevel.ORGANIZATION
    top = _held_privileges(user.pk, entity, action).aggregate(top=Max("level"))["top"]
    return AccessLevel(top or AccessLevel.NONE)


def _may_create(user: Any, record: Model) -> bool:
    """Whether the user may create `record` as it stands (its owner and business unit)."""
    entity = entity_of(type(record))
    if not _active(user):
        return False
    if user.is_superuser:
        return True
    held = _held_privileges(user.pk, entity, Action.CREATE)
    owner_id = record.owner_id  # type: ignore[attr-defined]
    if owner_id == user.pk:
        return held.exists()
    unit_id = record.business_unit_id  # type: ignore[attr-defined]
    if unit_id is None:  # the record will take its owner's unit
        if owner_id is None:
            return False
        unit_id = User.objects.filter(pk=owner_id).values("business_unit_id")[:1]
    reachable = _reachable_units(user.pk, held)
    return BusinessUnit.objects.filter(pk=unit_id).filter(pk__in=reachable).exists()


def can(user: Any, action: Action | str, record: Model) -> bool:
    """Whether `user` may <action> this one record. For Action.CREATE the record may be
    unsaved: the answer is whether the user may create a record with its owner and unit."""
    action = _action(action)
    if action is Action.CREATE:
        return _may_create(user, record)
    if record.pk is None or record._state.adding:
        return False
    return restrict(type(record)._default_manager.filter(pk=record.pk), user, action).exists()


def has_privilege(user: Any, entity: str, action: Action | str) -> bool:
    """Whether the user holds `action` on the entity type at any level above none."""
    return access_level(user, entity, action) > AccessLevel.NONE


def field_access(user: Any, entity: str) -> FieldAccess:
    """Which secured columns of `entity` the user may read, create and update. One query."""
    if entity not in RECORD_ENTITIES:
        raise KeyError(f"Unknown record entity {entity!r} (known: {', '.join(RECORD_ENTITIES)})")
    secured = SecuredField.objects.filter(entity=entity)
    if _is_admin(user):
        columns = frozenset(secured.values_list("column", flat=True))
        return FieldAccess(secured=columns, readable=columns, creatable=columns, updatable=columns)
    if not _active(user):
        columns = frozenset(secured.values_list("column", flat=True))
        empty: frozenset[str] = frozenset()
        return FieldAccess(secured=columns, readable=empty, creatable=empty, updatable=empty)
    uid = user.pk
    profiles = FieldSecurityProfile.objects.filter(
        Q(users=uid) | Q(teams__in=_user_teams(uid))
    ).values("pk")
    grants = FieldPermission.objects.filter(field=OuterRef("pk"), profile__in=profiles)
    rows = secured.annotate(
        r=Exists(grants.filter(can_read=True)),
        c=Exists(grants.filter(can_create=True)),
        u=Exists(grants.filter(can_update=True)),
    ).values_list("column", "r", "c", "u")
    rows = list(rows)
    return FieldAccess(
        secured=frozenset(col for col, *_ in rows),
        readable=frozenset(col for col, r, _, _ in rows if r),
        creatable=frozenset(col for col, _, c, _ in rows if c),
        updatable=frozenset(col for col, _, _, u in rows if u),
    )


def readable_values(queryset: QuerySet, user: Any, *columns: str) -> QuerySet:
    """`queryset.values()` of the records the user may read, with only the columns they may
    read (all concrete columns when none are named; "id" always). Two queries: field access,
    then the rows."""
    model = queryset.model
    access = field_access(user, entity_of(model))
    wanted = columns or tuple(f.attname for f in model._meta.concrete_fields)
    allowed = [c for c in wanted if access.can_read(c)]
    if "id" not in allowed:
        allowed.insert(0, "id")
    return restrict(queryset, user, Action.READ).values(*allowed)


def check_field_changes(user: Any, entity: str, columns: Iterable[str], *, creating: bool) -> None:
    """Raise PermissionDenied naming the secured columns the user may not set."""
    denied = field_access(user, entity).denied(columns, creating=creating)
    if denied:
        verb = "set on a new" if creating else "change on a"
        label = Entity(entity).label
        raise PermissionDenied(
            f"You may not {verb} {label}: {', '.join(denied)} (secured fields; "
            "ask an administrator for a field security profile)."
        )


def get_object_or_404(
    queryset: QuerySet, user: Any, action: Action | str = Action.READ, **lookup: Any
) -> Model:
    """The one record matching `lookup` for a view: Http404 when the user may not see it (an
    object you may not see does not exist for you), PermissionDenied when they may see it but
    not <action> it."""
    action = _action(action)
    try:
        record = restrict(queryset, user, Action.READ).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from None
    if action is not Action.READ and not can(user, action, record):
        name = queryset.model._meta.verbose_name
        raise PermissionDenied(f"You may not {action.value} this {name}.")
    return record


def can_change_sync_settings(user: Any) -> bool:
    return has_privilege(user, SYNC_SETTINGS, Action.WRITE)


def can_view_sync_settings(user: Any) -> bool:
    return has_privilege(user, SYNC_SETTINGS, Action.READ)


def rights_beyond(user: Any, actor: Any) -> list[str]:
    """What `user` may do that `actor` may not, in words (empty: nothing).

    Acting as someone (a token made for them, for example) must not give the actor more than
    their own rights: a system administrator's rights, Django permissions, a wider access level
    on any entity, a secured column opened, or any record reached (own, shared or in a business
    unit) for any action. Some dozens of small queries: for occasional use, not for lists.
    """
    if _is_admin(actor) or not _active(user):
        return []
    if not _active(actor):
        return ["everything (you are signed out or inactive)"]
    if user.is_superuser:
        return ["system administrator"]
    reasons: list[str] = []
    if user.is_staff and not actor.is_staff:
        reasons.append("Django admin access")
    if perms := sorted(user.get_all_permissions() - actor.get_all_permissions()):
        reasons.append("Django permissions " + ", ".join(perms))
    for entity in Entity:
        for privilege in privileges_of(entity):
            if access_level(user, entity, privilege) > access_level(actor, entity, privilege):
                reasons.append(f"{Entity(entity).label}: {privilege} at a wider level")
    for entity in RECORD_ENTITIES:
        theirs, mine = field_access(user, entity), field_access(actor, entity)
        for kind in ("readable", "creatable", "updatable"):
            if extra := sorted(getattr(theirs, kind) - getattr(mine, kind)):
                reasons.append(f"{Entity(entity).label}: secured {', '.join(extra)} ({kind})")
        records = record_model(entity)._default_manager.all()
        for action in (Action.READ, Action.WRITE, Action.DELETE, Action.SYNC):
            mine_q = restrict(records, actor, action).values("pk")
            if restrict(records, user, action).exclude(pk__in=mine_q).exists():
                reasons.append(f"{Entity(entity).label}: records you may not {action.value}")
    return reasons
