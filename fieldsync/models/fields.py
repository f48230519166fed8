"""The organization's field-sync settings: one FieldMapping row per catalog field."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from fieldsync.catalog import get_catalog
from fieldsync.directions import CYCLE, Direction

DIRECTION_CHOICES = [(d.value, d.label) for d in CYCLE]

_ALLOW_COLUMN = {
    Direction.BOTH: "allow_both",
    Direction.TO_OUTLOOK: "allow_to_outlook",
    Direction.TO_CRM: "allow_to_crm",
    Direction.NONE: "allow_none",
}


def _direction_is_allowed() -> Q:
    q = Q()
    for direction, column in _ALLOW_COLUMN.items():
        q |= Q(direction=direction.value, **{column: True})
    return q


class FieldMapping(models.Model):
    """The current direction of one catalog field.

    The allow_* flags copy the catalog's settable directions so that the database itself
    refuses a direction the catalog does not allow (a check constraint), whatever writes it.
    """

    entity = models.CharField(max_length=40)
    crm_field = models.CharField(max_length=80)
    direction = models.CharField(max_length=10, choices=DIRECTION_CHOICES)
    default_direction = models.CharField(max_length=10, choices=DIRECTION_CHOICES, editable=False)
    allow_both = models.BooleanField(default=False, editable=False)
    allow_to_outlook = models.BooleanField(default=False, editable=False)
    allow_to_crm = models.BooleanField(default=False, editable=False)
    allow_none = models.BooleanField(default=False, editable=False)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["entity", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "crm_field"], name="fieldmapping_unique_field"
            ),
            models.CheckConstraint(
                condition=Q(direction__in=[d.value for d in CYCLE]),
                name="fieldmapping_direction_known",
            ),
            models.CheckConstraint(
                condition=_direction_is_allowed(), name="fieldmapping_direction_allowed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entity}.{self.crm_field}: {self.direction}"

    @property
    def catalog_field(self):  # type: ignore[no-untyped-def]
        return get_catalog().entity(self.entity).field(self.crm_field)

    @property
    def allowed_directions(self) -> tuple[Direction, ...]:
        return tuple(d for d, column in _ALLOW_COLUMN.items() if getattr(self, column))

    def clean(self) -> None:
        try:
            field = self.catalog_field
        except KeyError as exc:
            raise ValidationError(str(exc.args[0])) from None
        if self.direction not in [d.value for d in CYCLE]:
            raise ValidationError({"direction": f"Unknown direction {self.direction!r}."})
        if not field.allows(self.direction):
            entity_label = get_catalog().entity(self.entity).label
            allowed = ", ".join(d.value for d in field.allowed_directions)
            raise ValidationError(
                {
                    "direction": f"Direction '{self.direction}' is not allowed for "
                    f"{entity_label}.{field.crm_label} (allowed: {allowed})"
                }
            )

    @staticmethod
    def allow_flags(allowed: tuple[Direction, ...]) -> dict[str, bool]:
        return {column: direction in allowed for direction, column in _ALLOW_COLUMN.items()}


class EntitySyncSettings(models.Model):
    """Per-entity settings version: a save carries the version it started from (optimistic lock)."""

    entity = models.CharField(max_length=40, unique=True)
    version = models.PositiveIntegerField(default=1)

    def __str__(self) -> str:
        return f"{self.entity} settings v{self.version}"


class DirectionChange(models.Model):
    """The audit log: one row per changed direction, whoever changed it and however."""

    class Source(models.TextChoices):
        WEB = "web", "Settings page"
        API = "api", "REST API"
        ADMIN = "admin", "Django admin"
        SYSTEM = "system", "System"

    changed_on = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        "security.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    entity = models.CharField(max_length=40, db_index=True)
    crm_field = models.CharField(max_length=80)
    old_direction = models.CharField(max_length=10, choices=DIRECTION_CHOICES)
    new_direction = models.CharField(max_length=10, choices=DIRECTION_CHOICES)
    version = models.PositiveIntegerField(
        help_text="The entity's settings version this change made."
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEB)

    class Meta:
        ordering = ["-changed_on", "-id"]
        indexes = [models.Index(fields=["entity", "version"])]

    def __str__(self) -> str:
        return f"{self.entity}.{self.crm_field}: {self.old_direction} -> {self.new_direction}"
