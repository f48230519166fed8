"""Celery tasks of the server-side sync, thin: load by id, call one service.

acks_late (settings): a task whose worker dies is delivered again; the mailbox lock and the
engine's sync state make the second delivery safe.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import shared_task
from django.db.models import F
from django.utils import timezone

from fieldsync.mailboxes.run import RetryLater, mailbox_sync_run
from fieldsync.mailboxes.scheduling import MAX_RETRIES, due_mailboxes
from fieldsync.models.mailboxes import Mailbox, MailboxStatus, RunTrigger

log = logging.getLogger(__name__)

_PUBLISH_CHUNK = 1000


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


def schedule_due_mailboxes(*, now: datetime | None = None) -> int:
    """One beat tick: queue one sync task per due mailbox, longest-waiting first. Returns the
    number queued. Costs two queries per 1,000 mailboxes plus one broker message each."""
    now = now or timezone.now()
    ids = list(
        due_mailboxes(now)
        .order_by(F("last_attempt_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    with sync_mailbox_task.app.producer_or_acquire() as producer:
        for start in range(0, len(ids), _PUBLISH_CHUNK):
            chunk = ids[start : start + _PUBLISH_CHUNK]
            Mailbox.objects.filter(pk__in=chunk).update(queued_at=now)
            Mailbox.objects.filter(pk__in=chunk).exclude(
                status__in=[MailboxStatus.SYNCING, MailboxStatus.FAILING, MailboxStatus.RETRYING]
            ).update(status=MailboxStatus.QUEUED)
            # One Redis pipeline per chunk instead of a round trip per message (kombu's
            # batch; transports without it publish one by one).
            with producer.batch(max_size=_PUBLISH_CHUNK):
                for mailbox_id in chunk:
                    sync_mailbox_task.apply_async(
                        (mailbox_id,), {"trigger": RunTrigger.SCHEDULE.value}, producer=producer
                    )
    log.info("queued %d mailbox syncs", len(ids))
    return len(ids)
