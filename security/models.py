"""Users and business units: the organization that records and access rules hang on."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models


class BusinessUnit(models.Model):
    """A node of the organization's business-unit tree; the root has no parent."""

    name = models.CharField(max_length=160, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        node = self.parent
        while node is not None:
            if node.pk == self.pk:
                raise ValidationError({"parent": "A business unit cannot be its own ancestor."})
            node = node.parent


class User(AbstractUser):
    """A CRM user; every user belongs to one business unit (None only for bootstrap accounts)."""

    business_unit = models.ForeignKey(
        BusinessUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
