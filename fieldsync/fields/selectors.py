"""Reads of the field-sync settings, shaped for pages, the API and the engine."""

from __future__ import annotations

from dataclasses import dataclass

from fieldsync.catalog import CatalogField, get_catalog
from fieldsync.directions import Direction
from fieldsync.fields.services import settings_version
from fieldsync.models import FieldMapping


@dataclass(frozen=True)
class FieldRow:
    """One row of the Synchronized fields table: the catalog's facts plus the current choice."""

    field: CatalogField
    direction: Direction

    @property
    def is_default(self) -> bool:
        return self.direction == self.field.default_direction


def entity_field_rows(*, entity: str) -> tuple[int, list[FieldRow]]:
    """(settings version, rows in catalog order) for one entity. Two queries."""
    catalog_entity = get_catalog().entity(entity)
    version = settings_version(entity=entity)
    current = dict(FieldMapping.objects.filter(entity=entity).values_list("crm_field", "direction"))
    rows = [
        FieldRow(field=f, direction=Direction(current.get(f.crm_field, f.default_direction)))
        for f in catalog_entity.fields
    ]
    return version, rows


def directions_for(*, entity: str) -> dict[str, Direction]:
    """crm_field -> current direction, what the sync engine needs. One query."""
    return {
        crm_field: Direction(direction)
        for crm_field, direction in FieldMapping.objects.filter(entity=entity).values_list(
            "crm_field", "direction"
        )
    }


# Appended for the settings pages; imports kept here so the module's head stays as its
# other users know it.
from datetime import date  # noqa: E402

from django.db.models import Count, F, QuerySet  # noqa: E402

from fieldsync.models import DirectionChange  # noqa: E402


def non_default_counts() -> dict[str, int]:
    """entity -> how many of its fields differ from the catalog's default. One query."""
    return dict(
        FieldMapping.objects.exclude(direction=F("default_direction"))
        .values("entity")
        .annotate(n=Count("id"))
        .values_list("entity", "n")
    )


def last_direction_change(*, entity: str) -> DirectionChange | None:
    """The most recent audited change of one entity's directions, or None."""
    return (
        DirectionChange.objects.filter(entity=entity)
        .select_related("actor")
        .order_by("-changed_on", "-id")
        .first()
    )


def direction_changes(
    *,
    entity: str | None = None,
    crm_field: str | None = None,
    actor_id: int | None = None,
    changed_from: date | None = None,
    changed_to: date | None = None,
) -> QuerySet[DirectionChange]:
    """The audit log, newest first, narrowed by any of the filters (dates are whole days,
    inclusive, in the site's time zone)."""
    qs = DirectionChange.objects.select_related("actor").order_by("-changed_on", "-id")
    if entity:
        qs = qs.filter(entity=entity)
    if crm_field:
        qs = qs.filter(crm_field=crm_field)
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if changed_from:
        qs = qs.filter(changed_on__date__gte=changed_from)
    if changed_to:
        qs = qs.filter(changed_on__date__lte=changed_to)
    return qs
