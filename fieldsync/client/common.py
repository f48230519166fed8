"""What both endpoints of the Outlook client path share: the sync scope, the field rules per
column (the server-side sync's own rules), record values as served, the signed cursor, checks.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.core import signing
from django.db import models
from django.db.models import Q, QuerySet

from connectors.base import ACTIVITY_TYPE
from fieldsync.engine import FieldRule, Rules
from fieldsync.models.mailboxes import Mailbox, SyncPath
from fieldsync.models.sync import SyncPolicy
from fieldsync.service.rules import ENTITIES, entity_rules, scope_filter
from fieldsync.service.values import (
    ACTIVITY_TYPE_OF,
    FOLDERS,
    EntityFields,
    canonical,
    entity_fields,
    item_entity,
)
from security import policy as security

_CURSOR_SALT = "fieldsync.client-sync.cursor"
# The mailbox setting that decides an entity's path: activities go where their folder goes.
_MAILBOX_GROUP = {"contacts": "Contacts", "calendar": "Appointments", "tasks": "Tasks"}
# The activity types a record can carry (connectors.base.ACTIVITY_TYPE): "" for a plain task
# or appointment.
ACTIVITY_TYPES: tuple[str, ...] = ("", *ACTIVITY_TYPE_OF)


def activity_type(entity: str) -> str | None:
    """The marker a record of `entity` carries in Outlook ("": a plain task or appointment;
    None: contacts, which have none)."""
    if FOLDERS[entity] == "contacts":
        return None
    return ACTIVITY_TYPE_OF.get(entity, "")


def routed_entity(endpoint: str, marker: str | None) -> str:
    """The entity a pushed item stands for, by the activity type it carries, as the
    server-side sync tells a folder's items apart (values.item_entity): an item without a
    marker is the endpoint's; one naming an activity of the endpoint's folder is that
    activity; a blank or foreign one is the folder's plain task or appointment."""
    if marker is None:
        return endpoint
    kind = item_entity(FOLDERS[endpoint], {ACTIVITY_TYPE: marker})
    if kind in ACTIVITY_TYPE_OF or endpoint in ACTIVITY_TYPE_OF:
        return kind
    return endpoint  # appointment and recurring appointment: the endpoint keeps deciding


class ClientSyncRefused(Exception):
    """A refusal the API turns into its error body: a stable code, a status and a message."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def entity_model(entity: str) -> type[models.Model]:
    if entity not in ENTITIES:
        raise ClientSyncRefused(
            f"No client sync for {entity!r} (known: {', '.join(ENTITIES)}).",
            code="not_found",
            status=404,
        )
    return entity_fields(entity).model


def column_type(field: models.Field) -> str:
    """The JSON type of a column as the API describes it."""
    if isinstance(field, models.DateTimeField):
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, models.BooleanField):
        return "boolean"
    if isinstance(field, models.IntegerField):
        return "integer"
    return "string"


@dataclass(frozen=True)
class ClientRules:
    """The engine's rules for one user and entity, seen column by column as the API shows
    records: a column is sent when its catalog field's direction sends CRM values to Outlook
    and the user may read it, and accepted when its direction takes Outlook values."""

    entity: str
    ef: EntityFields
    rules: Rules

    @cached_property
    def marker(self) -> str | None:
        return activity_type(self.entity)

    @cached_property
    def field_of(self) -> dict[str, str]:
        return {c: name for name, cols in self.ef.columns.items() for c in cols}

    def rule(self, field: str) -> FieldRule:
        return self.rules.fields[field]

    @cached_property
    def sent_fields(self) -> list[str]:
        return [name for name, rule in self.rules.fields.items() if rule.sends]

    @cached_property
    def sent_columns(self) -> list[str]:
        return [c for name in self.sent_fields for c in self.ef.columns[name]]

    def describe(self) -> list[dict[str, Any]]:
        """Every synchronized column with its type and what crosses, in catalog order."""
        out = []
        for name, cols in self.ef.columns.items():
            rule = self.rules.fields[name]
            for column in cols:
                out.append(
                    {
                        "column": column,
                        "field": name,
                        "type": column_type(self.ef.model_field(column)),
                        "direction": rule.direction.value,
                        "sent": rule.sends,
                        "accepted": rule.accepts and rule.can_read and rule.can_update,
                    }
                )
        return out

    def fingerprint(self) -> str:
        """Changes when the set of columns sent changes: the client then gets every record again."""
        return hashlib.sha256(",".join(self.sent_columns).encode()).hexdigest()[:16]

    def outgoing(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A record as the client gets it: id, version and only the columns sent (a column
        not sent is absent, not null), and the activity type its Outlook item carries."""
        out = {
            "id": str(row["id"]),
            "version": row["change_number"],
            "values": {
                c: canonical(self.ef.model_field(c), row[c]) for c in self.sent_columns if c in row
            },
        }
        if self.marker is not None:
            out["activity_type"] = self.marker
        return out


