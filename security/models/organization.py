"""Users, business units and teams: the organization that records and access rules hang on.

A business unit keeps a materialized path so "this unit and everything below it" is one
indexed LIKE, the same SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.functions import Concat, Substr


class BusinessUnit(models.Model):
    """A node of the organization's business-unit tree; the root has no parent.

    `path` is the chain of ids from the root, e.g. "/1/4/9/". Why a materialized path rather
    than a recursive CTE: the access filter asks for "my unit and its descendants" on every
    request and every sync, and a path makes that `path LIKE '/1/4/%'` inside an ordinary
    Django subquery: no raw SQL, one plan for SQLite and PostgreSQL, composable with the other
    conditions of the policy's single Q. The tree changes rarely (an admin moves a unit), and
    a move rewrites the moved subtree's paths in one UPDATE inside the same transaction.
    Only `save()` maintains the path: never move units with `QuerySet.update(parent=...)`.
    """

    name = models.CharField(max_length=160, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        with transaction.atomic():
            # The stored path, not the in-memory one: an ancestor may have moved since load.
            stored = BusinessUnit.objects.filter(pk=self.pk).values_list("path", flat=True)
            old_path = (stored.first() or "") if self.pk else ""
            super().save(*args, **kwargs)
            parent_path = self._parent_path()
            if old_path and parent_path.startswith(old_path):
                raise ValidationError({"parent": "A business unit cannot be its own ancestor."})
            new_path = f"{parent_path}{self.pk}/"
            if new_path == old_path:
                return
            units = BusinessUnit.objects
            if old_path:
                # The unit moved: its whole subtree (itself included) takes the new prefix.
                units.filter(path__startswith=old_path).update(
                    path=Concat(models.Value(new_path), Substr("path", len(old_path) + 1))
                )
            else:
                units.filter(pk=self.pk).update(path=new_path)
            self.path = new_path

    def clean(self) -> None:
        if self.pk is None or self.parent_id is None:
            return
        if self.parent_id == self.pk or self._parent_path().startswith(self.path or "\0"):
            raise ValidationError({"parent": "A business unit cannot be its own ancestor."})

    def _parent_path(self) -> str:
        if self.parent_id is None:
            return "/"
        # Read the parent's path from the database: an in-memory parent may be stale.
        return BusinessUnit.objects.values_list("path", flat=True).get(pk=self.parent_id)

    def descendants(self, *, include_self: bool = True) -> models.QuerySet[BusinessUnit]:
        units = BusinessUnit.objects.filter(path__startswith=self.path)
        return units if include_self else units.exclude(pk=self.pk)


class User(AbstractUser):
    """A CRM user; every user belongs to one business unit (None only for bootstrap accounts)."""

    business_unit = models.ForeignKey(
        BusinessUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="users"
    )
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="The time zone the pages show times in; empty: the organization's.",
    )


class Team(Group):
    """A team is a Django group: members share its security roles, field security profiles
    and the records shared with it (guardian's group object permissions)."""

    class Meta:
        proxy = True
        verbose_name = "team"
        verbose_name_plural = "teams"
