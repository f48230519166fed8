"""The pages of one mailbox: its detail, Sync now, Test connection, Verify, the preview, the
mass-change guard's confirmation, and adding or editing a mailbox.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connectors.base import ConnectorError
from fieldsync.mailboxes.charts import runs_chart
from fieldsync.mailboxes.connection import (
    fields_not_held,
    mailbox_discover_collections,
    mailbox_test_connection,
    not_held_reason,
)
from fieldsync.mailboxes.forms import (
    MailboxForm,
)
from fieldsync.mailboxes.preview import mailbox_preview
from fieldsync.mailboxes.selectors import (
    BUSY,
    recent_attempts,
)
from fieldsync.mailboxes.services import (
    can_manage_mailboxes,
    mailbox_create,
    mailbox_guard_confirm,
    mailbox_guard_stops,
    mailbox_sync_request,
    mailbox_update,
    runs_visible_to,
)
from fieldsync.mailboxes.verify import latest_reports, mailbox_verify
from fieldsync.mailboxes.views.common import (
    REFRESH_SECONDS,
    forbidden,
    form_errors,
    visible_mailbox,
)
from fieldsync.models.mailboxes import Mailbox, MailboxStatus, RunTrigger


@login_required
@require_GET
def mailbox_detail(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = visible_mailbox(request, pk)
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
    mailbox = visible_mailbox(request, pk)
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
    mailbox = visible_mailbox(request, pk)
    entity = request.POST.get("entity", "")
    try:
        mailbox_guard_confirm(mailbox=mailbox, entity=entity, actor=request.user)
    except PermissionDenied:
        return forbidden(request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("fieldsync:sync_mailbox", mailbox.pk)
    messages.success(request, f"Confirmed: the {entity} sync of {mailbox} goes ahead now.")
    return redirect("fieldsync:sync_mailbox", mailbox.pk)


@login_required
@require_POST
def mailbox_test(request: HttpRequest, pk: int) -> HttpResponse:
    mailbox = visible_mailbox(request, pk)
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
    mailbox = visible_mailbox(request, pk)
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
    mailbox = visible_mailbox(request, pk)
    preview = (
        mailbox_preview(mailbox=mailbox, viewer=request.user) if request.method == "POST" else None
    )
    return render(
        request,
        "fieldsync/sync_preview.html",
        {"nav": "sync", "mailbox": mailbox, "preview": preview},
    )


@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "POST"])
def mailbox_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if not can_manage_mailboxes(request.user):
        return forbidden(request)
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
            form_errors(form, exc)
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
