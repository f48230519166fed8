"""The plan sink of the Django side: conflicts and rejected changes to their tables, Exchange
writes through the connector in bulk, then CRM writes and statuses in one transaction a batch.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from connectors.base import (
    ACTIVITY_TYPE,
    NOT_FOUND,
    Connector,
    ItemRef,
    ItemResult,
    ItemUpdate,
    NewItem,
)
from crm.models import AppointmentException, quiet_exceptions, reserve_change_numbers
from fieldsync.engine import (
    UNKNOWN,
    Conflict,
    Link,
    Outcome,
    RecordPlan,
    Remote,
    RemoteResult,
    Rules,
    Sealed,
    Value,
    normalized,
    seal_private,
    seal_unreadable,
)
from fieldsync.models.sync import RejectedChange, SyncConflict, SyncLink, UnconfirmedItems
from fieldsync.service.values import (
    ACTIVITY_TYPE_OF,
    EXCEPTIONS,
    EntityFields,
    encode_base,
    record_digest,
    sealed_json_value,
)


def series_exceptions(series_ids: Sequence[Any]) -> dict[Any, list[dict[str, Any]]]:
    """The changed and cancelled occurrences of these series, in the connectors' form. One
    query, in chunks that stay within SQLite's parameter limit."""
    out: dict[Any, list[dict[str, Any]]] = {}
    ids = list(series_ids)
    for start in range(0, len(ids), 500):
        rows = AppointmentException.objects.filter(series_id__in=ids[start : start + 500])
        for e in rows.order_by("original_start"):
            out.setdefault(e.series_id, []).append(
                {
                    "original_start": e.original_start,
                    "cancelled": e.is_cancelled,
                    "start": e.scheduled_start,
                    "end": e.scheduled_end,
                    "subject": e.subject,
                    "location": e.location,
                    "description": e.description,
                }
            )
    return out


def _replace_exceptions(series_id: Any, exceptions: Sequence[Mapping[str, Any]]) -> None:
    """Make the series' exceptions these (the sync already gave the series its change number:
    writing them does not give it another)."""
    with quiet_exceptions():
        AppointmentException.objects.filter(series_id=series_id).delete()
        AppointmentException.objects.bulk_create(
            AppointmentException(
                series_id=series_id,
                original_start=e["original_start"],
                is_cancelled=bool(e["cancelled"]),
                scheduled_start=None if e["cancelled"] else e["start"],
                scheduled_end=None if e["cancelled"] else e["end"],
                subject=None if e["cancelled"] else e["subject"],
                location=None if e["cancelled"] else e["location"],
                description=None if e["cancelled"] else e["description"],
            )
            for e in exceptions
        )


# The reason of a conflict whose CRM value the server did not keep as written.
SERVER_NORMALIZED = "server_normalized"


def server_normalized(link: Link, remote: Remote, rules: Rules) -> list[Conflict]:
    """Our own write as the next run's change list shows it (the item still has the change key
    the write got): a value the server holds otherwise than the status says was written
    (Exchange resets a task not started to 0 %, adds the weekday to a weekly rule) is no silent
    difference. A conflict says what the server did not keep (outcome Exchange); the record is
    then decided from what the server holds, in that run, as an Outlook change. Only fields
    the sync writes count: one the server sets (the organizer) is no write of ours."""
    wrote = {
        n: fb.remote
        for n, fb in link.base.items()
        if n in rules.fields and rules.fields[n].sends and not isinstance(fb.remote, Sealed)
    }
    return [
        Conflict(
            link.crm_id,
            remote.item_id,
            name,
            UNKNOWN,
            wrote[name],
            value,
            Outcome.EXCHANGE,
            SERVER_NORMALIZED,
        )
        for name, value in normalized(wrote, remote.values).items()
    ]


def _problem(ef: EntityFields, columns: Mapping[str, Any]) -> str:
    """Why these values cannot be saved in the CRM ("" if they can): checked before writing,
    so one bad item does not roll back its whole batch."""
    for column, value in columns.items():
        field = ef.model_field(column)
        limit = getattr(field, "max_length", None)
        if limit and isinstance(value, str) and len(value) > limit:
            return f"{column} is longer than {limit} characters"
    start, end = columns.get("scheduled_start"), columns.get("scheduled_end")
    if isinstance(start, datetime.datetime) and isinstance(end, datetime.datetime) and end < start:
        return "the end is before the start"
    percent = columns.get("percent_complete")
    if isinstance(percent, int) and not 0 <= percent <= 100:
        return "% complete must be between 0 and 100"
    return ""


def _result(answer: ItemResult) -> RemoteResult:
    return RemoteResult(answer.ok, answer.item_id, answer.change_key, answer.error_code)


@dataclass
class _CrmWrites:
    keep: list[tuple[RecordPlan, Link | None]] = field(default_factory=list)
    creates: list[models.Model] = field(default_factory=list)
    updates: list[tuple[RecordPlan, dict[str, Any]]] = field(default_factory=list)
    refused: list[Any] = field(default_factory=list)
    later: list[tuple[Any, Any]] = field(default_factory=list)  # (series id, its exceptions)


