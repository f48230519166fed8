"""Conflicts and rejected changes as people see them: who sees which (their own, mailbox
managers all), whose values they may see (only of records and fields their own rights let them
read, checked when they look: withhold_values), and "apply the losing value": write the value
that lost into the CRM record, then sync the mailbox so Exchange gets it too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import CRM_MODELS
from crm.services import record_update
from fieldsync.engine.model import Outcome
from fieldsync.mailboxes.services import can_manage_mailboxes, mailbox_sync_request
from fieldsync.mailboxes.words import field_label
from fieldsync.models.mailboxes import Mailbox, RunTrigger
from fieldsync.models.sync import RejectedChange, SyncConflict, keyed_digest
from fieldsync.service.values import sealed_json_value, unreadable_fields
from security import policy as security


def _own_or_all(qs: QuerySet, user: Any) -> QuerySet:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    return qs if can_manage_mailboxes(user) else qs.filter(owner=user)


def conflicts_visible_to(user: Any) -> QuerySet[SyncConflict]:
    return _own_or_all(SyncConflict.objects.select_related("owner", "resolved_by"), user)


def rejected_changes_visible_to(user: Any) -> QuerySet[RejectedChange]:
    return _own_or_all(RejectedChange.objects.select_related("owner"), user)


WITHHELD = "(withheld: you may not read this field or record)"
_VALUE_COLUMNS = {
    SyncConflict: ("base_value", "crm_value", "exchange_value"),
    RejectedChange: ("offered_value",),
}


def _digest_only(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"#"}


def withhold_values(rows: Iterable[Any], viewer: Any) -> list[Any]:
    """The rows (conflicts or rejected changes) with the values blanked (None) and
    `values_withheld` set where the viewer may not read the field's columns or the record as
    it stands now (reassigned, unshared), or where only a digest was kept. A deleted record's
    values stay visible to the mailbox owner alone (field security still applies). Managing
    mailboxes grants no reading: one query per entity for the records, one for field access."""
    rows = list(rows)
    by_entity: dict[str, list[Any]] = {}
    for row in rows:
        row.values_withheld = False
        by_entity.setdefault(row.entity, []).append(row)
    for entity, group in by_entity.items():
        model = CRM_MODELS.get(entity)
        if model is None:
            hidden_fields: frozenset[str] = frozenset()
            readable: set[str] = set()
            existing: set[str] = set()
        else:
            hidden_fields = unreadable_fields(viewer, entity)
            ids = {r.crm_id for r in group if r.crm_id}
            existing = {
                str(pk) for pk in model.objects.filter(pk__in=ids).values_list("pk", flat=True)
            }
            readable = {
                str(pk)
                for pk in security.restrict(model.objects.filter(pk__in=ids), viewer).values_list(
                    "pk", flat=True
                )
            }
        for row in group:
            crm_id = str(row.crm_id) if row.crm_id else None
            if crm_id is None or crm_id not in existing:
                record_ok = row.owner_id == viewer.pk or viewer.is_superuser
            else:
                record_ok = crm_id in readable
            columns = _VALUE_COLUMNS[type(row)]
            sealed = any(_digest_only(getattr(row, c)) for c in columns)
            if record_ok and row.field not in hidden_fields and not sealed:
                continue
            row.values_withheld = True
            for column in columns:
                setattr(row, column, None)
    return rows


def _tuple(value: Any) -> Any:
    # Conflicts store a several-column field's value as a JSON list.
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value


def losing_side(conflict: SyncConflict) -> str:
    """ "exchange" when the Exchange value lost (the CRM won), "crm" when the CRM value lost.
    When neither could be applied, the Exchange value is the one offered."""
    return "crm" if conflict.outcome == Outcome.EXCHANGE else "exchange"


def losing_value(conflict: SyncConflict) -> Any:
    side = losing_side(conflict)
    return conflict.crm_value if side == "crm" else conflict.exchange_value


def crm_value_after(conflict: SyncConflict) -> Any:
    """What the CRM record held once the conflict was decided (the winner, or its own value)."""
    return conflict.exchange_value if conflict.outcome == Outcome.EXCHANGE else conflict.crm_value


class ChangedSinceConflict(ValidationError):
    """The field's value in the CRM is not the one the person deciding saw: ask again."""

    def __init__(self, message: str, current: Any) -> None:
        super().__init__(message, code="changed_since_conflict")
        self.current = current


