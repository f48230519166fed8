"""How a plan is applied, batch by batch, so that a crash at any point is safe to re-run.

Per batch: (1) record the conflicts and rejected changes (idempotently), (2) write to Exchange,
(3) write the CRM and save the new status in one transaction. The I/O is the sink's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from .model import FieldBase, Link, Plan, RecordPlan, Value


@dataclass(frozen=True)
class RemoteResult:
    ok: bool
    item_id: str | None = None
    change_key: str | None = None
    error: str | None = None
    # Fields the server stored otherwise than they were written (it normalized them): what it
    # holds. The status records that, so the difference is decided next run, never hidden.
    stored: Mapping[str, Value] | None = None


def normalized(sent: Mapping[str, Value], stored: Mapping[str, Value]) -> dict[str, Value]:
    """The written fields the server holds otherwise (a field it did not answer is left out)."""
    return {n: stored[n] for n, v in sent.items() if n in stored and stored[n] != v}


class PlanSink(Protocol):
    def record(self, batch: Sequence[RecordPlan]) -> None:
        """Save the batch's conflicts and rejected changes; a repeat must not duplicate them."""

    def remote(self, batch: Sequence[RecordPlan]) -> Mapping[int, RemoteResult]:
        """Do the batch's Exchange writes; answer per position in `batch` that had one."""

    def commit(self, batch: Sequence[tuple[RecordPlan, Link | None]]) -> None:
        """Write the CRM and save each record's final status (None: forget the link)."""


@dataclass
class ApplyReport:
    applied: int = 0
    failed: list[tuple[RecordPlan, str]] = field(default_factory=list)
    batches: int = 0


def final_status(plan: RecordPlan, result: RemoteResult | None) -> Link | None:
    """The status to save once the Exchange write (if any) succeeded."""
    status = plan.status
    if status is None or result is None or plan.remote_delete:
        return status
    base = status.base
    if result.stored:
        base = dict(base)
        for name, value in result.stored.items():
            fb = base.get(name)
            if fb is not None:
                base[name] = FieldBase(fb.agreed, fb.crm, value)
    return replace(
        status,
        item_id=result.item_id or status.item_id,
        change_key=result.change_key or status.change_key,
        base=base,
    )


def apply_plan(
    plan: Plan,
    sink: PlanSink,
    *,
    batch_size: int = 100,
    progress: Callable[[int], None] | None = None,
) -> ApplyReport:
    """Apply `plan` through `sink`. A record whose Exchange write failed gets no CRM write and
    no new status: the next run sees it again and decides afresh."""
    report = ApplyReport()
    for batch in plan.batches(batch_size):
        sink.record(batch)
        results = sink.remote(batch)
        done: list[tuple[RecordPlan, Link | None]] = []
        for index, record in enumerate(batch):
            result = results.get(index)
            if record.has_remote_write and (result is None or not result.ok):
                report.failed.append((record, result.error if result else "no result"))
                continue
            done.append((record, final_status(record, result)))
        sink.commit(done)
        report.applied += len(done)
        report.batches += 1
        if progress is not None:
            progress(len(batch))
    return report
