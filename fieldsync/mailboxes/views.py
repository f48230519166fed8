"""Pages of the server-side sync: the dashboard, mailboxes (Sync now, Test connection, the
preview), email server profiles, and the run history. Users see their own mailbox, admins all;
a mailbox you may not see answers 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from fieldsync.mailboxes.charts import runs_chart
from fieldsync.mailboxes.conflicts import (
    conflict_apply_losing_value,
    conflicts_visible_to,
    losing_side,
    losing_value,
    rejected_changes_visible_to,
)
from fieldsync.mailboxes.connection import (
    fields_not_held,
    mailbox_test_connection,
    not_held_reason,
)
from fieldsync.mailboxes.forms import HistoryFilterForm, MailboxForm, ServerProfileForm
from fieldsync.mailboxes.preview import mailbox_preview
from fieldsync.mailboxes.selectors import BUSY, dashboard_mailboxes, recent_attempts
from fieldsync.mailboxes.services import (
    can_manage_mailboxes,
    mailbox_create,
    mailbox_guard_confirm,
    mailbox_guard_stops,
    mailbox_sync_request,
    mailbox_update,
    mailboxes_visible_to,
    runs_visible_to,
    server_profile_create,
    server_profile_update,
)
from fieldsync.models.mailboxes import EmailServerProfile, Mailbox, RunTrigger

HISTORY_PAGE_SIZE = 50
REFRESH_SECONDS = 5


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "fieldsync/forbidden.html", {"nav": "sync"}, status=403)


def _visible_mailbox(request: HttpRequest, pk: int) -> Mailbox:
    try:
        return mailboxes_visible_to(request.user).get(pk=pk)
    except Mailbox.DoesNotExist:
        raise Http404("No such mailbox.") from None


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Mailboxes with status, last success, backlog and error; runs over time."""
    mailboxes = list(dashboard_mailboxes(request.user))
    attempts = recent_attempts(request.user)
    busy = any(m.status in BUSY for m in mailboxes)
    return render(
        request,
        "fieldsync/sync_dashboard.html",
        {
            "nav": "sync",
            "mailboxes": mailboxes,
            "attempts": attempts,
            "chart": runs_chart(attempts),
            "busy": busy,
            "refresh": REFRESH_SECONDS if busy else None,
            "can_manage": can_manage_mailboxes(request.user),
        },
    )


@login_required
@require_GET
def mailbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = _visible_mailbox(request, pk)
    runs = runs_visible_to(request.user).filter(mailbox=mailbox)[:30]
    attempts = recent_attempts(request.user, mailbox=mailbox)
    busy = mailbox.status in BUSY
    return render(
        request,
        "fieldsync/sync_mailbox.html",
        {
            "nav": "sync",
            "mailbox": mailbox,
            "runs": runs,
            "chart": runs_chart(attempts),
            "not_held": fields_not_held(kind=mailbox.server_profile.kind),
            "not_held_reason": not_held_reason(mailbox.server_profile.kind),
            "guard_stops": mailbox_guard_stops(mailbox=mailbox),
            "busy": busy,
            "refresh": REFRESH_SECONDS if busy else None,
            "can_manage": can_manage_mailboxes(request.user),
        },
    )


@login_required
@require_POST
def mailbox_sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = _visible_mailbox(request, pk)
    mailbox_sync_request(mailbox=mailbox, trigger=RunTrigger.MANUAL)
    messages.success(request, f"Sync of {mailbox} queued. This page refreshes until it is done.")
    return redirect("fieldsync:sync_mailbox", mailbox.pk)


