"""One mailbox sync as the worker runs it, with a fake engine injected: history per entity,
the lock, retryable vs terminal errors, back-off of failing mailboxes, and the beat tick."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.base import AuthError, ThrottledError, TransientError
from fieldsync.mailboxes.run import RetryLater, mailbox_sync_run
from fieldsync.mailboxes.scheduling import mailbox_lock, retry_countdown
from fieldsync.mailboxes.tasks import schedule_due_mailboxes
from fieldsync.models.mailboxes import Mailbox, MailboxStatus, RunStatus, SyncRun


class FakeEngine:
    """sync_mailbox's signature; raises what it is told per entity, else reports counts."""

    def __init__(self, fail: dict | None = None):
        self.fail = fail or {}
        self.calls = []

    def __call__(self, *, owner, connector, entities=None, dry_run=False):
        (entity,) = entities
        self.calls.append((owner.username, entity, connector.primary_smtp_address))
        if entity in self.fail:
            raise self.fail[entity]
        return {"exchange_created": 3, "crm_updated": 1, "conflicts": 2, "rejected": 1}


def run(mailbox, engine, **kw):
    return mailbox_sync_run(mailbox_id=mailbox.pk, sync=engine, **kw)


def test_a_run_records_one_history_row_per_entity_with_its_counts(make_mailbox):
    mailbox = make_mailbox(sync_tasks=False)
    engine = FakeEngine()
    outcome = run(mailbox, engine, trigger="manual", worker="w1")
    assert outcome.status == "succeeded"
    assert [c[1] for c in engine.calls] == [
        "contact",
        "appointment",
        "recurring_appointment",
        "service_activity",
    ]
    runs = SyncRun.objects.filter(mailbox=mailbox).order_by("id")
    assert [(r.entity, r.status, r.trigger) for r in runs] == [
        ("contact", "succeeded", "manual"),
        ("appointment", "succeeded", "manual"),
        ("recurring_appointment", "succeeded", "manual"),
        ("service_activity", "succeeded", "manual"),
    ]
    first = runs[0]
    assert (first.created_in_exchange, first.updated_in_crm, first.conflicts, first.rejected) == (
        3,
        1,
        2,
        1,
    )
    assert first.finished_at >= first.started_at and first.worker == "w1"
    assert len({r.attempt_id for r in runs}) == 1  # one task execution
    mailbox.refresh_from_db()
    assert mailbox.status == MailboxStatus.OK and mailbox.last_success_at is not None


def test_a_mailbox_held_by_another_worker_is_skipped_not_synced_twice(make_mailbox):
    mailbox = make_mailbox()
    engine = FakeEngine()
    with mailbox_lock(mailbox.pk) as held:
        assert held
        assert run(mailbox, engine).status == "skipped"
    assert engine.calls == [] and not SyncRun.objects.exists()
    assert run(mailbox, engine).status == "succeeded"  # released: the next run proceeds


def test_a_transient_error_asks_for_a_retry_and_then_gives_up_with_back_off(make_mailbox):
    mailbox = make_mailbox()
    engine = FakeEngine(fail={"contact": TransientError("connection reset", "ConnectionError")})
    with pytest.raises(RetryLater) as retry:
        run(mailbox, engine, retry=0, max_retries=2)
    assert retry.value.countdown > 0
    mailbox.refresh_from_db()
    assert mailbox.status == MailboxStatus.RETRYING and "Retry 1 of 2" in mailbox.last_error
    assert SyncRun.objects.get().status == RunStatus.RETRYING

    outcome = run(mailbox, engine, retry=2, max_retries=2)  # the last retry failed too
    assert outcome.status == "failed"
    mailbox.refresh_from_db()
    assert mailbox.status == MailboxStatus.FAILING
    assert mailbox.failure_count == 1
    assert mailbox.next_attempt_at > timezone.now()
    assert "Could not complete the request" in mailbox.last_error


def test_throttling_waits_at_least_as_long_as_the_server_asks(make_mailbox):
    engine = FakeEngine(fail={"contact": ThrottledError("busy", wait=42.0)})
    with pytest.raises(RetryLater) as retry:
        run(make_mailbox(), engine)
    assert retry.value.countdown >= 42.0
    assert all(retry_countdown(0) <= 7.5 for _ in range(50))  # 5 s base, +-50 % jitter
    assert retry_countdown(10) <= 450


def test_refused_credentials_fail_at_once_and_back_off_grows(make_mailbox):
    mailbox = make_mailbox()
    engine = FakeEngine(fail={"contact": AuthError("401", "UnauthorizedError")})
    waits = []
    for _ in range(3):
        assert run(mailbox, engine).status == "failed"  # no RetryLater: retrying cannot help
        mailbox.refresh_from_db()
        waits.append((mailbox.next_attempt_at - timezone.now()).total_seconds())
    assert mailbox.failure_count == 3
    assert waits[0] < waits[1] < waits[2]
    assert "refused the user name or password" in mailbox.last_error


