"""Reads of the field-sync settings, shaped for pages, the API and the engine."""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import CatalogField, get_catalog
from .directions import Direction
from .models import FieldMapping
from .services import settings_version


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
