"""Settings > Email configuration > Synchronization > Sync policy: the organization's sync
settings, editable with the settings-write privilege and read-only with the read one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from fieldsync.models.policy import SyncPolicyChange
from fieldsync.policy.forms import SyncPolicyForm
from fieldsync.policy.services import (
    LABELS,
    SETTINGS,
    display_value,
    sync_policy_changes,
    sync_policy_get,
    sync_policy_update,
)
from security import policy

HISTORY_SIZE = 50


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "fieldsync/forbidden.html", {"nav": "settings"}, status=403)


def _history() -> list[dict]:
    return [
        {
            "change": c,
            "who": (c.actor.get_full_name() or c.actor.username) if c.actor else "System",
            "setting": LABELS.get(c.setting, c.setting),
            "old": display_value(c.setting, c.old_value),
            "new": display_value(c.setting, c.new_value),
        }
        for c in sync_policy_changes(HISTORY_SIZE)
    ]


def _render(
    request: HttpRequest, form: SyncPolicyForm | None, *, status: int = 200
) -> HttpResponse:
    row = sync_policy_get()
    can_change = form is not None
    context = {
        "nav": "settings" if can_change else "options",
        "form": form,
        "can_change": can_change,
        "values": [
            {
                "label": s.label,
                "value": display_value(s.name, getattr(row, s.name)),
                "help": SyncPolicyForm.base_fields[s.name].help_text,
            }
            for s in SETTINGS
        ],
        "updated_on": row.updated_on,
        "history": _history() if can_change else [],
    }
    return render(request, "fieldsync/sync_policy.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def sync_policy(request: HttpRequest) -> HttpResponse:
    """The form for administrators; the same settings, read-only, for users who may view them.
    A POST without the settings-write privilege is refused (403) and changes nothing."""
    can_change = policy.can_change_sync_settings(request.user)
    if request.method == "GET":
        if can_change:
            return _render(request, SyncPolicyForm.for_policy(sync_policy_get()))
        if policy.can_view_sync_settings(request.user):
            return _render(request, None)
        return render(request, "fieldsync/no_view.html", {"nav": "options"}, status=403)

    if not can_change:
        return _forbidden(request)
    form = SyncPolicyForm(request.POST)
    if not form.is_valid():
        return _render(request, form, status=400)
    try:
        changed = sync_policy_update(
            changes=form.cleaned_data, actor=request.user, source=SyncPolicyChange.Source.WEB
        )
    except PermissionDenied:
        return _forbidden(request)
    except ValidationError as exc:
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
        return _render(request, form, status=400)
    if changed:
        names = ", ".join(LABELS[c.setting] for c in changed)
        messages.success(request, f"Saved the sync policy: {names}.")
    else:
        messages.info(request, "Nothing to save: every setting was already as shown.")
    return redirect("fieldsync:sync_policy")