def test_one_failing_entity_does_not_stop_the_others(make_mailbox):
    mailbox = make_mailbox()
    engine = FakeEngine(fail={"appointment": ValueError("bad recurrence")})
    outcome = run(mailbox, engine)
    assert outcome.status == "failed"
    statuses = dict(SyncRun.objects.values_list("entity", "status"))
    assert statuses == {
        "contact": "succeeded",
        "appointment": "failed",
        "recurring_appointment": "succeeded",
        "service_activity": "succeeded",
        "task": "succeeded",
        "phone_call": "succeeded",
        "letter": "succeeded",
        "fax": "succeeded",
    }
    # The kind of error, not its text (which may quote record values): that is in the log.
    error = SyncRun.objects.get(entity="appointment").error
    assert "ValueError" in error and "bad recurrence" not in error


def test_runs_left_running_by_a_dead_worker_are_marked_abandoned(make_mailbox):
    mailbox = make_mailbox()
    stale = SyncRun.objects.create(
        mailbox=mailbox, entity="contact", trigger="schedule", started_at=timezone.now()
    )
    run(mailbox, FakeEngine())
    stale.refresh_from_db()
    assert stale.status == RunStatus.ABANDONED and "worker stopped" in stale.error


@pytest.fixture
def published(monkeypatch):
    from fieldsync.mailboxes.tasks import sync_mailbox_task

    sent = []
    monkeypatch.setattr(
        sync_mailbox_task, "apply_async", lambda args, kwargs, **kw: sent.append(args[0])
    )
    return sent


def test_the_tick_queues_due_mailboxes_once_and_skips_backing_off_and_disabled(
    make_mailbox, published
):
    due, backing_off, disabled, fixed = (make_mailbox() for _ in range(4))
    now = timezone.now()
    Mailbox.objects.filter(pk=backing_off.pk).update(next_attempt_at=now + timedelta(hours=1))
    Mailbox.objects.filter(pk=fixed.pk).update(next_attempt_at=now - timedelta(seconds=1))
    Mailbox.objects.filter(pk=disabled.pk).update(enabled=False)
    assert schedule_due_mailboxes() == 2
    assert sorted(published) == sorted([due.pk, fixed.pk])
    assert Mailbox.objects.get(pk=due.pk).status == MailboxStatus.QUEUED
    # Still waiting in the queue: the next tick does not queue them again.
    assert schedule_due_mailboxes() == 0
    # A queue entry that waited several intervals is presumed lost and replaced.
    Mailbox.objects.filter(pk=due.pk).update(queued_at=now - timedelta(hours=2))
    assert schedule_due_mailboxes() == 1


def test_sync_now_is_queued_only_after_the_transaction_commits(
    make_mailbox, django_capture_on_commit_callbacks, monkeypatch
):
    from fieldsync.mailboxes.services import mailbox_sync_request
    from fieldsync.mailboxes.tasks import sync_mailbox_task

    sent = []
    monkeypatch.setattr(sync_mailbox_task, "delay", lambda *a, **kw: sent.append((a, kw)))
    mailbox = make_mailbox()
    with django_capture_on_commit_callbacks(execute=True):
        mailbox_sync_request(mailbox=mailbox, trigger="manual")
        assert sent == []
    assert sent == [((mailbox.pk,), {"trigger": "manual"})]
    assert Mailbox.objects.get(pk=mailbox.pk).status == MailboxStatus.QUEUED


def test_a_long_run_shows_its_progress_while_it_runs(make_mailbox, client):
    from django.urls import reverse

    mailbox = make_mailbox(sync_appointments=False, sync_tasks=False)
    seen = []

    def engine(*, owner, connector, entities=None, dry_run=False, progress=None):
        # A first sync of a large mailbox: the page shows records done of records planned.
        progress(entities[0], 1200, 5000)
        client.force_login(mailbox.owner)
        seen.append(
            client.get(reverse("fieldsync:sync_mailbox", args=[mailbox.pk])).content.decode()
        )
        progress(entities[0], 5000, 5000)
        return {"exchange_created": 5000}

    outcome = run(mailbox, engine, trigger="manual")
    assert outcome.status == "succeeded"
    assert '<progress class="run-progress" max="5000" value="1200"' in seen[0]
    assert "1200 of 5000 records" in seen[0]
    finished = mailbox.runs.get()
    assert (finished.items_done, finished.items_planned) == (5000, 5000)


def test_what_a_run_left_alone_on_purpose_is_in_its_history_in_words(make_mailbox, admin_client):
    from types import SimpleNamespace

    words = (
        "Not brought into the CRM: 1 item made in Outlook. Service activities go from the CRM "
        "to Outlook only."
    )

    def engine(*, owner, connector, entities=None, dry_run=False):
        (entity,) = entities
        notes = [words] if entity == "service_activity" else []
        done = SimpleNamespace(notes=notes, guard="", failed=[], counts={})
        return SimpleNamespace(entities={entity: done}, count=lambda: {"crm_updated": 0})

    mailbox = make_mailbox(sync_tasks=False)
    assert run(mailbox, engine).status == "succeeded"  # a note is not a failure
    noted = SyncRun.objects.get(mailbox=mailbox, entity="service_activity")
    assert (noted.status, noted.note, noted.error) == ("succeeded", words, "")
    assert SyncRun.objects.exclude(pk=noted.pk).filter(note="").count() == 3
    api = admin_client.get(f"/api/v1/sync-runs/{noted.pk}/").json()
    assert api["note"] == words
    page = admin_client.get(f"/sync/mailboxes/{mailbox.pk}/").content.decode()
    assert "Service activities go from the CRM to Outlook only." in page
