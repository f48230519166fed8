"""When mailboxes sync: which mailboxes are due, the per-mailbox lock that keeps two workers off
one mailbox, and the back-off of retries and failing mailboxes. The beat tick that queues the
due ones is in tasks.py, next to the task it publishes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import random
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db.models import Q

from fieldsync.models.mailboxes import Mailbox

log = logging.getLogger(__name__)

# Task retries of transient errors: base * 2**retry seconds, capped, with +-50 % jitter.
RETRY_BASE = float(settings.SYNCADMIN_RETRY_BASE)
RETRY_CAP = 300.0
MAX_RETRIES = int(settings.SYNCADMIN_MAX_RETRIES)
# A mailbox that failed n times in a row waits interval * 2**(n-1), at most this long.
FAILING_BACK_OFF_CAP = 6 * 3600.0


def interval() -> int:
    return int(settings.SYNCADMIN_SYNC_INTERVAL)


def retry_countdown(retry: int, *, wait: float | None = None) -> float:
    """Seconds before retry number `retry + 1` of a transient error; never less than the
    server's own back-off request (`wait`). Jitter spreads retries of mailboxes that failed
    together (a server outage) so they do not come back at the same instant."""
    base = min(RETRY_CAP, RETRY_BASE * 2**retry) * random.uniform(0.5, 1.5)
    return max(base, wait or 0.0)


def failing_back_off(failures: int) -> timedelta:
    """How long a mailbox that failed `failures` runs in a row waits for its next try."""
    seconds = min(FAILING_BACK_OFF_CAP, interval() * 2 ** max(failures - 1, 0))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


# ---- the tick ---------------------------------------------------------------------------------


def due_mailboxes(now: datetime) -> Any:
    """Enabled mailboxes not backing off and not already waiting in the queue (a queue entry
    older than a few intervals is presumed lost and replaced)."""
    stale = now - timedelta(seconds=max(3 * interval(), 300))
    return (
        Mailbox.objects.filter(enabled=True)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=stale))
    )


# ---- the per-mailbox lock ---------------------------------------------------------------------


@lru_cache(maxsize=2)
def _redis(url: str) -> Any:
    import redis

    return redis.Redis.from_url(url)


class _Heartbeat(threading.Thread):
    """Renews a Redis lock while its sync runs: a live worker keeps it however long the sync
    takes, a dead one (SIGKILL, lost machine) lets it expire after the lock timeout."""

    def __init__(self, lock: Any, every: float) -> None:
        super().__init__(name="mailbox-lock-heartbeat", daemon=True)
        self.lock = lock
        self.every = every
        self.stopped = threading.Event()

    def run(self) -> None:
        from redis.exceptions import LockError, RedisError

        while not self.stopped.wait(self.every):
            try:
                self.lock.reacquire()
            except (LockError, RedisError) as exc:
                log.warning("lost the mailbox lock %s: %s", self.lock.name, exc)
                return


@contextlib.contextmanager
def mailbox_lock(mailbox_id: int) -> Iterator[bool]:
    """Hold the mailbox's sync lock for the block; yields False (at once) if another worker
    holds it. Redis (SET NX with expiry, renewed) when REDIS_URL is set; in the embedded setup
    an flock under var/, which the kernel releases when the holding process dies."""
    if settings.REDIS_URL:
        timeout = float(settings.SYNCADMIN_SYNC_LOCK_TIMEOUT)
        lock = _redis(settings.REDIS_URL).lock(
            f"syncadmin:mailbox-sync:{mailbox_id}",
            timeout=timeout,
            blocking=False,
            thread_local=False,
        )
        if not lock.acquire():
            yield False
            return
        beat = _Heartbeat(lock, timeout / 3)
        beat.start()
        try:
            yield True
        finally:
            beat.stopped.set()
            beat.join()
            with contextlib.suppress(Exception):
                lock.release()
        return
    folder = settings.VAR_DIR / "locks"
    folder.mkdir(exist_ok=True)
    with open(folder / f"mailbox-{mailbox_id}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
