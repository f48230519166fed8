"""The catalog of synchronizable fields, loaded from catalog.json (Microsoft's published table).

Pure Python and read-only: the organization's current choices live in FieldMapping rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fieldsync.directions import CYCLE, Direction

CATALOG_PATH = Path(__file__).with_name("catalog.json")


@dataclass(frozen=True)
class CatalogField:
    entity: str
    crm_field: str
    crm_label: str
    outlook_fields: tuple[str, ...]
    default_direction: Direction
    allowed_directions: tuple[Direction, ...]
    computed: bool
    note: str
    crm_columns: tuple[str, ...]

    @property
    def settable(self) -> bool:
        """More than one allowed direction: the arrow can be clicked."""
        return len(self.allowed_directions) > 1

    def allows(self, direction: Direction | str) -> bool:
        return Direction(direction) in self.allowed_directions


@dataclass(frozen=True)
class CatalogEntity:
    key: str
    label: str
    crm_model: str | None
    fields: tuple[CatalogField, ...]

    def field(self, crm_field: str) -> CatalogField:
        for f in self.fields:
            if f.crm_field == crm_field:
                return f
        raise KeyError(f"{self.label} has no synchronized field {crm_field!r}")


@dataclass(frozen=True)
class Catalog:
    source: dict
    entities: tuple[CatalogEntity, ...]

    def entity(self, key: str) -> CatalogEntity:
        for e in self.entities:
            if e.key == key:
                return e
        known = ", ".join(e.key for e in self.entities)
        raise KeyError(f"Unknown entity {key!r} (known: {known})")

    def all_fields(self) -> list[CatalogField]:
        return [f for e in self.entities for f in e.fields]


def _ordered(directions: list[str]) -> tuple[Direction, ...]:
    wanted = {Direction(d) for d in directions}
    return tuple(d for d in CYCLE if d in wanted)


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Parse a catalog file; raises ValueError on a row that contradicts itself."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    entities = []
    for e in data["entities"]:
        fields = []
        for f in e["fields"]:
            field = CatalogField(
                entity=e["key"],
                crm_field=f["crm_field"],
                crm_label=f["crm_label"],
                outlook_fields=tuple(f["outlook_fields"]),
                default_direction=Direction(f["default_direction"]),
                allowed_directions=_ordered(f["allowed_directions"]),
                computed=bool(f["computed"]),
                note=f.get("note", ""),
                crm_columns=tuple(f.get("crm_columns", ())),
            )
            if field.default_direction not in field.allowed_directions:
                raise ValueError(f"{e['key']}.{field.crm_field}: default not among allowed")
            fields.append(field)
        if len({f.crm_field for f in fields}) != len(fields):
            raise ValueError(f"{e['key']}: duplicate crm_field")
        entities.append(CatalogEntity(e["key"], e["label"], e.get("crm_model"), tuple(fields)))
    return Catalog(source=data.get("source", {}), entities=tuple(entities))


@cache
def get_catalog() -> Catalog:
    """The project's catalog, loaded once per process."""
    return load_catalog()
