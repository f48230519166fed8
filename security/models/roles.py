"""Security roles: per entity and privilege, the access level a role grants.

A user's rights are the union (the highest level) of their own roles and their teams' roles.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models

from ..entities import Entity


class Privilege(models.TextChoices):
    """The privileges of a role; values equal security.policy.Action's."""

    CREATE = "create", "Create"
    READ = "read", "Read"
    WRITE = "write", "Write"
    DELETE = "delete", "Delete"
    SYNC = "sync", "Sync to Exchange/Outlook"


class AccessLevel(models.IntegerChoices):
    """How far a privilege reaches; each level includes the ones below it."""

    NONE = 0, "None"
    USER = 1, "User (own records)"
    BUSINESS_UNIT = 2, "Business unit"
    PARENT_CHILD = 3, "Parent: child business units"
    ORGANIZATION = 4, "Organization"

    @classmethod
    def parse(cls, value: AccessLevel | int | str) -> AccessLevel:
        """An AccessLevel from itself, its number or its name ("business_unit", ...)."""
        if isinstance(value, str) and not value.isdigit():
            key = value.strip().upper()
            aliases = {"PARENT_CHILD_BUSINESS_UNITS": "PARENT_CHILD", "BU": "BUSINESS_UNIT"}
            key = aliases.get(key, key)
            try:
                return cls[key]
            except KeyError:
                names = ", ".join(m.name.lower() for m in cls)
                raise ValueError(f"Unknown access level {value!r} (known: {names})") from None
        return cls(int(value))


# The settings are one organization-wide object: only reading and changing them make sense.
SETTINGS_PRIVILEGES = (Privilege.READ, Privilege.WRITE)


def privileges_of(entity: str) -> tuple[Privilege, ...]:
    return SETTINGS_PRIVILEGES if entity == Entity.SYNC_SETTINGS else tuple(Privilege)


class SecurityRole(models.Model):
    """A named set of privileges with access levels, given to users directly or via teams."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="security_roles"
    )
    teams = models.ManyToManyField(Group, blank=True, related_name="security_roles")

    class Meta:
        ordering = ["name"]
        verbose_name = "security role"

    def __str__(self) -> str:
        return self.name

    def levels(self) -> dict[tuple[str, str], AccessLevel]:
        """(entity, privilege) -> level for every privilege this role grants above none."""
        return {
            (p.entity, p.action): AccessLevel(p.level)
            for p in self.privileges.all()
            if p.level > AccessLevel.NONE
        }


class RolePrivilege(models.Model):
    """One cell of a role's privilege grid. A missing row means access level none."""

    role = models.ForeignKey(SecurityRole, on_delete=models.CASCADE, related_name="privileges")
    entity = models.CharField(max_length=40, choices=Entity.choices)
    action = models.CharField(max_length=10, choices=Privilege.choices)
    level = models.PositiveSmallIntegerField(choices=AccessLevel.choices, default=AccessLevel.NONE)

    class Meta:
        ordering = ["role", "entity", "action"]
        constraints = [
            models.UniqueConstraint(
                fields=["role", "entity", "action"], name="role_privilege_once"
            ),
            models.CheckConstraint(
                condition=models.Q(level__gte=0, level__lte=4), name="role_privilege_level"
            ),
            models.CheckConstraint(
                condition=models.Q(entity__in=Entity.values)
                & models.Q(action__in=Privilege.values)
                & (
                    ~models.Q(entity=Entity.SYNC_SETTINGS)
                    | models.Q(action__in=SETTINGS_PRIVILEGES)
                ),
                name="role_privilege_known",
            ),
        ]
        indexes = [models.Index(fields=["entity", "action", "level"])]

    def __str__(self) -> str:
        return f"{self.role}: {self.get_action_display()} {self.get_entity_display()} = " + str(
            AccessLevel(self.level).label
        )

    def clean(self) -> None:
        if self.action not in privileges_of(self.entity):
            allowed = ", ".join(p.value for p in privileges_of(self.entity))
            raise ValidationError(
                {"action": f"{self.get_entity_display()} has the privileges {allowed} only."}
            )