_UNSEEN = object()


def current_value(conflict: SyncConflict, user: Any) -> tuple[bool, Any]:
    """(shown, value): the field's value in the CRM record now, in the conflict's JSON form, when
    `user` may read the record and the field; (False, None) otherwise (or when it is gone)."""
    from fieldsync.service.values import entity_fields, json_value

    model = CRM_MODELS.get(conflict.entity)
    record = model.objects.filter(pk=conflict.crm_id).first() if model and conflict.crm_id else None
    if record is None:
        return False, None
    ef = entity_fields(conflict.entity, zone=_zone(conflict))
    columns = ef.columns.get(conflict.field)
    if not columns or not security.can(user, security.Action.READ, record):
        return False, None
    access = security.field_access(user, conflict.entity)
    if not all(access.can_read(c) for c in columns):
        return False, None
    value = ef.values({c: getattr(record, c) for c in columns}).get(conflict.field)
    return True, json.loads(json.dumps(json_value(value), cls=DjangoJSONEncoder))


def _zone(conflict: SyncConflict) -> str:
    """The time zone of the owner's mailbox: the sync compared a series' pattern in it."""
    zone = Mailbox.objects.filter(owner_id=conflict.owner_id).values_list(
        "server_profile__timezone", flat=True
    )
    return zone.first() or "UTC"


def _shown(value: Any) -> str:
    return "(empty)" if value in (None, "") else repr(value)


def _check_current(conflict: SyncConflict, actor: Any, seen: Any) -> Any:
    """The value the apply replaces, after checking it is the one the person saw: the value the
    conflict left (when `seen` is not given) or `seen` (the value the page or caller showed)."""
    shown, now = current_value(conflict, actor)
    if not shown:
        return None
    if seen is _UNSEEN:
        if now != crm_value_after(conflict):
            raise ChangedSinceConflict(
                f"{field_label(conflict.field, conflict.entity)} changed in the CRM since this "
                "conflict: it is now "
                f"{_shown(now)}. Apply again, confirming that value, to replace it (it is kept "
                "as a new conflict).",
                now,
            )
    elif seen != now:
        raise ChangedSinceConflict(
            f"{field_label(conflict.field, conflict.entity)} changed in the CRM since you looked: "
            f"it is now {_shown(now)}. "
            "Check it and apply again.",
            now,
        )
    return now


def _keep_replaced(conflict: SyncConflict, actor: Any, replaced: Any, applied: Any) -> None:
    """The value the apply overwrites, when it is recorded nowhere else: a new conflict whose
    losing value it is (applying that one puts it back)."""
    if replaced in (crm_value_after(conflict), applied):
        return
    reason = f"replaced when {actor.get_username()} applied a losing value"
    # The mailbox's owner may have lost the read right on the field since: then, as for the
    # sync's own conflicts, the values rest only as keyed digests.
    readable = conflict.field not in unreadable_fields(conflict.owner, conflict.entity)
    record = conflict.crm_id or conflict.item_id

    def stored(value: Any) -> Any:
        return sealed_json_value(value, readable, entity=conflict.entity, record=record)

    fields = {
        "owner_id": conflict.owner_id,
        "entity": conflict.entity,
        "crm_id": conflict.crm_id,
        "item_id": conflict.item_id,
        "field": conflict.field,
        "base_value": stored(crm_value_after(conflict)),
        "crm_value": stored(replaced),
        "exchange_value": stored(applied),
        "outcome": Outcome.EXCHANGE.value,
        "reason": reason[:100],
    }
    digest = keyed_digest(conflict.pk, fields, timezone.now())
    SyncConflict.objects.create(digest=digest, **fields)


