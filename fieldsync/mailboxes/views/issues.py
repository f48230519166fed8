"""The pages of conflicts and rejected changes: the values that lost or were refused, filtered,
and applying a losing value (one or several, after a confirmation).
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fieldsync.mailboxes.conflicts import (
    conflict_apply_losing_value,
    conflicts_visible_to,
    crm_value_after,
    current_value,
    issues_described,
    issues_filtered,
    losing_side,
    losing_value,
    rejected_changes_visible_to,
    withhold_values,
)
from fieldsync.mailboxes.forms import (
    IssueFilterForm,
)
from fieldsync.mailboxes.services import (
    mailboxes_visible_to,
)
from fieldsync.mailboxes.views.common import HISTORY_PAGE_SIZE
from fieldsync.mailboxes.words import field_label


def _issues(request: HttpRequest, rows: Any) -> tuple[IssueFilterForm, Any, str]:
    """The filter form, the filtered rows and the query string (without the page) to keep."""
    form = IssueFilterForm(request.GET or None, mailboxes=mailboxes_visible_to(request.user))
    if form.is_bound and form.is_valid():
        rows = issues_filtered(rows, form.cleaned_data)
    elif form.is_bound:
        rows = rows.none()
    query = request.GET.copy()
    query.pop("page", None)
    return form, rows, query.urlencode()


def _conflict_entries(rows: list, viewer: Any) -> list[dict[str, Any]]:
    entries = issues_described(rows, viewer)
    for e in entries:
        c = e["row"]
        # The field's value now, when the viewer may read it: applying replaces it (the
        # confirmation sends it back, so a value changed since is refused, not overwritten).
        shown, now = current_value(c, viewer) if c.resolved_on is None else (False, None)
        e["has_current"], e["current"] = shown, now
        e["current_json"] = json.dumps(now, cls=DjangoJSONEncoder) if shown else ""
        e["changed"] = shown and now != crm_value_after(c)
        side = losing_side(c)
        e["c"] = c
        e["losing_side"] = "Exchange/Outlook" if side == "exchange" else "CRM"
        e["losing_value"] = losing_value(c)
        e["winning_value"] = c.crm_value if side == "exchange" else c.exchange_value
    return entries


@login_required
@require_GET
def conflicts(request: HttpRequest) -> HttpResponse:
    """Values that lost a conflict, newest first, filtered; each can still be applied, one at a
    time or several at once (after a confirmation)."""
    show = request.GET.get("show", "open")
    rows = conflicts_visible_to(request.user)
    if show == "open":
        rows = rows.filter(resolved_on__isnull=True)
    form, rows, query = _issues(request, rows)
    page = Paginator(rows, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = withhold_values(page.object_list, request.user)
    return render(
        request,
        "fieldsync/sync_conflicts.html",
        {
            "nav": "sync",
            "page": page,
            "entries": _conflict_entries(list(page.object_list), request.user),
            "show": show,
            "form": form,
            "query": query,
        },
    )


def _apply(request: HttpRequest, chosen: list) -> HttpResponse:
    applied, failed = 0, []
    for conflict in chosen:
        seen: dict[str, Any] = {}
        raw = request.POST.get(f"current-{conflict.pk}") or request.POST.get("current")
        if raw:
            try:
                seen["current"] = json.loads(raw)
            except ValueError:
                failed.append(f"{field_label(conflict.field, conflict.entity)}: unreadable value")
                continue
        try:
            conflict_apply_losing_value(conflict=conflict, actor=request.user, **seen)
        except (ValidationError, PermissionDenied) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            failed.append(f"{field_label(conflict.field, conflict.entity)}: {text}")
        else:
            applied += 1
    if applied == 1 and len(chosen) == 1:
        label = field_label(chosen[0].field, chosen[0].entity)
        messages.success(
            request,
            f"Applied the losing value of {label}; the mailbox syncs it to Exchange now.",
        )
    elif applied:
        messages.success(
            request,
            f"Applied {applied} losing values; the mailboxes sync them to Exchange now.",
        )
    for text in failed:
        messages.error(request, f"Not applied: {text}")
    if back := _local_path(request.POST.get("next", "")):
        return redirect(back)
    return redirect("fieldsync:sync_conflicts")


def _local_path(value: str) -> str:
    """A path on this site to come back to, or "" (never another site, never a script)."""
    return value if value.startswith("/") and not value.startswith("//") else ""


def _confirm(request: HttpRequest, chosen: list, status: int = 200) -> HttpResponse:
    # The values about to be written, as on the conflicts page: only those the viewer may read.
    chosen = withhold_values(chosen, request.user)
    return render(
        request,
        "fieldsync/sync_conflicts_confirm.html",
        {
            "nav": "sync",
            "entries": _conflict_entries(chosen, request.user),
            "next": _local_path(request.POST.get("next") or request.GET.get("next") or ""),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def conflict_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what applying this losing value changes, and a button to confirm. POST: apply."""
    conflict = get_object_or_404(conflicts_visible_to(request.user), pk=pk)
    if request.method == "GET":
        return _confirm(request, [conflict])
    return _apply(request, [conflict])


@login_required
@require_POST
def conflicts_apply(request: HttpRequest) -> HttpResponse:
    """Several conflicts at once: the first post (the ticked rows) asks for a confirmation,
    the second (confirm=yes) applies them."""
    ids = [i for i in request.POST.getlist("ids") if i.isdigit()]
    chosen = list(conflicts_visible_to(request.user).filter(pk__in=ids, resolved_on__isnull=True))
    if not chosen:
        messages.error(request, "Nothing applied: tick the conflicts to apply first.")
        return redirect("fieldsync:sync_conflicts")
    if request.POST.get("confirm") != "yes":
        return _confirm(request, chosen)
    return _apply(request, chosen)


@login_required
@require_GET
def rejected_changes(request: HttpRequest) -> HttpResponse:
    """Exchange values the mailbox owner was not allowed to write into the CRM, filtered."""
    form, rows, query = _issues(request, rejected_changes_visible_to(request.user))
    page = Paginator(rows, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = withhold_values(page.object_list, request.user)
    return render(
        request,
        "fieldsync/sync_rejected.html",
        {
            "nav": "sync",
            "page": page,
            "entries": issues_described(list(page.object_list), request.user),
            "form": form,
            "query": query,
        },
    )
