"""The CRM side of one entity's sync: the records in the owner's sync scope, what changed since
the cursor, what entered or left the scope, and the records an Exchange item names.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from crm.models import Tombstone
from fieldsync.engine import Absence, CrmSide, LinkState
from fieldsync.models.sync import MailboxSyncState, SyncPolicy
from fieldsync.service.apply import series_exceptions
from fieldsync.service.rules import scope_filter
from fieldsync.service.values import EXCEPTIONS, EntityFields
from security import policy as security


def uuid_or_none(value: str | None) -> str | None:
    """`value` as a CRM id, or None when it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


class CrmReader:
    """Reads one entity's records for one owner's run; remembers each record's change number
    (`change_numbers`, for the sink) and which records the mailbox holds a status for
    (`linked`, set by the run)."""

    def __init__(self, *, owner: Any, entity: str, ef: EntityFields, policy_row: SyncPolicy):
        self.owner = owner
        self.entity = entity
        self.ef = ef
        self.model = ef.model
        self.policy_row = policy_row
        self.change_numbers: dict[str, int] = {}
        self.linked: set[str] = set()  # records this mailbox holds a status for
        self.scope: Any = None  # the run's sync scope (set by the run: see sync_scope)

    def sync_scope(self) -> Any:
        """The records the owner's mailbox syncs: the sync filter, then record security."""
        choice = self.policy_row.filter_for(self.entity)
        qs = self.model.objects.filter(
            scope_filter(owner=self.owner, entity=self.entity, choice=choice)
        )
        return security.restrict(qs, self.owner, security.Action.SYNC)

    def load(self, qs: Any) -> dict[str, CrmSide]:
        out = {}
        rows = list(qs.values("id", "modified_on", "change_number", *self.ef.model_columns))
        if EXCEPTIONS in self.ef.columns:
            held = series_exceptions([r["id"] for r in rows])
            for row in rows:
                row[EXCEPTIONS] = held.get(row["id"], [])
        for row in rows:
            crm_id = str(row["id"])
            self.change_numbers[crm_id] = row["change_number"]
            modified = row["modified_on"].timestamp() if row["modified_on"] else None
            out[crm_id] = CrmSide(self.ef.values(row), modified)
        return out

    def lookup(self, ids: Sequence[str]) -> dict[str, CrmSide | Absence]:
        """CRM sides of records an unlinked item names, or a resumed link needs."""
        valid = [i for i in (uuid_or_none(x) for x in ids) if i]
        found: dict[str, CrmSide | Absence] = dict(self.load(self.scope.filter(id__in=valid)))
        rest = [i for i in valid if i not in found]
        if rest:
            exists = {
                str(i) for i in self.model.objects.filter(id__in=rest).values_list("id", flat=True)
            }
            deleted = {
                str(i)
                for i in Tombstone.objects.filter(
                    entity=self.entity, record_id__in=rest
                ).values_list("record_id", flat=True)
            }
            for crm_id in rest:
                if crm_id not in self.linked:
                    # An item naming a record this mailbox never held: whether that record
                    # exists (elsewhere, or deleted) is none of its business, as if no record.
                    continue
                if crm_id in exists:
                    found[crm_id] = Absence.OUT_OF_SCOPE
                elif crm_id in deleted:
                    found[crm_id] = Absence.DELETED
        return {i: found.get(uuid_or_none(i) or "", Absence.MISSING) for i in ids}

    def writable(self, ids: Sequence[str]) -> list[str]:
        qs = self.model.objects.filter(id__in=list(ids))
        return [
            str(i)
            for i in security.restrict(qs, self.owner, security.Action.WRITE).values_list(
                "id", flat=True
            )
        ]

    def changed(
        self, state: MailboxSyncState, cursor: int, light: dict[str, tuple]
    ) -> dict[str, CrmSide | Absence]:
        """The CRM side: changes since the cursor, records entering or leaving the scope."""
        in_scope = {str(i) for i in self.scope.values_list("id", flat=True)}
        crm: dict[str, CrmSide | Absence] = dict(
            self.load(self.scope.filter(change_number__gt=cursor))
        )
        synced = {k for k, v in light.items() if v[3] != LinkState.SUSPENDED}
        fresh = (in_scope - synced - set(crm)) | (set(state.retry_ids) & in_scope - set(crm))
        if fresh:
            crm.update(self.load(self.scope.filter(id__in=list(fresh))))
        for crm_id in Tombstone.objects.filter(
            entity=self.entity, change_number__gt=cursor
        ).values_list("record_id", flat=True):
            crm_id = str(crm_id)
            if crm_id in light:
                crm[crm_id] = Absence.DELETED
        for crm_id, (_, _, _, link_state) in light.items():
            if crm_id not in in_scope and crm_id not in crm and link_state == LinkState.ACTIVE:
                crm[crm_id] = Absence.OUT_OF_SCOPE
        return crm
