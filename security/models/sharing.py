"""Record sharing, stored as django-guardian object permissions in per-model tables.

Each CRM model has its own user and team tables with a real foreign key to the record, as
guardian advises: a share disappears with its record (CASCADE) and can never grant access to
whatever later reuses an id, and the policy joins them by primary key in SQL.
"""

from __future__ import annotations

from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class ContactUserShare(UserObjectPermissionBase):
    content_object = models.ForeignKey("crm.Contact", on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "contact shared with a user"
        verbose_name_plural = "contacts shared with users"


class ContactTeamShare(GroupObjectPermissionBase):
    content_object = models.ForeignKey("crm.Contact", on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "contact shared with a team"
        verbose_name_plural = "contacts shared with teams"


class AppointmentUserShare(UserObjectPermissionBase):
    content_object = models.ForeignKey("crm.Appointment", on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "appointment shared with a user"
        verbose_name_plural = "appointments shared with users"


class AppointmentTeamShare(GroupObjectPermissionBase):
    content_object = models.ForeignKey("crm.Appointment", on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "appointment shared with a team"
        verbose_name_plural = "appointments shared with teams"


class RecurringAppointmentUserShare(UserObjectPermissionBase):
    content_object = models.ForeignKey("crm.RecurringAppointment", on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "recurring appointment shared with a user"
        verbose_name_plural = "recurring appointments shared with users"


class RecurringAppointmentTeamShare(GroupObjectPermissionBase):
    content_object = models.ForeignKey("crm.RecurringAppointment", on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "recurring appointment shared with a team"
        verbose_name_plural = "recurring appointments shared with teams"


class TaskUserShare(UserObjectPermissionBase):
    content_object = models.ForeignKey("crm.Task", on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "task shared with a user"
        verbose_name_plural = "tasks shared with users"


class TaskTeamShare(GroupObjectPermissionBase):
    content_object = models.ForeignKey("crm.Task", on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "task shared with a team"
        verbose_name_plural = "tasks shared with teams"


# entity -> (user share table, team share table)
SHARE_MODELS: dict[str, tuple[type[UserObjectPermissionBase], type[GroupObjectPermissionBase]]] = {
    "contact": (ContactUserShare, ContactTeamShare),
    "appointment": (AppointmentUserShare, AppointmentTeamShare),
    "recurring_appointment": (RecurringAppointmentUserShare, RecurringAppointmentTeamShare),
    "task": (TaskUserShare, TaskTeamShare),
}