@transaction.atomic
def conflict_apply_losing_value(
    *, conflict: SyncConflict, actor: Any, current: Any = _UNSEEN
) -> SyncConflict:
    """Write the losing value into the CRM record, as `actor` (their record and field rights
    apply), mark the conflict resolved and queue a sync of the owner's mailbox.

    The field may have changed since the conflict: then it is refused (ChangedSinceConflict,
    with the value now) unless `current` confirms the value the person saw and means to
    replace; what it replaces is kept as a new conflict. A `current` that is no longer the
    field's value is refused too (ask again)."""
    if conflict.resolved_on is not None:
        raise ValidationError(
            "This conflict was already resolved on "
            f"{timezone.localtime(conflict.resolved_on):%d %b %Y, %H:%M} "
            f"{timezone.get_current_timezone_name()}."
        )
    model = CRM_MODELS.get(conflict.entity)
    record = (
        model.objects.select_for_update().filter(pk=conflict.crm_id).first()
        if model and conflict.crm_id
        else None
    )
    if record is None:
        raise ValidationError("The CRM record of this conflict no longer exists.")
    from fieldsync.service.values import (
        entity_fields,  # the engine's value forms; loaded when needed
    )

    ef = entity_fields(conflict.entity)
    if conflict.field not in ef.columns:
        raise ValidationError(f"{conflict.field!r} is no longer a synchronized field.")
    if _digest_only(losing_value(conflict)):
        raise ValidationError(
            "The losing value was kept only as a digest (its field is secured): "
            "it cannot be applied."
        )
    replaced = _check_current(conflict, actor, current)
    applied = losing_value(conflict)
    values = ef.columns_of({conflict.field: _tuple(applied)})
    record_update(record=record, values=values, actor=actor)
    _keep_replaced(conflict, actor, replaced, applied)
    conflict.resolved_on = timezone.now()
    conflict.resolved_by = actor
    conflict.save(update_fields=["resolved_on", "resolved_by"])
    mailbox = Mailbox.objects.filter(owner_id=conflict.owner_id, enabled=True).first()
    if mailbox is not None:
        mailbox_sync_request(mailbox=mailbox, trigger=RunTrigger.MANUAL)
    return conflict


def issues_filtered(qs: QuerySet, data: dict[str, Any]) -> QuerySet:
    """Conflicts or rejected changes narrowed by IssueFilterForm's cleaned data: the mailbox
    (its owner's), the record type, a field (part of its label or name) and the dates, which
    are whole days in the viewer's time zone."""
    import datetime as dt

    from fieldsync.catalog import get_catalog

    if data.get("mailbox"):
        qs = qs.filter(owner_id=data["mailbox"].owner_id)
    if data.get("entity"):
        qs = qs.filter(entity=data["entity"])
    if text := (data.get("field") or "").strip().casefold():
        names = {
            f.crm_field
            for f in get_catalog().all_fields()
            if text in f.crm_label.casefold() or text in f.crm_field
        }
        qs = qs.filter(field__in=names or {text})
    zone = timezone.get_current_timezone()
    if data.get("date_from"):
        qs = qs.filter(created_on__gte=dt.datetime.combine(data["date_from"], dt.time(), zone))
    if data.get("date_to"):
        end = data["date_to"] + dt.timedelta(days=1)
        qs = qs.filter(created_on__lt=dt.datetime.combine(end, dt.time(), zone))
    return qs


def _record_url(viewer: Any, record: Any) -> str | None:
    """The record's page for whoever may open it (the administration's change form)."""
    from django.urls import NoReverseMatch, reverse

    if not getattr(viewer, "is_staff", False):
        return None
    meta = record._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[record.pk])
    except NoReverseMatch:
        return None


def issues_described(rows: list, viewer: Any) -> list[dict[str, Any]]:
    """For each conflict or rejected change: the record (its name, a link where the viewer may
    open it), the field's current CRM value and the owner's mailbox address."""
    records: dict[tuple[str, Any], Any] = {}
    wanted: dict[str, set] = {}
    for r in rows:
        if r.crm_id:
            wanted.setdefault(r.entity, set()).add(r.crm_id)
    for entity, ids in wanted.items():
        model = CRM_MODELS.get(entity)
        if model is not None:
            # Only records the viewer may read now: another's name is a value too.
            readable = security.restrict(model.objects.filter(pk__in=ids), viewer)
            for record in readable:
                records[(entity, record.pk)] = record
    mailboxes = dict(
        Mailbox.objects.filter(owner_id__in={r.owner_id for r in rows}).values_list(
            "owner_id", "email_address"
        )
    )
    out = []
    for r in rows:
        record = records.get((r.entity, r.crm_id))
        # The value now, only where the viewer may read the record and the field.
        has_current, current = (False, None) if r.field == "*" else current_value(r, viewer)
        out.append(
            {
                "row": r,
                "record": record,
                "record_name": str(record) if record is not None else "",
                "record_url": _record_url(viewer, record) if record is not None else None,
                "current": current,
                "has_current": has_current,
                "mailbox": mailboxes.get(r.owner_id, ""),
            }
        )
    return out
