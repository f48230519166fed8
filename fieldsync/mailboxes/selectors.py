"""Reads of the server-side sync for pages and the API: the dashboard rows with backlog, the
run history grouped per attempt, and the measured cost per item that estimates a preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from crm.models import CRM_MODELS
from fieldsync.mailboxes.services import mailboxes_visible_to, runs_visible_to
from fieldsync.models.mailboxes import Mailbox, MailboxStatus, RunStatus, SyncRun

BUSY = (MailboxStatus.QUEUED, MailboxStatus.SYNCING, MailboxStatus.RETRYING)
_EPOCH = datetime(1970, 1, 1).astimezone()
# Used until enough runs were measured: seconds per item seen, and per run of one entity.
DEFAULT_SECONDS_PER_ITEM = 0.01
DEFAULT_SECONDS_PER_RUN = 0.3


def _backlog(entity: str) -> Subquery:
    """CRM records of the owner changed since the start of the last successful sync."""
    model = CRM_MODELS[entity]
    since = Coalesce(
        OuterRef("last_success_started_at"), Value(_EPOCH, output_field=DateTimeField())
    )
    changed = (
        model.objects.filter(owner=OuterRef("owner"), modified_on__gt=since)
        .order_by()
        .values("owner")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(changed, output_field=IntegerField()), 0)


def dashboard_mailboxes(user: Any) -> QuerySet[Mailbox]:
    """The mailboxes the user may see, each with `backlog` (unsynced CRM changes)."""
    qs = mailboxes_visible_to(user)

    def when(flag: str, entity: str) -> Case:
        return Case(When(**{flag: True}, then=_backlog(entity)), default=Value(0))

    total = (
        when("sync_contacts", "contact")
        + when("sync_appointments", "appointment")
        + when("sync_appointments", "recurring_appointment")
        + when("sync_appointments", "service_activity")
        + when("sync_tasks", "task")
        + when("sync_tasks", "phone_call")
        + when("sync_tasks", "letter")
        + when("sync_tasks", "fax")
    )
    return qs.annotate(backlog=total)


@dataclass(frozen=True)
class Attempt:
    """One task execution over all of a mailbox's entities, for the chart and the dashboard."""

    attempt_id: str
    mailbox: str
    started_at: datetime
    finished_at: datetime | None
    items: int
    changes: int
    failed: int

    @property
    def duration(self) -> float:
        if self.finished_at is None:
            return 0.0
        return max((self.finished_at - self.started_at).total_seconds(), 0.0)


def recent_attempts(user: Any, *, mailbox: Mailbox | None = None, limit: int = 60) -> list[Attempt]:
    """The latest finished attempts the user may see, oldest first."""
    runs = runs_visible_to(user).exclude(status=RunStatus.RUNNING)
    if mailbox is not None:
        runs = runs.filter(mailbox=mailbox)
    changes = (
        F("created_in_crm")
        + F("updated_in_crm")
        + F("deleted_in_crm")
        + F("created_in_exchange")
        + F("updated_in_exchange")
        + F("deleted_in_exchange")
    )
    rows = (
        runs.order_by()
        .values("attempt_id", "mailbox__email_address")
        .annotate(
            start=Min("started_at"),
            end=Max("finished_at"),
            items=Sum("items_seen"),
            changes=Sum(changes),
            failed=Count("pk", filter=~_ok()),
        )
        .order_by("-start")[:limit]
    )
    out = [
        Attempt(
            str(r["attempt_id"]),
            r["mailbox__email_address"],
            r["start"],
            r["end"],
            r["items"] or 0,
            r["changes"] or 0,
            r["failed"],
        )
        for r in rows
    ]
    return out[::-1]


def _ok() -> Any:
    from django.db.models import Q

    return Q(status=RunStatus.SUCCEEDED)


@dataclass(frozen=True)
class CostModel:
    """Measured costs of past successful runs of one entity: a fixed part per run and a part
    per item seen (least squares over the recent runs), for "how long would this take"."""

    per_run: float
    per_item: float
    measured_runs: int

    def estimate(self, items: int) -> float:
        return self.per_run + self.per_item * items


def cost_model(entity: str, *, sample: int = 200) -> CostModel:
    runs = list(
        SyncRun.objects.filter(entity=entity, status=RunStatus.SUCCEEDED, finished_at__isnull=False)
        .order_by("-started_at")
        .values_list("started_at", "finished_at", "items_seen")[:sample]
    )
    points = [((end - start).total_seconds(), items) for start, end, items in runs]
    n = len(points)
    if n < 3:
        return CostModel(DEFAULT_SECONDS_PER_RUN, DEFAULT_SECONDS_PER_ITEM, n)
    mean_x = sum(x for _, x in points) / n
    mean_y = sum(y for y, _ in points) / n
    var = sum((x - mean_x) ** 2 for _, x in points)
    if var == 0:
        per_item = mean_y / mean_x if mean_x else DEFAULT_SECONDS_PER_ITEM
        return CostModel(0.0 if mean_x else mean_y, per_item, n)
    per_item = sum((x - mean_x) * (y - mean_y) for y, x in points) / var
    per_item = max(per_item, 0.0)
    per_run = max(mean_y - per_item * mean_x, 0.0)
    return CostModel(per_run, per_item, n)


def next_scheduled(mailbox: Mailbox, *, now: datetime, every: float) -> datetime | None:
    """When the schedule syncs this mailbox next: the end of its back-off, else one interval
    after its last attempt (the beat tick queues every due mailbox), at the soonest now.
    None when it is disabled, queued or running."""
    from datetime import timedelta

    if not mailbox.enabled or mailbox.status in BUSY:
        return None
    if mailbox.next_attempt_at and mailbox.next_attempt_at > now:
        return mailbox.next_attempt_at
    last = mailbox.last_attempt_at or now
    return max(now, last + timedelta(seconds=every))


def dashboard_totals(mailboxes: list[Mailbox], *, now: datetime) -> dict[str, int]:
    """How many mailboxes are OK, failing (and of those, backing off), busy, not synced yet."""
    enabled = [m for m in mailboxes if m.enabled]
    return {
        "total": len(enabled),
        "ok": sum(m.status == MailboxStatus.OK for m in enabled),
        "failing": sum(m.status == MailboxStatus.FAILING for m in enabled),
        "backing_off": sum(
            m.status == MailboxStatus.FAILING
            and m.next_attempt_at is not None
            and m.next_attempt_at > now
            for m in enabled
        ),
        "busy": sum(m.status in BUSY for m in enabled),
        "new": sum(m.status == MailboxStatus.NEW for m in enabled),
        "disabled": len(mailboxes) - len(enabled),
    }


def open_issues_by_owner(owner_ids: set[int]) -> dict[int, dict[str, int]]:
    """Open conflicts and rejected changes per mailbox owner, for the dashboard."""
    from fieldsync.models.sync import RejectedChange, SyncConflict

    out: dict[int, dict[str, int]] = {o: {"conflicts": 0, "rejected": 0} for o in owner_ids}
    conflicts = (
        SyncConflict.objects.filter(owner_id__in=owner_ids, resolved_on__isnull=True)
        .order_by()
        .values_list("owner_id")
        .annotate(n=Count("pk"))
    )
    for owner, n in conflicts:
        out[owner]["conflicts"] = n
    rejected = (
        RejectedChange.objects.filter(owner_id__in=owner_ids)
        .order_by()
        .values_list("owner_id")
        .annotate(n=Count("pk"))
    )
    for owner, n in rejected:
        out[owner]["rejected"] = n
    return out
