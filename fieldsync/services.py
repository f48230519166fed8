"""Use cases that change the field-sync settings."""

from __future__ import annotations

from django.db import transaction

from .catalog import Catalog, get_catalog
from .models import FieldMapping


@transaction.atomic
def catalog_sync(*, catalog: Catalog | None = None, mapping_model: type = FieldMapping) -> int:
    """Create a FieldMapping for every catalog field that lacks one, at its default direction,
    and refresh the allowed flags of the others (resetting a direction the catalog no longer
    allows to the default). Returns the number of rows created. Idempotent.

    `mapping_model` lets a data migration pass its historical model.
    """
    catalog = catalog or get_catalog()
    existing = {(m.entity, m.crm_field): m for m in mapping_model.objects.all()}
    to_create, created = [], 0
    for field in catalog.all_fields():
        flags = FieldMapping.allow_flags(field.allowed_directions)
        row = existing.get((field.entity, field.crm_field))
        if row is None:
            to_create.append(
                mapping_model(
                    entity=field.entity,
                    crm_field=field.crm_field,
                    direction=field.default_direction.value,
                    default_direction=field.default_direction.value,
                    **flags,
                )
            )
            continue
        changed = {k: v for k, v in flags.items() if getattr(row, k) != v}
        if row.default_direction != field.default_direction.value:
            changed["default_direction"] = field.default_direction.value
        if not field.allows(row.direction):
            changed["direction"] = field.default_direction.value
        if changed:
            mapping_model.objects.filter(pk=row.pk).update(**changed)
    if to_create:
        mapping_model.objects.bulk_create(to_create)
        created = len(to_create)
    return created
