"""Forms of the Synchronized fields pages: one tab's pending directions and the audit filters.

Pending directions travel as hidden inputs, so the page works without JavaScript.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from fieldsync.catalog import get_catalog
from fieldsync.fields.selectors import FieldRow
from fieldsync.models import DirectionChange

# Hidden input holding one field's pending direction: "dir-<crm_field>".
PENDING_PREFIX = "dir-"


def pending_input_name(crm_field: str) -> str:
    return PENDING_PREFIX + crm_field


class PendingDirectionsForm(forms.Form):
    """The state a tab was in when its form was posted: the version it started from and the
    pending direction of each field (as sent: the service judges whether it is allowed)."""

    base_version = forms.IntegerField(min_value=0)
    action = forms.ChoiceField(
        choices=[("save", "OK"), ("reset", "Reset tab to defaults")], required=False
    )
    cycle = forms.CharField(required=False, max_length=80)

    def __init__(self, *args, rows: list[FieldRow], **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.rows = rows
        for row in rows:
            self.fields[pending_input_name(row.field.crm_field)] = forms.CharField(
                required=False, max_length=20
            )

    def clean_cycle(self) -> str:
        crm_field = self.cleaned_data.get("cycle", "")
        if crm_field and crm_field not in {r.field.crm_field for r in self.rows}:
            raise forms.ValidationError(f"This tab has no synchronized field {crm_field!r}.")
        return crm_field

    def pending(self) -> dict[str, str]:
        """crm_field -> the posted direction; a field left out keeps its saved direction."""
        return {
            row.field.crm_field: (
                self.cleaned_data.get(pending_input_name(row.field.crm_field))
                or row.direction.value
            )
            for row in self.rows
        }


def _entity_choices() -> list[tuple[str, str]]:
    return [("", "All record types"), *((e.key, e.label) for e in get_catalog().entities)]


def _field_choices() -> list[tuple[str, str]]:
    labels: dict[str, str] = {}
    for f in get_catalog().all_fields():
        labels.setdefault(f.crm_field, f.crm_label)
    return [("", "All fields"), *sorted(labels.items(), key=lambda kv: kv[1].lower())]


class AuditFilterForm(forms.Form):
    """Filters of the change history; every filter is optional."""

    entity = forms.ChoiceField(required=False, choices=_entity_choices, label="Record type")
    field = forms.ChoiceField(required=False, choices=_field_choices)
    user = forms.ModelChoiceField(
        required=False, queryset=get_user_model().objects.none(), empty_label="All users"
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        # Only people who changed something: the list stays short and every choice finds rows.
        actor_ids = DirectionChange.objects.filter(actor__isnull=False).values("actor_id")
        self.fields["user"].queryset = get_user_model().objects.filter(pk__in=actor_ids)
        self.fields["user"].label_from_instance = lambda u: u.get_full_name() or u.username

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        return data
