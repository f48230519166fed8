"""How a plan is applied, batch by batch, so that a crash at any point is safe to re-run.

Per batch: (1) record the conflicts and rejected changes (idempotently), (2) write to Exchange,
(3) write the CRM and save the new status in one transaction. The I/O is the sink's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from .model import Link, Plan, RecordPlan


@dataclass(frozen=True)
class RemoteResult:
    ok: bool
    item_id: str | None = None
    change_key: str | None = None
    error: str | None = None


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
    return replace(
        status,
        item_id=result.item_id or status.item_id,
        change_key=result.change_key or status.change_key,
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