class DjangoSink:
    """Applies one entity's plan for one mailbox owner (see fieldsync.engine.apply)."""

    def __init__(
        self,
        *,
        owner: Any,
        ef: EntityFields,
        rules: Rules,
        connector: Connector,
        folder: str,
        link_pks: dict[str, int],
        crm_change_numbers: Mapping[str, int],
        cursor: int,
    ) -> None:
        self.owner = owner
        self.ef = ef
        self.rules = rules
        self.entity = ef.entity
        self.connector = connector
        self.folder = folder
        self.link_pks = link_pks
        # The change number each CRM side was read at: a record changed since is not written.
        self.crm_change_numbers = crm_change_numbers
        self.cursor = cursor
        self.blanks = ef.blanks
        self.stale: list[str] = []
        self.invalid: list[str] = []
        self.listed_new: set[str] = set()  # items the change list reported as created
        self.run_started = timezone.now()
        # What a new item carries to say which CRM activity it is (none for plain ones).
        kind = ACTIVITY_TYPE_OF.get(self.entity)
        self.marker: dict[str, object] = {ACTIVITY_TYPE: kind} if kind else {}

    def _sealed(self, status: Link) -> Link:
        """The status as stored: private Exchange values, and any value of a field the owner
        may not read (the CRM's and the mailbox's), only as digests."""
        mark = record_digest(self.entity, status.crm_id)
        return seal_unreadable(seal_private(status, self.rules, mark), self.rules, mark)

    # -- 1. conflicts and rejected changes -----------------------------------------------------
    def _readable(self, field: str) -> bool:
        rule = self.rules.fields.get(field)
        return rule is None or rule.can_read

    def _stored(self, value: Value, field: str, record: Any) -> Any:
        return sealed_json_value(value, self._readable(field), entity=self.entity, record=record)

    def record(self, batch: Sequence[RecordPlan]) -> None:
        conflicts = [c for p in batch for c in p.conflicts]
        rejected = [r for p in batch for r in p.rejected]
        if conflicts:
            self._conflicts(conflicts)
        if rejected:
            self._reject(rejected)

    def _conflicts(self, conflicts: Sequence[Conflict]) -> None:
        SyncConflict.objects.bulk_create(
            [
                SyncConflict(
                    owner=self.owner,
                    entity=self.entity,
                    crm_id=c.crm_id,
                    item_id=c.item_id or "",
                    field=c.field,
                    base_value=self._stored(c.base, c.field, c.crm_id or c.item_id),
                    crm_value=self._stored(c.crm_value, c.field, c.crm_id or c.item_id),
                    exchange_value=self._stored(c.remote_value, c.field, c.crm_id or c.item_id),
                    outcome=c.outcome.value,
                    reason=str(c.reason)[:100],
                    digest=SyncConflict.digest_of(self.owner.pk, self.entity, c),
                )
                for c in conflicts
            ],
            ignore_conflicts=True,
        )

    def _reject(self, rejected: Sequence[Any]) -> None:
        RejectedChange.objects.bulk_create(
            [
                RejectedChange(
                    owner=self.owner,
                    entity=self.entity,
                    crm_id=r.crm_id,
                    item_id=r.item_id,
                    field=r.field,
                    offered_value=self._stored(r.offered, r.field, r.crm_id or r.item_id),
                    reason=str(r.reason)[:60],
                    digest=RejectedChange.digest_of(self.owner.pk, self.entity, r),
                )
                for r in rejected
            ],
            ignore_conflicts=True,
        )

    # -- 2. Exchange -----------------------------------------------------------------------------
    def remote(self, batch: Sequence[RecordPlan]) -> dict[int, RemoteResult]:
        creates = [(i, p) for i, p in enumerate(batch) if p.remote_create is not None]
        deletes = [(i, p) for i, p in enumerate(batch) if p.remote_delete]
        updates = [
            (i, p)
            for i, p in enumerate(batch)
            if p.remote_create is None
            and not p.remote_delete
            and (p.remote_update or p.stamp_crm_id)
        ]
        results: dict[int, RemoteResult] = {}
        if creates:
            answers = self.connector.create_items(
                self.folder,  # type: ignore[arg-type]
                [
                    NewItem(
                        str(p.crm_id),
                        self.ef.columns_of(p.remote_create or {}) | self.marker,
                        tuple(p.remote_categories),
                    )
                    for _, p in creates
                ],
            )
            for a in answers:
                results[creates[a.index][0]] = _result(a)
        if updates:
            answers = self.connector.update_items(
                self.folder,  # type: ignore[arg-type]
                [
                    ItemUpdate(
                        str(p.item_id),
                        str(p.change_key),
                        self.ef.columns_of(p.remote_update),
                        str(p.crm_id) if p.stamp_crm_id else None,
                    )
                    for _, p in updates
                ],
            )
            for a in answers:
                results[updates[a.index][0]] = _result(a)
        if deletes:
            answers = self.connector.delete_items(
                self.folder,  # type: ignore[arg-type]
                [ItemRef(str(p.item_id), str(p.change_key or "")) for _, p in deletes],
            )
            for a in answers:
                gone = a.ok or a.error_code == NOT_FOUND  # already deleted: what we wanted
                results[deletes[a.index][0]] = RemoteResult(gone, a.item_id, None, a.error_code)
        return results

    # -- 3. CRM and statuses ---------------------------------------------------------------------
    def _crm_writes(self, batch: Sequence[tuple[RecordPlan, Link | None]]) -> _CrmWrites:
        """Sort a batch's CRM writes: creates, updates, refused invalid values, and the series
        exceptions to write once their series is."""
        out = _CrmWrites()
        for plan, status in batch:
            creating = plan.crm_create is not None
            values = plan.crm_create if creating else plan.crm_update
            if creating or values:
                columns = self.ef.columns_of(values or {})
                problem = _problem(self.ef, columns)
                if problem:
                    out.refused.append(self._invalid(plan, problem))
                    continue
                if EXCEPTIONS in columns:
                    out.later.append((plan.crm_id, columns.pop(EXCEPTIONS)))
                if creating:
                    out.creates.append(self.ef.model(id=plan.crm_id, owner=self.owner, **columns))
                else:
                    out.updates.append((plan, columns))
            out.keep.append((plan, status))
        return out

    def commit(self, batch: Sequence[tuple[RecordPlan, Link | None]]) -> None:
        with transaction.atomic():
            writes = self._crm_writes(batch)
            if writes.refused:
                self._reject(writes.refused)
            if writes.creates:
                self.ef.model.objects.bulk_create(writes.creates)
            written = self._update_crm(writes.updates)
            made = {str(r.pk) for r in writes.creates}
            for series_id, exceptions in writes.later:
                if str(series_id) in written or str(series_id) in made:
                    _replace_exceptions(series_id, exceptions)
            self._save_statuses(
                [(p, s) for p, s in writes.keep if not p.crm_update or p.crm_id in written]
            )
            # Items newer than the saved sync state (see UnconfirmedItems), with the statuses.
            mine, listed = [], []
            for p, s in batch:
                if s is not None and p.remote_create is not None:
                    mine.append(s.item_id)
                elif s is not None and s.item_id in self.listed_new:
                    listed.append(s.item_id)
            rows = [
                UnconfirmedItems(
                    owner=self.owner,
                    entity=self.entity,
                    item_ids=ids,
                    run_started=self.run_started,
                    created_by_sync=ours,
                )
                for ids, ours in ((mine, True), (listed, False))
                if ids
            ]
            if rows:
                UnconfirmedItems.objects.bulk_create(rows)

    def _invalid(self, plan: RecordPlan, problem: str) -> Any:
        from fieldsync.engine import Rejected

        self.invalid.append(str(plan.crm_id or plan.item_id))
        return Rejected(plan.crm_id, plan.item_id or "", "*", None, f"invalid: {problem}")

    def _update_crm(self, updates: list[tuple[RecordPlan, dict[str, Any]]]) -> set[str]:
        if not updates:
            return set()
        model = self.ef.model
        last = reserve_change_numbers(len(updates))
        now = timezone.now()
        written = set()
        for offset, (plan, columns) in enumerate(updates):
            crm_id = str(plan.crm_id)
            seen = self.crm_change_numbers.get(crm_id, self.cursor)
            rows = model.objects.filter(pk=crm_id, change_number__lte=seen)
            # The plain QuerySet.update: the change number is already reserved above, and the
            # CRM queryset's own update would open a savepoint per record to reserve another.
            count = models.QuerySet.update(
                rows,
                change_number=last - len(updates) + 1 + offset,
                modified_on=now,
                **columns,
            )
            if count:
                written.add(crm_id)
            else:  # edited in the CRM meanwhile: the next run merges that edit first
                self.stale.append(crm_id)
        return written

    def _save_statuses(self, done: Sequence[tuple[RecordPlan, Link | None]]) -> None:
        gone, changed, new = [], [], []
        for plan, status in done:
            if plan.crm_id is None:
                continue
            # A status kept from before the owner lost a field's read right is rewritten sealed.
            unsealed = (
                status is not None
                and seal_unreadable(status, self.rules, record_digest(self.entity, status.crm_id))
                is not status
            )
            if not plan.status_changed and not unsealed:
                continue
            pk = self.link_pks.get(plan.crm_id)
            if status is None:
                if pk is not None:
                    gone.append(pk)
                    del self.link_pks[plan.crm_id]
                continue
            row = SyncLink(
                pk=pk,
                owner=self.owner,
                entity=self.entity,
                crm_id=status.crm_id,
                item_id=status.item_id,
                change_key=status.change_key,
                state=status.state.value,
                base=encode_base(self._sealed(status).base, self.blanks),
            )
            (changed if pk is not None else new).append(row)
        if gone:
            SyncLink.objects.filter(pk__in=gone).delete()
        if changed:
            SyncLink.objects.bulk_update(changed, ["item_id", "change_key", "state", "base"])
        if new:
            for row in SyncLink.objects.bulk_create(new):
                if row.pk is not None:
                    self.link_pks[str(row.crm_id)] = row.pk
