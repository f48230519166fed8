"""What one entity's sync follows: the field rules (directions and the owner's field rights),
the organization's policy in the engine's form, the sync filter, and their fingerprint.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from connectors.base import Connector
from fieldsync.catalog import get_catalog
from fieldsync.directions import Direction
from fieldsync.engine import FieldRule, Policy, Rules
from fieldsync.engine.model import ConflictPolicy, RemoteDeletePolicy
from fieldsync.fields.selectors import directions_for
from fieldsync.models.sync import SyncFilter, SyncPolicy
from fieldsync.service.values import (
    EXCEPTION_COLUMNS,
    EXCEPTIONS,
    EXCHANGE_SETS,
    ONE_WAY,
    entity_fields,
)
from security import policy as security

_EXCHANGE_SET = {Direction.BOTH: Direction.TO_CRM, Direction.TO_OUTLOOK: Direction.NONE}
ENTITIES: tuple[str, ...] = (
    "contact",
    "appointment",
    "recurring_appointment",
    "task",
    "phone_call",
    "letter",
    "fax",
    "service_activity",
)
APPOINTMENT_LIKE = ("appointment", "recurring_appointment", "service_activity")
# What the saved statuses seal, part of the saved rules fingerprint: a new value makes the first
# run after an upgrade revisit every status and seal what the new format seals (2: the mailbox's
# own value of a field its owner may not read, too).
STATUS_FORMAT = "s2"


def rules_fingerprint(rules: Rules) -> str:
    """The fingerprint saved with a mailbox's sync state: a change revisits every link."""
    return f"{STATUS_FORMAT}:{rules.fingerprint()}"


def engine_policy(row: SyncPolicy) -> Policy:
    return Policy(
        conflict=ConflictPolicy(row.conflict_policy),
        remote_delete=RemoteDeletePolicy(row.remote_delete_policy),
        keep_copy_on_lost_access=row.keep_copy_on_lost_access,
        tracked_category=row.tracked_category,
        mass_change_share=row.mass_change_percent / 100,
        mass_change_min_items=row.mass_change_min_items,
    )


def held_columns(connector: Connector, folder: str) -> frozenset[str] | None:
    """The columns a connector can hold in `folder` (None: every column). A field with a
    column it cannot hold (vCard has no government ID) is left out of that mailbox's sync."""
    supported = getattr(connector, "supported_columns", None)
    return frozenset(supported(folder)) if supported is not None else None


def holds_exceptions(connector: Connector) -> bool:
    """Whether the connector reads and writes a series' changed and cancelled occurrences."""
    return bool(getattr(connector, "holds_exceptions", False))


def series_zone(connector: Connector) -> str:
    """The time zone the connector's mailbox expands a series in (its `tz`), else UTC."""
    zone = getattr(connector, "tz", None)
    return str(getattr(zone, "key", None) or "UTC")


# The exceptions follow the recurrence pattern's direction, and the rights on the columns an
# exception overrides.
_EXCEPTIONS_LIKE = "recurrence_pattern"
_EXCEPTION_COLUMNS = EXCEPTION_COLUMNS


def entity_rules(
    *,
    owner: Any,
    entity: str,
    held: frozenset[str] | None = None,
    exceptions: bool = False,
) -> Rules:
    """Directions from the settings and the owner's field rights, per catalog field (only the
    fields whose columns are all in `held`, when given); with `exceptions`, also the series'
    changed and cancelled occurrences."""
    ef = entity_fields(entity, exceptions=exceptions)
    directions = directions_for(entity=entity)
    access = security.field_access(owner, entity)
    catalog_entity = get_catalog().entity(entity)
    fields = {}
    for name, columns in ef.columns.items():
        if name == EXCEPTIONS:
            name_like, columns = _EXCEPTIONS_LIKE, _EXCEPTION_COLUMNS
        else:
            name_like = name
            if held is not None and not held.issuperset(columns):
                continue
        direction = directions.get(name_like) or catalog_entity.field(name_like).default_direction
        if (entity, name) in EXCHANGE_SETS:  # Exchange decides it: it can only come from there
            direction = {
                Direction.BOTH: Direction.TO_CRM,
                Direction.TO_OUTLOOK: Direction.NONE,
            }.get(direction, direction)
        fields[name] = FieldRule(
            direction=direction,
            can_read=all(access.can_read(c) for c in columns),
            can_create=all(access.can_create(c) for c in columns),
            can_update=all(access.can_update(c) for c in columns),
            blank=ef.blank(name),
            crm_default=ef.crm_default(name),
            check=ef.check(name),
        )
    # A one-way entity is never created from the mailbox (an item carrying its type is a copy).
    can_create = entity not in ONE_WAY and security.has_privilege(
        owner, entity, security.Action.CREATE
    )
    return Rules(fields, can_create_entity=can_create, one_way=entity in ONE_WAY)


def scope_filter(*, owner: Any, entity: str, choice: str) -> Q:
    """The organization's sync filter for one entity (before record security)."""
    if choice == SyncFilter.ALL:
        return Q()
    if choice == SyncFilter.BUSINESS_UNIT:
        return Q(business_unit_id=owner.business_unit_id)
    q = Q(owner=owner)
    email = (owner.email or "").strip()
    if entity in APPOINTMENT_LIKE and email:
        q |= (
            Q(organizer__iexact=email)
            | Q(required_attendees__icontains=email)
            | Q(optional_attendees__icontains=email)
        )
    return q