def client_rules(*, user: Any, entity: str) -> ClientRules:
    entity_model(entity)
    return ClientRules(entity, entity_fields(entity), entity_rules(owner=user, entity=entity))


def row_columns(entity: str) -> list[str]:
    """The columns to read for a record: identity, version and every synchronized column."""
    return ["id", "change_number", *entity_fields(entity).all_columns]


def record_row(record: models.Model, entity: str) -> dict[str, Any]:
    return {c: getattr(record, c) for c in row_columns(entity)}


def sync_scope(*, user: Any, entity: str, policy_row: SyncPolicy | None = None) -> QuerySet:
    """The records the client of `user` keeps: those the organization's sync filter selects,
    that the user may sync and may read (the server-side sync's scope, plus the read right)."""
    model = entity_model(entity)
    policy_row = policy_row or SyncPolicy.current()
    choice = policy_row.filter_for(entity)
    qs = model.objects.filter(scope_filter(owner=user, entity=entity, choice=choice))
    qs = security.restrict(qs, user, security.Action.SYNC)
    return security.restrict(qs, user, security.Action.READ)


def check_access(*, user: Any, entity: str) -> Mailbox | None:
    """Refuse a client sync the user may not run; returns the user's mailbox (or None).

    The Sync privilege is needed, and a mailbox whose entity is synced by the server-side
    worker (or not at all) must not also be synced by a client: Outlook would get it twice.
    """
    model = entity_model(entity)
    label = _MAILBOX_GROUP[FOLDERS[entity]]
    if not security.has_privilege(user, entity, security.Action.SYNC):
        raise ClientSyncRefused(
            f"You may not sync {model._meta.verbose_name_plural}: none of your security roles "
            "grants the Sync to Exchange/Outlook privilege on them.",
            code="permission_denied",
            status=403,
        )
    mailbox = Mailbox.objects.filter(owner=user).first()
    if mailbox is None:
        return None
    path = mailbox.path_for(entity)
    if path is None:
        raise ClientSyncRefused(
            f"{mailbox.email_address} does not sync {label.lower()} (mailbox setting).",
            code="sync_disabled",
            status=409,
        )
    if path != SyncPath.CLIENT:
        raise ClientSyncRefused(
            f"{label} of {mailbox.email_address} are synced server-side; an administrator can "
            f"move them to the Outlook client path (manage.py mailbox_sync_path "
            f"{mailbox.email_address} {entity} client).",
            code="server_side_sync",
            status=409,
        )
    return mailbox


# -- the cursor --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a client is: its session (what it holds), the page it got, the position in the
    change stream (change number, then record id) and the fingerprint of the columns sent."""

    session: uuid.UUID
    seq: int
    change_number: int
    last_id: str | None
    fingerprint: str

    def encode(self, *, user: Any, entity: str) -> str:
        payload = {
            "u": user.pk,
            "e": entity,
            "s": self.session.hex,
            "q": self.seq,
            "c": self.change_number,
            "i": self.last_id,
            "f": self.fingerprint,
        }
        return signing.dumps(payload, salt=_CURSOR_SALT, compress=True)

    @classmethod
    def decode(cls, text: str, *, user: Any, entity: str) -> Cursor:
        try:
            data = signing.loads(text, salt=_CURSOR_SALT)
            if data["u"] != user.pk or data["e"] != entity:
                raise ValueError("another user's or entity's cursor")
            return cls(
                uuid.UUID(data["s"]),
                int(data["q"]),
                int(data["c"]),
                str(data["i"]) if data["i"] else None,
                str(data["f"]),
            )
        except (signing.BadSignature, ValueError, KeyError, TypeError):
            raise ClientSyncRefused(
                "This cursor is not one this server gave you for this entity; start again "
                "without a cursor (initial sync).",
                code="invalid_cursor",
                status=400,
            ) from None


def after(change_number: int, last_id: str | None) -> Q:
    """Records after a position of the change stream, ordered by (change number, id)."""
    if last_id is None:
        return Q(change_number__gt=change_number)
    return Q(change_number__gt=change_number) | Q(change_number=change_number, id__gt=last_id)


def ids(values: Iterable[Any]) -> list[str]:
    return [str(v) for v in values]
