"""The ONE place that answers access questions: which records and which fields a user may use.

Every view, API endpoint, admin page and the sync engine asks here. Record access is decided
in SQL (a queryset filter), never by looping over records in Python.

Interface (stable; the implementation behind it grows with the security issue):
- restrict(queryset, user, action)      records of queryset's model the user may <action>
- can(user, action, record)             the same question for one record
- has_privilege(user, entity, action)   any access level above "none" for the entity type
- field_access(user, entity)            which secured columns the user may read/create/update
- can_change_sync_settings(user)        the settings-write privilege
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db.models import Model, QuerySet


class Action(StrEnum):
    CREATE = "create"
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    SYNC = "sync"  # the product's own privilege: "sync to Exchange/Outlook"


# The entity name of the field-sync settings themselves, for has_privilege().
SYNC_SETTINGS = "sync_settings"


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


def restrict(queryset: QuerySet, user, action: Action | str = Action.READ) -> QuerySet:  # type: ignore[no-untyped-def]
    """The records of `queryset` that `user` may <action>. Provisional rule: superusers all,
    everyone else their own records."""
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    if user.is_superuser:
        return queryset
    return queryset.filter(owner=user)


def can(user, action: Action | str, record: Model) -> bool:  # type: ignore[no-untyped-def]
    return restrict(type(record).objects.filter(pk=record.pk), user, action).exists()


def has_privilege(user, entity: str, action: Action | str) -> bool:  # type: ignore[no-untyped-def]
    if not getattr(user, "is_authenticated", False):
        return False
    if entity == SYNC_SETTINGS and Action(action) != Action.READ:
        return bool(user.is_superuser)
    return True


def field_access(user, entity: str) -> FieldAccess:  # type: ignore[no-untyped-def]
    empty: frozenset[str] = frozenset()
    return FieldAccess(secured=empty, readable=empty, creatable=empty, updatable=empty)


def can_change_sync_settings(user) -> bool:  # type: ignore[no-untyped-def]
    return has_privilege(user, SYNC_SETTINGS, Action.WRITE)
