"""Pages of the server-side sync: the dashboard, mailboxes (Sync now, Test connection, the
preview), email server profiles, and the run history. Users see their own mailbox, admins all;
a mailbox you may not see answers 404.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connectors.base import ConnectorError
from fieldsync.mailboxes.charts import runs_chart
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
from fieldsync.mailboxes.connection import (
    fields_not_held,
    mailbox_discover_collections,
    mailbox_test_connection,
    not_held_reason,
)
from fieldsync.mailboxes.forms import (
    HistoryFilterForm,
    IssueFilterForm,
    MailboxForm,
    ServerProfileForm,
)
from fieldsync.mailboxes.preview import mailbox_preview
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
from fieldsync.mailboxes.verify import latest_reports, mailbox_verify
from fieldsync.mailboxes.words import field_label
from fieldsync.models.mailboxes import EmailServerProfile, Mailbox, MailboxStatus, RunTrigger

HISTORY_PAGE_SIZE = 50
REFRESH_SECONDS = 5
IDLE_REFRESH_SECONDS = 60  # the dashboard, when nothing runs: the next scheduled round shows


def _duration_text(seconds: float) -> str:
    """300 -> "5 minutes", 30 -> "30 seconds", 3600 -> "1 hour"."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} seconds"


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
            "verify_reports": latest_reports(mailbox, request.user),
            "busy": busy,
            "refresh": REFRESH_SECONDS if busy else None,
            "can_manage": can_manage_mailboxes(request.user),
        },
    )


@login_required
@require_POST
def mailbox_sync_now(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = _visible_mailbox(request, pk)
    if mailbox.status in (MailboxStatus.QUEUED, MailboxStatus.SYNCING):
        # A second click (or a second tab) does not run the sync twice.
        messages.info(request, f"A sync of {mailbox} is already queued or running.")
        return redirect("fieldsync:sync_mailbox", mailbox.pk)
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
@require_POST
def mailbox_verify_view(request: HttpRequest, pk: int) -> HttpResponse:
    """*Verify*: compare both sides of the mailbox now; the page shows the report."""
    mailbox = _visible_mailbox(request, pk)
    try:
        reports = mailbox_verify(mailbox=mailbox)
    except ConnectorError as exc:
        messages.error(request, f"Verify failed: {exc}")
        return redirect("fieldsync:sync_mailbox", mailbox.pk)
    drift = sum(r.drift_count for r in reports)
    failed = [r for r in reports if r.error]
    if failed:
        messages.error(request, "Verify could not read the mailbox: " + failed[0].error)
    elif drift:
        messages.error(
            request, f"Verify found {drift} unexplained difference{'s' if drift != 1 else ''}."
        )
    else:
        messages.success(request, "Verify: both sides agree (every difference is explained).")
    return redirect("fieldsync:sync_mailbox", mailbox.pk)


@login_required
@require_http_methods(["GET", "POST"])
def mailbox_preview_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Test your configuration before deploying: what a sync would change, and how long."""
    mailbox = _visible_mailbox(request, pk)
    preview = (
        mailbox_preview(mailbox=mailbox, viewer=request.user) if request.method == "POST" else None
    )
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


@sensitive_post_parameters("password")
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
                "contacts_collection",
                "events_collection",
                "tasks_collection",
            )
        }
    discovered = None
    if request.method == "GET" and mailbox is not None and request.GET.get("discover"):
        # Discover collections: what the server has fills the collection choices.
        discovered = mailbox_discover_collections(mailbox=mailbox)
        if not discovered.ok:
            messages.error(request, f"Discover collections failed: {discovered.message}")
    form = MailboxForm(
        request.POST or None, initial=initial, mailbox=mailbox, discovered=discovered
    )
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
            "discovered": discovered if discovered and discovered.ok else None,
            "discover_mailbox": mailbox if mailbox and mailbox.server_profile.is_dav else None,
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


@sensitive_post_parameters("service_password")
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
                "ca_certificates",
                "tenant_id",
                "client_id",
                "certificate_thumbprint",
                "graph_url",
                "token_url",
                "past_days",
                "future_days",
            )
        }
        initial["verify_tls"] = "on" if profile.verify_tls else "off"
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
