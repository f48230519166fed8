"""The Sync policy page's form: the organization's sync settings with the help texts and the
validation messages an administrator sees (the model checks the same rules again on save)."""

from __future__ import annotations

from django import forms

from fieldsync.models.sync import MASS_CHANGE_PERCENT_MESSAGE, TRACKED_CATEGORY_MESSAGE, SyncPolicy
from fieldsync.policy.services import CONFLICT_LABELS, LABELS, NAMES


def _help(name: str) -> str:
    return str(SyncPolicy._meta.get_field(name).help_text)


def _choices(name: str) -> list[tuple[str, str]]:
    return [(str(v), str(label)) for v, label in SyncPolicy._meta.get_field(name).choices]  # type: ignore[union-attr]


_FILTER_HELP = (
    "Which {what} a user's mailbox syncs, among the records the user may read. The default is "
    "the user's own {own}."
)


class SyncPolicyForm(forms.Form):
    conflict_policy = forms.ChoiceField(
        label=LABELS["conflict_policy"],
        choices=list(CONFLICT_LABELS.items()),
        widget=forms.RadioSelect,
        help_text=_help("conflict_policy")
        + " “The later edit wins” compares when the CRM record and the Outlook item were last "
        "changed.",
    )
    remote_delete_policy = forms.ChoiceField(
        label=LABELS["remote_delete_policy"],
        choices=_choices("remote_delete_policy"),
        widget=forms.RadioSelect,
        help_text=_help("remote_delete_policy"),
    )
    keep_copy_on_lost_access = forms.BooleanField(
        label=LABELS["keep_copy_on_lost_access"],
        required=False,
        help_text=_help("keep_copy_on_lost_access"),
    )
    tracked_category = forms.CharField(
        label=LABELS["tracked_category"],
        max_length=100,
        help_text=_help("tracked_category"),
        error_messages={"required": TRACKED_CATEGORY_MESSAGE},
    )
    mass_change_percent = forms.IntegerField(
        label=LABELS["mass_change_percent"] + " (%)",
        min_value=1,
        max_value=100,
        help_text=_help("mass_change_percent"),
        error_messages={
            "required": MASS_CHANGE_PERCENT_MESSAGE,
            "invalid": MASS_CHANGE_PERCENT_MESSAGE,
            "min_value": MASS_CHANGE_PERCENT_MESSAGE,
            "max_value": MASS_CHANGE_PERCENT_MESSAGE,
        },
    )
    mass_change_min_items = forms.IntegerField(
        label=LABELS["mass_change_min_items"],
        min_value=1,
        help_text=_help("mass_change_min_items"),
        error_messages={
            "required": "Enter how many items a mailbox needs for the guard to apply (1 or more).",
            "invalid": "Enter how many items a mailbox needs for the guard to apply (1 or more).",
            "min_value": "The guard needs at least 1 item to apply.",
        },
    )
    contact_filter = forms.ChoiceField(
        label=LABELS["contact_filter"],
        choices=_choices("contact_filter"),
        help_text=_FILTER_HELP.format(what="contacts", own="contacts"),
    )
    appointment_filter = forms.ChoiceField(
        label=LABELS["appointment_filter"],
        choices=_choices("appointment_filter"),
        help_text=_FILTER_HELP.format(
            what="appointments", own="appointments: those the user organizes or attends"
        ),
    )
    task_filter = forms.ChoiceField(
        label=LABELS["task_filter"],
        choices=_choices("task_filter"),
        help_text=_FILTER_HELP.format(what="tasks", own="tasks"),
    )

    @classmethod
    def for_policy(cls, row: SyncPolicy) -> SyncPolicyForm:
        return cls(initial={n: getattr(row, n) for n in NAMES})

    def clean_tracked_category(self) -> str:
        value = self.cleaned_data["tracked_category"].strip()
        if not value:
            raise forms.ValidationError(TRACKED_CATEGORY_MESSAGE)
        return value
