"""The pages of the email server profiles (how to reach a server: EWS, Graph or CalDAV and
its service credentials): their list, adding and editing one.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from fieldsync.mailboxes.forms import (
    ServerProfileForm,
)
from fieldsync.mailboxes.services import (
    can_manage_mailboxes,
    server_profile_create,
    server_profile_update,
)
from fieldsync.mailboxes.views.common import forbidden, form_errors
from fieldsync.models.mailboxes import EmailServerProfile


@login_required
@require_GET
def profiles(request: HttpRequest) -> HttpResponse:
    if not can_manage_mailboxes(request.user):
        return forbidden(request)
    rows = EmailServerProfile.objects.all()
    return render(request, "fieldsync/sync_profiles.html", {"nav": "sync", "profiles": rows})


@sensitive_post_parameters("service_password")
@login_required
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if not can_manage_mailboxes(request.user):
        return forbidden(request)
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
            form_errors(form, exc)
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
