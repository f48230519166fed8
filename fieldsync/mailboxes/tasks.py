"""Celery tasks of the server-side sync, thin: load by id, call one service.

acks_late (settings): a task whose worker dies is delivered again; the mailbox lock and the
engine's sync state make the second delivery safe.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from fieldsync.mailboxes.run import RetryLater, mailbox_sync_run
from fieldsync.mailboxes.scheduling import MAX_RETRIES, schedule_due_mailboxes
from fieldsync.models.mailboxes import RunTrigger


@shared_task(name="fieldsync.tasks.schedule_mailbox_syncs", ignore_result=True)
def schedule_mailbox_syncs() -> int:
    """The beat tick: one sync task per due mailbox."""
    return schedule_due_mailboxes()


@shared_task(
    bind=True,
    name="fieldsync.tasks.sync_mailbox",
    max_retries=MAX_RETRIES,
    acks_late=True,
    reject_on_worker_lost=True,
    # The history is in the database; a result per task would cost the tick a Redis
    # subscription per message.
    ignore_result=True,
)
def sync_mailbox_task(
    self: Any, mailbox_id: int, trigger: str = RunTrigger.SCHEDULE.value
) -> dict[str, Any]:
    try:
        outcome = mailbox_sync_run(
            mailbox_id=mailbox_id,
            trigger=trigger,
            retry=self.request.retries,
            max_retries=self.max_retries,
            worker=self.request.hostname or "",
        )
    except RetryLater as exc:
        raise self.retry(countdown=exc.countdown, exc=exc) from None
    return {"status": outcome.status, "runs": [r.pk for r in outcome.runs]}