@login_required
@require_POST
def mailbox_guard_confirm_view(request: HttpRequest, pk: int) -> HttpResponse:
    """An administrator confirms a run the mass-change guard stopped; a sync is queued."""
    mailbox = _visible_mailbox(request, pk)
    entity = request.POST.get("entity", "")
    try:
        mailbox_guard_confirm(mailbox=mailbox, entity=entity, actor=request.user)
    except PermissionDenied:
        return _forbidden(request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("fieldsync:sync_mailbox", mailbox.pk)
    messages.success(request, f"Confirmed: the {entity} sync of {mailbox} goes ahead now.")
    return redirect("fieldsync:sync_mailbox", mailbox.pk)


@login_required
@require_POST
def mailbox_test(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = _visible_mailbox(request, pk)
    check = mailbox_test_connection(mailbox=mailbox)
    if check.ok:
        messages.success(request, f"Test connection: {check.message}")
    else:
        messages.error(request, f"Test connection failed: {check.message}")
    return redirect("fieldsync:sync_mailbox", mailbox.pk)


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_preview_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Test your configuration before deploying: what a sync would change, and how long."""
    mailbox = _visible_mailbox(request, pk)
    preview = mailbox_preview(mailbox=mailbox) if request.method == "POST" else None
    return render(
        request,
        "fieldsync/sync_preview.html",
        {"nav": "sync", "mailbox": mailbox, "preview": preview},
    )


def _form_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if not can_manage_mailboxes(request.user):
        return _forbidden(request)
    mailbox = get_object_or_404(Mailbox, pk=pk) if pk else None
    initial = {}
    if mailbox is not None:
        initial = {
            f: getattr(mailbox, f)
            for f in (
                "owner",
                "email_address",
                "server_profile",
                "username",
                "sync_contacts",
                "sync_appointments",
                "sync_tasks",
                "enabled",
            )
        }
    form = MailboxForm(request.POST or None, initial=initial, mailbox=mailbox)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        password = data.pop("password")
        owner = data.pop("owner")
        try:
            if mailbox is None:
                mailbox = mailbox_create(owner=owner, password=password, **data)
                messages.success(request, f"Mailbox {mailbox} added.")
            else:
                mailbox = mailbox_update(mailbox=mailbox, password=password, **data)
                messages.success(request, f"Mailbox {mailbox} saved.")
            return redirect("fieldsync:sync_mailbox", mailbox.pk)
        except ValidationError as exc:
            _form_errors(form, exc)
    return render(
        request,
        "fieldsync/sync_form.html",
        {
            "nav": "sync",
            "form": form,
            "title": f"Edit {mailbox}" if mailbox else "Add a mailbox",
            "has_password": bool(mailbox and mailbox.has_password),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def profiles(request: HttpRequest) -> HttpResponse:
    if not can_manage_mailboxes(request.user):
        return _forbidden(request)
    rows = EmailServerProfile.objects.all()
    return render(request, "fieldsync/sync_profiles.html", {"nav": "sync", "profiles": rows})


@login_required
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if not can_manage_mailboxes(request.user):
        return _forbidden(request)
    profile = get_object_or_404(EmailServerProfile, pk=pk) if pk else None
    initial = {}
    if profile is not None:
        initial = {
            f: getattr(profile, f)
            for f in (
                "name",
                "kind",
                "ews_url",
                "auth_type",
                "use_impersonation",
                "service_username",
                "timezone",
                "max_wait",
                "tenant_id",
                "client_id",
                "certificate_thumbprint",
                "graph_url",
                "token_url",
                "past_days",
                "future_days",
            )
        }
    form = ServerProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        password = data.pop("service_password")
        data["certificate_key"] = data["certificate_key"].strip()
        for window in ("past_days", "future_days"):
            if data[window] is None:  # left empty: the default window
                data.pop(window)
        try:
            if profile is None:
                data["timezone_name"] = data.pop("timezone")
                profile = server_profile_create(service_password=password, **data)
            else:
                profile = server_profile_update(profile=profile, service_password=password, **data)
            messages.success(request, f"Email server profile {profile} saved.")
            return redirect("fieldsync:sync_profiles")
        except ValidationError as exc:
            _form_errors(form, exc)
    return render(
        request,
        "fieldsync/sync_form.html",
        {
            "nav": "sync",
            "form": form,
            "title": f"Edit {profile}" if profile else "Add an email server profile",
            "has_password": bool(profile and profile.has_service_password),
            "has_client_secret": bool(profile and profile.has_client_secret),
            "has_certificate": bool(profile and profile.has_certificate),
        },
        status=400 if form.errors else 200,
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


@login_required
@require_GET
def conflicts(request: HttpRequest) -> HttpResponse:
    """Values that lost a conflict, newest first; each can still be applied."""
    show = request.GET.get("show", "open")
    rows = conflicts_visible_to(request.user)
    if show == "open":
        rows = rows.filter(resolved_on__isnull=True)
    page = Paginator(rows, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    entries = [
        {
            "c": c,
            "losing_side": "Exchange" if losing_side(c) == "exchange" else "CRM",
            "losing_value": losing_value(c),
            "winning_value": c.crm_value if losing_side(c) == "exchange" else c.exchange_value,
        }
        for c in page.object_list
    ]
    return render(
        request,
        "fieldsync/sync_conflicts.html",
        {"nav": "sync", "page": page, "entries": entries, "show": show},
    )


@login_required
@require_POST
def conflict_apply(request: HttpRequest, pk: int) -> HttpResponse:
    conflict = get_object_or_404(conflicts_visible_to(request.user), pk=pk)
    try:
        conflict_apply_losing_value(conflict=conflict, actor=request.user)
    except (ValidationError, PermissionDenied) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, f"Not applied: {text}")
    else:
        messages.success(
            request,
            f"Applied the losing value of {conflict.entity}.{conflict.field}; "
            "the mailbox syncs it to Exchange now.",
        )
    return redirect("fieldsync:sync_conflicts")


@login_required
@require_GET
def rejected_changes(request: HttpRequest) -> HttpResponse:
    """Exchange values the mailbox owner was not allowed to write into the CRM."""
    page = Paginator(rejected_changes_visible_to(request.user), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "fieldsync/sync_rejected.html", {"nav": "sync", "page": page})
