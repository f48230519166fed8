"""Conflicts and rejected changes as people see them: who sees which (their own, admins all),
and "apply the losing value": write the value that lost into the CRM record, then sync the
mailbox so Exchange gets it too.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from crm.models import CRM_MODELS
from crm.services import record_update
from fieldsync.engine.model import Outcome
from fieldsync.mailboxes.services import can_manage_mailboxes, mailbox_sync_request
from fieldsync.models.mailboxes import Mailbox, RunTrigger
from fieldsync.models.sync import RejectedChange, SyncConflict


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


@transaction.atomic
def conflict_apply_losing_value(*, conflict: SyncConflict, actor: Any) -> SyncConflict:
    """Write the losing value into the CRM record, as `actor` (their record and field rights
    apply), mark the conflict resolved and queue a sync of the owner's mailbox."""
    if conflict.resolved_on is not None:
        raise ValidationError(
            f"This conflict was already resolved on {conflict.resolved_on:%Y-%m-%d %H:%M} UTC."
        )
    model = CRM_MODELS.get(conflict.entity)
    record = model.objects.filter(pk=conflict.crm_id).first() if model and conflict.crm_id else None
    if record is None:
        raise ValidationError("The CRM record of this conflict no longer exists.")
    from fieldsync.service.values import (
        entity_fields,  # the engine's value forms; loaded when needed
    )

    ef = entity_fields(conflict.entity)
    if conflict.field not in ef.columns:
        raise ValidationError(f"{conflict.field!r} is no longer a synchronized field.")
    values = ef.columns_of({conflict.field: _tuple(losing_value(conflict))})
    record_update(record=record, values=values, actor=actor)
    conflict.resolved_on = timezone.now()
    conflict.resolved_by = actor
    conflict.save(update_fields=["resolved_on", "resolved_by"])
    mailbox = Mailbox.objects.filter(owner_id=conflict.owner_id, enabled=True).first()
    if mailbox is not None:
        mailbox_sync_request(mailbox=mailbox, trigger=RunTrigger.MANUAL)
    return conflict
