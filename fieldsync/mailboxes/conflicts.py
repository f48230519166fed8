"""Conflicts and rejected changes as people see them: who sees which (their own, admins all),
and "apply the losing value": write the value that lost into the CRM record, then sync the
mailbox so Exchange gets it too.
"""

from __future__ import annotations

import hashlib
import json
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
from fieldsync.models.mailboxes import Mailbox, RunTrigger
from fieldsync.models.sync import RejectedChange, SyncConflict
from security import policy as security


def _own_or_all(qs: QuerySet, user: Any) -> QuerySet:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    return qs if can_manage_mailboxes(user) else qs.filter(owner=user)


def conflicts_visible_to(user: Any) -> QuerySet[SyncConflict]:
    return _own_or_all(SyncConflict.objects.select_related("owner", "resolved_by"), user)


def rejected_changes_visible_to(user: Any) -> QuerySet[RejectedChange]:
    return _own_or_all(RejectedChange.objects.select_related("owner"), user)


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
    ef = entity_fields(conflict.entity)
    columns = ef.columns.get(conflict.field)
    if not columns or not security.can(user, security.Action.READ, record):
        return False, None
    access = security.field_access(user, conflict.entity)
    if not all(access.can_read(c) for c in columns):
        return False, None
    value = ef.values({c: getattr(record, c) for c in columns}).get(conflict.field)
    return True, json.loads(json.dumps(json_value(value), cls=DjangoJSONEncoder))


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
                f"{conflict.field} changed in the CRM since this conflict: it is now "
                f"{_shown(now)}. Apply again, confirming that value, to replace it (it is kept "
                "as a new conflict).",
                now,
            )
    elif seen != now:
        raise ChangedSinceConflict(
            f"{conflict.field} changed in the CRM since you looked: it is now {_shown(now)}. "
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
    fields = {
        "owner_id": conflict.owner_id,
        "entity": conflict.entity,
        "crm_id": conflict.crm_id,
        "item_id": conflict.item_id,
        "field": conflict.field,
        "base_value": crm_value_after(conflict),
        "crm_value": replaced,
        "exchange_value": applied,
        "outcome": Outcome.EXCHANGE.value,
        "reason": reason[:100],
    }
    digest = hashlib.sha256(
        json.dumps([conflict.pk, fields, timezone.now()], cls=DjangoJSONEncoder).encode()
    ).hexdigest()
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
            f"This conflict was already resolved on {conflict.resolved_on:%Y-%m-%d %H:%M} UTC."
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
