"""The pages that answer "is all well?": the dashboard (totals, each mailbox, runs over time)
and the run history, both reloading themselves while a sync runs.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from fieldsync.mailboxes.charts import runs_chart
from fieldsync.mailboxes.forms import (
    HistoryFilterForm,
)
from fieldsync.mailboxes.selectors import (
    BUSY,
    dashboard_mailboxes,
    dashboard_totals,
    next_scheduled,
    open_issues_by_owner,
    recent_attempts,
)
from fieldsync.mailboxes.services import (
    can_manage_mailboxes,
    mailboxes_visible_to,
    runs_visible_to,
)
from fieldsync.mailboxes.views.common import (
    HISTORY_PAGE_SIZE,
    IDLE_REFRESH_SECONDS,
    REFRESH_SECONDS,
)


def _duration_text(seconds: float) -> str:
    """300 -> "5 minutes", 30 -> "30 seconds", 3600 -> "1 hour"."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Is all well? Totals (OK, failing, backing off), each mailbox's state, next scheduled
    run, backlog, open conflicts and rejected changes, error; runs over time. The page reloads
    itself: every few seconds while a sync is queued or running, else every minute, so the
    scheduled rounds show up without anyone pressing reload."""
    now = timezone.now()
    mailboxes = list(dashboard_mailboxes(request.user))
    issues = open_issues_by_owner({m.owner_id for m in mailboxes})
    every = float(settings.SYNCADMIN_SYNC_INTERVAL)
    for m in mailboxes:
        m.next_run = next_scheduled(m, now=now, every=every)
        m.open_conflicts = issues[m.owner_id]["conflicts"]
        m.rejected_changes = issues[m.owner_id]["rejected"]
    attempts = recent_attempts(request.user)
    busy = any(m.status in BUSY for m in mailboxes)
    return render(
        request,
        "fieldsync/sync_dashboard.html",
        {
            "nav": "sync",
            "mailboxes": mailboxes,
            "totals": dashboard_totals(mailboxes, now=now),
            "interval_text": _duration_text(every),
            "attempts": attempts,
            "chart": runs_chart(attempts),
            "busy": busy,
            "refresh": REFRESH_SECONDS if busy else IDLE_REFRESH_SECONDS,
            "can_manage": can_manage_mailboxes(request.user),
        },
    )


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """Every run per mailbox and entity, newest first, with counts and errors."""
    visible = mailboxes_visible_to(request.user)
    form = HistoryFilterForm(request.GET or None, mailboxes=visible)
    runs = runs_visible_to(request.user)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["mailbox"]:
            runs = runs.filter(mailbox=data["mailbox"])
        if data["entity"]:
            runs = runs.filter(entity=data["entity"])
        if data["status"]:
            runs = runs.filter(status=data["status"])
    page = Paginator(runs, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    busy = any(r.status == "running" for r in page.object_list)
    return render(
        request,
        "fieldsync/sync_history.html",
        {
            "nav": "sync",
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "refresh": REFRESH_SECONDS if busy else None,
        },
    )
