"""Use cases that change the field-sync settings; every change is audited."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction

from fieldsync.catalog import Catalog, get_catalog
from fieldsync.directions import Direction, parse_direction
from fieldsync.models import DirectionChange, EntitySyncSettings, FieldMapping
from security import policy


class SettingsError(Exception):
    """A settings change that cannot be applied; the message is meant for a person."""


class UnknownField(SettingsError):
    pass


class DirectionNotAllowed(SettingsError):
    def __init__(self, message: str, *, crm_field: str, allowed: tuple[Direction, ...]) -> None:
        super().__init__(message)
        self.crm_field = crm_field
        self.allowed = allowed


class StaleSettings(SettingsError):
    """Someone else saved since `base_version`; `changes` says what they changed."""

    def __init__(self, *, current_version: int, changes: list[DirectionChange]) -> None:
        who = sorted({c.actor.username if c.actor else "the system" for c in changes})
        super().__init__(
            f"These settings were changed by {', '.join(who) or 'someone else'} since you "
            f"opened them (version {current_version} now). Review their changes and try again."
        )
        self.current_version = current_version
        self.changes = changes


@dataclass(frozen=True)
class UpdateResult:
    version: int
    changed: list[DirectionChange]


def settings_version(*, entity: str) -> int:
    row, _ = EntitySyncSettings.objects.get_or_create(entity=entity)
    return row.version


def field_directions_update(
    *,
    entity: str,
    changes: Mapping[str, str],
    base_version: int,
    actor,  # type: ignore[no-untyped-def]
    source: str = DirectionChange.Source.WEB,
) -> UpdateResult:
    """Set several directions of one entity in one transaction (the OK button).

    Refuses the whole change if the actor lacks the settings-write privilege, if any direction
    is not allowed for its field, or if the settings moved past `base_version`.
    """
    if not policy.can_change_sync_settings(actor):
        raise PermissionDenied("You may view the synchronization settings but not change them.")
    catalog_entity = get_catalog().entity(entity)  # KeyError names the known entities
    wanted: dict[str, Direction] = {}
    for crm_field, value in changes.items():
        try:
            field = catalog_entity.field(crm_field)
        except KeyError as exc:
            raise UnknownField(str(exc.args[0])) from None
        try:
            direction = parse_direction(value)
        except ValueError as exc:
            raise DirectionNotAllowed(
                str(exc), crm_field=crm_field, allowed=field.allowed_directions
            ) from None
        if not field.allows(direction):
            allowed = ", ".join(d.value for d in field.allowed_directions)
            raise DirectionNotAllowed(
                f"Direction '{direction}' is not allowed for "
                f"{catalog_entity.label}.{field.crm_label} (allowed: {allowed})",
                crm_field=crm_field,
                allowed=field.allowed_directions,
            )
        wanted[crm_field] = direction

    with transaction.atomic():
        EntitySyncSettings.objects.get_or_create(entity=entity)
        settings_row = EntitySyncSettings.objects.select_for_update().get(entity=entity)
        if settings_row.version != base_version:
            since = list(
                DirectionChange.objects.filter(entity=entity, version__gt=base_version)
                .select_related("actor")
                .order_by("version", "id")
            )
            raise StaleSettings(current_version=settings_row.version, changes=since)
        rows = {
            m.crm_field: m
            for m in FieldMapping.objects.select_for_update().filter(
                entity=entity, crm_field__in=list(wanted)
            )
        }
        new_version = settings_row.version + 1
        audit = []
        for crm_field, direction in wanted.items():
            row = rows[crm_field]
            if row.direction == direction.value:
                continue
            audit.append(
                DirectionChange(
                    actor=actor,
                    entity=entity,
                    crm_field=crm_field,
                    old_direction=row.direction,
                    new_direction=direction.value,
                    version=new_version,
                    source=source,
                )
            )
            row.direction = direction.value
            row.save(update_fields=["direction", "updated_on"])
        if not audit:
            return UpdateResult(version=settings_row.version, changed=[])
        settings_row.version = new_version
        settings_row.save(update_fields=["version"])
        DirectionChange.objects.bulk_create(audit)
        return UpdateResult(version=new_version, changed=audit)


def field_directions_reset(
    *,
    entity: str,
    base_version: int,
    actor,  # type: ignore[no-untyped-def]
    source: str = DirectionChange.Source.WEB,
) -> UpdateResult:
    """Put every field of one entity back to the catalog's default direction."""
    defaults = {f.crm_field: f.default_direction.value for f in get_catalog().entity(entity).fields}
    return field_directions_update(
        entity=entity, changes=defaults, base_version=base_version, actor=actor, source=source
    )


@transaction.atomic
def catalog_sync(*, catalog: Catalog | None = None, mapping_model: type = FieldMapping) -> int:
    """Create a FieldMapping for every catalog field that lacks one, at its default direction,
    and refresh the allowed flags of the others (resetting a direction the catalog no longer
    allows to the default). Returns the number of rows created. Idempotent.

    `mapping_model` lets a data migration pass its historical model.
    """
    catalog = catalog or get_catalog()
    existing = {(m.entity, m.crm_field): m for m in mapping_model.objects.all()}
    to_create = []
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
    mapping_model.objects.bulk_create(to_create)
    return len(to_create)
