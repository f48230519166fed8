"""Serializers of GET/PATCH /api/v1/sync-policy/ and its change log: the same settings and the
same validation messages as the Sync policy page."""

from __future__ import annotations

from rest_framework import serializers

from fieldsync.models.policy import SyncPolicyChange
from fieldsync.models.sync import MASS_CHANGE_PERCENT_MESSAGE, TRACKED_CATEGORY_MESSAGE, SyncPolicy
from fieldsync.policy.services import CONFLICT_LABELS, LABELS

_FILTERS = [str(v) for v, _ in SyncPolicy._meta.get_field("contact_filter").choices]  # type: ignore[union-attr]
_DELETES = [str(v) for v, _ in SyncPolicy._meta.get_field("remote_delete_policy").choices]  # type: ignore[union-attr]
_MIN_ITEMS = "The guard needs at least 1 item to apply."


def _choice(name: str, choices: list[str], what: str) -> serializers.ChoiceField:
    allowed = ", ".join(choices)
    return serializers.ChoiceField(
        choices=choices,
        help_text=f"{LABELS[name]}: {allowed}.",
        error_messages={"invalid_choice": f"'{{input}}' is not a {what} (valid: {allowed})."},
    )


class SyncPolicySerializer(serializers.Serializer):
    """The organization's sync policy. PATCH any subset; the rest stays as it is."""

    conflict_policy = _choice("conflict_policy", list(CONFLICT_LABELS), "conflict policy")
    remote_delete_policy = _choice("remote_delete_policy", _DELETES, "delete policy")
    keep_copy_on_lost_access = serializers.BooleanField(
        help_text="Keep the Outlook copy, unsynced, when a user loses access to a record."
    )
    tracked_category = serializers.CharField(
        max_length=100,
        help_text="The Outlook category that makes an item created in Outlook enter the CRM.",
        error_messages={"blank": TRACKED_CATEGORY_MESSAGE},
    )
    mass_change_percent = serializers.IntegerField(
        min_value=1,
        max_value=100,
        help_text="The mass-change guard's threshold, in percent of a mailbox's synced items.",
        error_messages={
            "invalid": MASS_CHANGE_PERCENT_MESSAGE,
            "min_value": MASS_CHANGE_PERCENT_MESSAGE,
            "max_value": MASS_CHANGE_PERCENT_MESSAGE,
            "max_string_length": MASS_CHANGE_PERCENT_MESSAGE,
        },
    )
    mass_change_min_items = serializers.IntegerField(
        min_value=1,
        max_value=2_000_000_000,
        help_text="The guard applies to mailboxes with at least this many items.",
        error_messages={"min_value": _MIN_ITEMS},
    )
    contact_filter = _choice("contact_filter", _FILTERS, "sync filter")
    appointment_filter = _choice("appointment_filter", _FILTERS, "sync filter")
    task_filter = _choice("task_filter", _FILTERS, "sync filter")
    updated_on = serializers.DateTimeField(read_only=True)


class SyncPolicyChangeSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = SyncPolicyChange
        fields = ["id", "changed_on", "actor", "setting", "old_value", "new_value", "source"]
