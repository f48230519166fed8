"""One server-side sync of one mailbox: take the mailbox's lock, run the sync engine per entity,
record each run in the history, and tell retryable errors from terminal ones.

The Celery task (tasks.py) calls `mailbox_sync_run` and turns RetryLater into a Celery retry.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from django.db import InterfaceError, OperationalError
from django.db.models import F
from django.utils import timezone

from connectors.base import ConnectorError, ThrottledError, TransientError
from fieldsync.mailboxes import credentials
from fieldsync.mailboxes.connection import connector_for, describe_error
from fieldsync.mailboxes.scheduling import (
    MAX_RETRIES,
    failing_back_off,
    mailbox_lock,
    retry_countdown,
)
from fieldsync.models.mailboxes import Mailbox, MailboxStatus, RunStatus, RunTrigger, SyncRun

log = logging.getLogger(__name__)

# sync_mailbox(*, owner, connector, entities, dry_run) -> report (fieldsync/service/sync.py).
SyncFunction = Callable[..., Any]

# The engine's report figures -> SyncRun columns.
FIGURES = {
    "crm_created": "created_in_crm",
    "crm_updated": "updated_in_crm",
    "crm_deleted": "deleted_in_crm",
    "exchange_created": "created_in_exchange",
    "exchange_updated": "updated_in_exchange",
    "exchange_deleted": "deleted_in_exchange",
    "conflicts": "conflicts",
    "rejected": "rejected",
    "items_seen": "items_seen",
}


class RetryLater(Exception):
    """A transient failure with retries left: run the task again in `countdown` seconds."""

    def __init__(self, countdown: float, code: str, message: str) -> None:
        super().__init__(message)
        self.countdown = countdown
        self.code = code


@dataclass
class RunOutcome:
    status: str  # succeeded | failed | skipped
    runs: list[SyncRun] = field(default_factory=list)
    message: str = ""


def _engine_sync() -> SyncFunction:
    from fieldsync.service.sync import (
        sync_mailbox,  # the engine's Django side; imported late (it is large)
    )

    return sync_mailbox


def report_figures(report: Any) -> dict[str, int]:
    """The SyncRun columns from an engine report of one entity."""
    counts: Mapping[str, Any] = {}
    if isinstance(report, Mapping):
        counts = report
    elif callable(getattr(report, "count", None)):
        counts = report.count()
    elif isinstance(getattr(report, "counts", None), Mapping):
        counts = report.counts
    return {column: int(counts.get(key) or 0) for key, column in FIGURES.items()}


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ThrottledError | TransientError | OperationalError | InterfaceError)


def _mailbox_level(exc: BaseException) -> bool:
    """Errors that concern the whole mailbox (stop its run) rather than one entity."""
    return _retryable(exc) or isinstance(exc, ConnectorError | credentials.CredentialsUnreadable)


def _start(mailbox: Mailbox, now: Any) -> None:
    # Holding the lock, any run still marked running belongs to a worker that died.
    SyncRun.objects.filter(mailbox=mailbox, status=RunStatus.RUNNING).update(
        status=RunStatus.ABANDONED,
        finished_at=now,
        error_code="WorkerLost",
        error="The worker stopped during this run (killed or restarted); the next run "
        "picked up where the sync state says it left off.",
    )
    Mailbox.objects.filter(pk=mailbox.pk).update(
        status=MailboxStatus.SYNCING, last_attempt_at=now, queued_at=None
    )


def mailbox_sync_run(
    *,
    mailbox_id: int,
    trigger: str = RunTrigger.SCHEDULE,
    retry: int = 0,
    max_retries: int = MAX_RETRIES,
    worker: str = "",
    sync: SyncFunction | None = None,
    entities: list[str] | None = None,
) -> RunOutcome:
    """Sync one mailbox now, one SyncRun per entity (the mailbox's, or `entities`). Returns
    "skipped" when another worker holds the mailbox; raises RetryLater for a transient error
    with retries left."""
    mailbox = (
        Mailbox.objects.select_related("owner", "server_profile").filter(pk=mailbox_id).first()
    )
    if mailbox is None:
        return RunOutcome("skipped", message=f"Mailbox {mailbox_id} no longer exists.")
    if not mailbox.enabled and trigger == RunTrigger.SCHEDULE:
        Mailbox.objects.filter(pk=mailbox.pk).update(queued_at=None)
        return RunOutcome("skipped", message=f"{mailbox} is disabled.")
    with mailbox_lock(mailbox.pk) as held:
        if not held:
            Mailbox.objects.filter(pk=mailbox.pk).update(queued_at=None)
            log.info("%s is being synced by another worker; skipped", mailbox)
            return RunOutcome("skipped", message=f"{mailbox} is being synced by another worker.")
        return _run_locked(mailbox, trigger, retry, max_retries, worker, sync, entities)


@dataclass
class _Attempt:
    """One attempt at one mailbox: a run per entity, sharing an attempt id."""

    mailbox: Mailbox
    trigger: str
    retry: int
    worker: str
    began: Any
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    runs: list[SyncRun] = field(default_factory=list)
    failure: BaseException | None = None  # a mailbox-level error: the attempt stops
    failure_words: tuple[str, str] | None = None  # (code, message) of `failure`, if said yet
    entity_errors: list[str] = field(default_factory=list)


def _run_locked(
    mailbox: Mailbox,
    trigger: str,
    retry: int,
    max_retries: int,
    worker: str,
    sync: SyncFunction | None,
    entities: list[str] | None = None,
) -> RunOutcome:
    attempt = _Attempt(mailbox, trigger, retry, worker, began=timezone.now())
    _start(mailbox, attempt.began)
    connector = None
    try:
        sync = sync or _engine_sync()
        connector = connector_for(mailbox)
        for entity in mailbox.entities if entities is None else entities:
            if not _sync_entity(attempt, entity, sync, connector):
                break
    except Exception as exc:  # connector_for, or the engine failing to load
        attempt.failure = exc
    finally:
        if connector is not None:
            connector.close()
    if attempt.failure is None and not attempt.entity_errors:
        Mailbox.objects.filter(pk=mailbox.pk).update(
            status=MailboxStatus.OK,
            failure_count=0,
            next_attempt_at=None,
            last_error="",
            last_error_code="",
            last_success_at=timezone.now(),
            last_success_started_at=attempt.began,
        )
        return RunOutcome("succeeded", attempt.runs)
    return _failed(attempt, max_retries)


def _progress_of(sync: SyncFunction, run: SyncRun) -> dict[str, Any]:
    """progress=... for an engine that reports it: records done of records planned, written
    to the running SyncRun as it goes (the mailbox page and the history show it)."""
    import inspect

    try:
        accepts = "progress" in inspect.signature(sync).parameters
    except (TypeError, ValueError):
        accepts = False
    if not accepts:
        return {}

    def progress(entity: str, done: int, planned: int) -> None:
        run.items_done, run.items_planned = done, planned  # the final save keeps them
        SyncRun.objects.filter(pk=run.pk).update(items_done=done, items_planned=planned)

    return {"progress": progress}


def _sync_entity(attempt: _Attempt, entity: str, sync: SyncFunction, connector: Any) -> bool:
    """Sync one entity and record its run; False when a mailbox-level error stops the attempt."""
    mailbox = attempt.mailbox
    run = SyncRun.objects.create(
        mailbox=mailbox,
        entity=entity,
        attempt_id=attempt.id,
        trigger=attempt.trigger,
        retry=attempt.retry,
        started_at=timezone.now(),
        worker=attempt.worker[:200],
    )
    attempt.runs.append(run)
    try:
        report = sync(
            owner=mailbox.owner, connector=connector, entities=[entity], **_progress_of(sync, run)
        )
    except Exception as exc:
        # The connector too: a missing DAV collection is named (checked while it is open).
        code, message = describe_error(exc, mailbox, connector)
        run.error_code, run.error = code, message
        run.finished_at = timezone.now()
        if _mailbox_level(exc):
            attempt.failure = exc
            attempt.failure_words = (code, message)
            return False
        # One entity's bug or bad data must not keep the others from syncing.
        log.exception("sync of %s %s failed", mailbox, entity)
        run.status = RunStatus.FAILED
        run.save()
        attempt.entity_errors.append(f"{entity}: {message}")
        return True
    _record_report(attempt, run, entity, report)
    return True


def _record_report(attempt: _Attempt, run: SyncRun, entity: str, report: Any) -> None:
    """A finished entity's figures, and why it counts as failed (the guard) or partial."""
    for column, value in report_figures(report).items():
        setattr(run, column, value)
    run.status = RunStatus.SUCCEEDED
    run.finished_at = timezone.now()
    done = getattr(report, "entities", {}).get(entity)
    run.note = " ".join(getattr(done, "notes", None) or [])
    if done is not None and done.guard:
        # The engine wrote nothing: an administrator must look first.
        run.status = RunStatus.FAILED
        run.error_code = "MassChangeGuard"
        run.error = (
            f"Stopped by the mass-change guard, nothing was changed: {done.guard} "
            "An administrator can confirm it on the mailbox's page (or with "
            "manage.py sync_mailbox --confirm) or change the sync policy."
        )
        attempt.entity_errors.append(f"{entity}: {run.error}")
    elif done is not None and done.failed:
        shown = ", ".join(done.failed[:5]) + (" ..." if len(done.failed) > 5 else "")
        run.error_code = "ItemsFailed"
        run.error = (
            f"{len(done.failed)} record(s) could not be written and are retried in the "
            f"next run: {shown}"
        )
    run.save()


def _failed(attempt: _Attempt, max_retries: int) -> RunOutcome:
    """A failed attempt: retried later (RetryLater) when the error is transient, else the
    mailbox backs off and the history says why."""
    mailbox, failure, runs = attempt.mailbox, attempt.failure, attempt.runs
    if attempt.failure_words is not None:
        code, message = attempt.failure_words
    elif failure is not None:
        code, message = describe_error(failure, mailbox)
    else:
        code, message = "EntityFailed", "; ".join(attempt.entity_errors)
    pending = [r for r in runs if r.status == RunStatus.RUNNING]
    if failure is not None and _retryable(failure) and attempt.retry < max_retries:
        _retry_later(attempt, pending, max_retries, code, message)
    for run in pending:
        run.status = RunStatus.FAILED
        run.save()
    if not runs:  # nothing ran (unreadable credentials): the history still shows why
        runs.append(
            SyncRun.objects.create(
                mailbox=mailbox,
                entity="*",
                attempt_id=attempt.id,
                trigger=attempt.trigger,
                retry=attempt.retry,
                started_at=attempt.began,
                finished_at=timezone.now(),
                status=RunStatus.FAILED,
                error_code=code,
                error=message,
                worker=attempt.worker[:200],
            )
        )
    mailbox.refresh_from_db(fields=["failure_count"])
    failures = mailbox.failure_count + 1
    Mailbox.objects.filter(pk=mailbox.pk).update(
        status=MailboxStatus.FAILING,
        failure_count=F("failure_count") + 1,
        next_attempt_at=timezone.now() + failing_back_off(failures),
        last_error=message,
        last_error_code=code,
    )
    log.warning("sync of %s failed (%s): %s", mailbox, code, message)
    return RunOutcome("failed", runs, message)


def _retry_later(
    attempt: _Attempt, pending: list[SyncRun], max_retries: int, code: str, message: str
) -> NoReturn:
    retry = attempt.retry
    countdown = retry_countdown(retry, wait=getattr(attempt.failure, "wait", None))
    for run in pending:
        run.status = RunStatus.RETRYING
        run.save()
    Mailbox.objects.filter(pk=attempt.mailbox.pk).update(
        status=MailboxStatus.RETRYING,
        last_error=f"{message} Retry {retry + 1} of {max_retries} in {countdown:.0f} s.",
        last_error_code=code,
        queued_at=timezone.now(),
    )
    raise RetryLater(countdown, code, message)
