"""Field-level security: secured columns per entity and the profiles that open them.

A column not registered as secured follows the record's rights; a secured one is closed to
everyone (but system administrators) until a profile grants read, create or update on it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models

from ..entities import RECORD_ENTITIES, Entity, securable_columns


class SecuredField(models.Model):
    """A CRM column that only field security profiles can open."""

    entity = models.CharField(
        max_length=40, choices=[(e, Entity(e).label) for e in RECORD_ENTITIES]
    )
    column = models.CharField(max_length=100, help_text="The CRM model column, e.g. government_id")

    class Meta:
        ordering = ["entity", "column"]
        verbose_name = "secured field"
        constraints = [
            models.UniqueConstraint(fields=["entity", "column"], name="secured_field_once")
        ]

    def __str__(self) -> str:
        return f"{Entity(self.entity).label}.{self.column}"

    def clean(self) -> None:
        if self.entity not in RECORD_ENTITIES:
            return  # the choices validation reports it
        columns = securable_columns(self.entity)
        if self.column not in columns:
            raise ValidationError(
                {
                    "column": f"{Entity(self.entity).label} has no column {self.column!r} that "
                    f"can be secured (choose one of: {', '.join(columns)})"
                }
            )


class FieldSecurityProfile(models.Model):
    """Grants read, create and update on secured fields to its users and teams' members."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="field_security_profiles"
    )
    teams = models.ManyToManyField(Group, blank=True, related_name="field_security_profiles")

    class Meta:
        ordering = ["name"]
        verbose_name = "field security profile"

    def __str__(self) -> str:
        return self.name


class FieldPermission(models.Model):
    """What one profile allows on one secured field."""

    profile = models.ForeignKey(
        FieldSecurityProfile, on_delete=models.CASCADE, related_name="permissions"
    )
    field = models.ForeignKey(SecuredField, on_delete=models.CASCADE, related_name="permissions")
    can_read = models.BooleanField(default=False)
    can_create = models.BooleanField(default=False)
    can_update = models.BooleanField(default=False)

    class Meta:
        ordering = ["profile", "field"]
        verbose_name = "field permission"
        constraints = [
            models.UniqueConstraint(fields=["profile", "field"], name="field_permission_once")
        ]

    def __str__(self) -> str:
        granted = [
            name
            for name, on in (
                ("read", self.can_read),
                ("create", self.can_create),
                ("update", self.can_update),
            )
            if on
        ]
        return f"{self.profile}: {self.field} ({', '.join(granted) or 'nothing'})"
