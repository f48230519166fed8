"""The organization's sync policy as people change it: read the settings, save changes with an
audit row per changed setting, and label values for the pages and the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from fieldsync.models.policy import SyncPolicyChange
from fieldsync.models.sync import SyncFilter, SyncPolicy
from security import policy


@dataclass(frozen=True)
class Setting:
    name: str
    label: str


# The editable settings, in the order the page and the API show them.
SETTINGS: tuple[Setting, ...] = (
    Setting("conflict_policy", "Conflict policy"),
    Setting("remote_delete_policy", "When an item is deleted in Outlook"),
    Setting("keep_copy_on_lost_access", "Keep the Outlook copy when access is lost"),
    Setting("tracked_category", "Tracked category"),
    Setting("mass_change_percent", "Mass-change threshold"),
    Setting("mass_change_min_items", "Mass-change guard: smallest mailbox"),
    Setting("contact_filter", "Sync filter: contacts"),
    Setting("appointment_filter", "Sync filter: appointments and service activities"),
    Setting("task_filter", "Sync filter: tasks, phone calls, letters and faxes"),
)
NAMES: tuple[str, ...] = tuple(s.name for s in SETTINGS)
LABELS: dict[str, str] = {s.name: s.label for s in SETTINGS}
CONFLICT_LABELS = {
    "crm_wins": "The CRM wins",
    "exchange_wins": "Exchange/Outlook wins",
    "latest_wins": "The later edit wins (a tie: the CRM)",
}


def sync_policy_get() -> SyncPolicy:
    return SyncPolicy.current()


def display_value(setting: str, value: Any) -> str:
    """A value as a person reads it: a choice's label, Yes/No, a percentage."""
    text = str(value)
    if setting == "conflict_policy":
        return CONFLICT_LABELS.get(text, text)
    if setting == "remote_delete_policy":
        choices = dict(SyncPolicy._meta.get_field(setting).choices)  # type: ignore[arg-type]
        return str(choices.get(text, text))
    if setting.endswith("_filter"):
        return str(dict(SyncFilter.choices).get(text, text))
    if setting == "keep_copy_on_lost_access":
        return {"True": "Yes: keep it, unsynced", "False": "No: remove it"}.get(text, text)
    if setting == "mass_change_percent":
        return f"{text} %"
    if setting == "mass_change_min_items":
        return f"{text} items"
    return text


def sync_policy_update(
    *,
    changes: Mapping[str, Any],
    actor: Any,
    source: str = SyncPolicyChange.Source.WEB,
) -> list[SyncPolicyChange]:
    """Save the changed settings and audit each one; nothing is saved unless all are valid.

    Raises PermissionDenied without the settings-write privilege, and ValidationError (keyed
    by setting) for an unknown setting or a value the policy refuses."""
    if actor is not None and not policy.can_change_sync_settings(actor):
        raise PermissionDenied("Changing the sync policy takes the settings-write privilege.")
    unknown = sorted(set(changes) - set(NAMES))
    if unknown:
        raise ValidationError(
            {n: [f"Unknown setting {n!r} (settings: {', '.join(NAMES)})."] for n in unknown}
        )
    with transaction.atomic():
        SyncPolicy.current()
        row = SyncPolicy.objects.select_for_update().get(pk=1)
        before = {n: getattr(row, n) for n in changes}
        for name, value in changes.items():
            setattr(row, name, value)
        row.full_clean()
        changed = [n for n in NAMES if n in changes and getattr(row, n) != before[n]]
        if not changed:
            return []
        row.save(update_fields=[*changed, "updated_on"])
        return SyncPolicyChange.objects.bulk_create(
            SyncPolicyChange(
                actor=actor,
                setting=n,
                old_value=str(before[n]),
                new_value=str(getattr(row, n)),
                source=source,
            )
            for n in changed
        )


def sync_policy_changes(limit: int | None = None) -> Any:
    qs = SyncPolicyChange.objects.select_related("actor")
    return qs[:limit] if limit else qs
