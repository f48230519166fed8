"""Filters of the settings audit log: by entity, field, user, source and time."""

from __future__ import annotations

import django_filters as filters

from fieldsync.catalog import get_catalog
from fieldsync.models import DirectionChange
from syncadmin.api import UtcIsoDateTimeFilter


def _entity_choices() -> list[tuple[str, str]]:
    return [(e.key, e.label) for e in get_catalog().entities]


class DirectionChangeFilterSet(filters.FilterSet):
    entity = filters.ChoiceFilter(choices=_entity_choices)
    field = filters.CharFilter(field_name="crm_field", max_length=80)
    user = filters.CharFilter(
        field_name="actor__username", max_length=150, help_text="Username of who changed it."
    )
    source = filters.ChoiceFilter(choices=DirectionChange.Source.choices)
    since = UtcIsoDateTimeFilter(
        field_name="changed_on", lookup_expr="gte", help_text="Changes at or after (ISO 8601)."
    )
    until = UtcIsoDateTimeFilter(
        field_name="changed_on", lookup_expr="lt", help_text="Changes before (ISO 8601)."
    )

    class Meta:
        model = DirectionChange
        fields = ["entity", "field", "user", "source", "since", "until"]
