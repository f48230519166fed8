"""What the Outlook client path records in the tables server-side sync also writes: conflicts,
rejected changes (deduplicated by their digests) and runs in the mailbox's history.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import timezone

from fieldsync.engine import Conflict, Rejected
from fieldsync.models.mailboxes import Mailbox, RunStatus, RunTrigger, SyncRun
from fieldsync.models.sync import RejectedChange, SyncConflict
from fieldsync.service.values import sealed_json_value, unreadable_fields

CLIENT_WORKER = "Outlook client (REST API)"


def record_outcomes(
    *, owner: Any, entity: str, conflicts: Sequence[Conflict], rejected: Sequence[Rejected]
) -> None:
    """Save conflicts and rejected changes; the same one posted again is stored once. Values
    of fields the owner may not read are kept only as digests."""
    hidden = unreadable_fields(owner, entity) if conflicts or rejected else frozenset()

    def stored(value: Any, field: str, record: Any) -> Any:
        return sealed_json_value(value, field not in hidden, entity=entity, record=record)

    if conflicts:
        SyncConflict.objects.bulk_create(
            [
                SyncConflict(
                    owner=owner,
                    entity=entity,
                    crm_id=c.crm_id,
                    item_id=c.item_id or "",
                    field=c.field,
                    base_value=stored(c.base, c.field, c.crm_id or c.item_id),
                    crm_value=stored(c.crm_value, c.field, c.crm_id or c.item_id),
                    exchange_value=stored(c.remote_value, c.field, c.crm_id or c.item_id),
                    outcome=c.outcome.value,
                    reason=str(c.reason)[:100],
                    digest=SyncConflict.digest_of(owner.pk, entity, c),
                )
                for c in conflicts
            ],
            ignore_conflicts=True,
        )
    if rejected:
        RejectedChange.objects.bulk_create(
            [
                RejectedChange(
                    owner=owner,
                    entity=entity,
                    crm_id=r.crm_id,
                    item_id=r.item_id,
                    field=r.field,
                    offered_value=stored(r.offered, r.field, r.crm_id or r.item_id),
                    reason=str(r.reason)[:60],
                    digest=RejectedChange.digest_of(owner.pk, entity, r),
                )
                for r in rejected
            ],
            ignore_conflicts=True,
        )


def record_client_run(
    *, mailbox: Mailbox, entity: str, started: datetime.datetime, counts: Mapping[str, int]
) -> SyncRun:
    """One finished run of the client path in the mailbox's history (SyncRun columns)."""
    now = timezone.now()
    return SyncRun.objects.create(
        mailbox=mailbox,
        entity=entity,
        trigger=RunTrigger.API,
        status=RunStatus.SUCCEEDED,
        started_at=started,
        finished_at=now,
        worker=CLIENT_WORKER,
        **counts,
    )
