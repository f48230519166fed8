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


class PhoneCallUserShare(UserObjectPermissionBase):
    content_object = models.ForeignKey("crm.PhoneCall", on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "phone call shared with a user"
        verbose_name_plural = "phone calls shared with users"


class PhoneCallTeamShare(GroupObjectPermissionBase):
    content_object = models.ForeignKey("crm.PhoneCall", on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "phone call shared with a team"
        verbose_name_plural = "phone calls shared with teams"


class LetterUserShare(UserObjectPermissionBase):
    content_object = models.ForeignKey("crm.Letter", on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "letter shared with a user"
        verbose_name_plural = "letters shared with users"


class LetterTeamShare(GroupObjectPermissionBase):
    content_object = models.ForeignKey("crm.Letter", on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "letter shared with a team"
        verbose_name_plural = "letters shared with teams"


class FaxUserShare(UserObjectPermissionBase):
    content_object = models.ForeignKey("crm.Fax", on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "fax shared with a user"
        verbose_name_plural = "faxes shared with users"


class FaxTeamShare(GroupObjectPermissionBase):
    content_object = models.ForeignKey("crm.Fax", on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "fax shared with a team"
        verbose_name_plural = "faxes shared with teams"


class ServiceActivityUserShare(UserObjectPermissionBase):
    content_object = models.ForeignKey("crm.ServiceActivity", on_delete=models.CASCADE)

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "service activity shared with a user"
        verbose_name_plural = "service activities shared with users"


class ServiceActivityTeamShare(GroupObjectPermissionBase):
    content_object = models.ForeignKey("crm.ServiceActivity", on_delete=models.CASCADE)

    class Meta(GroupObjectPermissionBase.Meta):
        verbose_name = "service activity shared with a team"
        verbose_name_plural = "service activities shared with teams"


# entity -> (user share table, team share table)
SHARE_MODELS: dict[str, tuple[type[UserObjectPermissionBase], type[GroupObjectPermissionBase]]] = {
    "contact": (ContactUserShare, ContactTeamShare),
    "appointment": (AppointmentUserShare, AppointmentTeamShare),
    "recurring_appointment": (RecurringAppointmentUserShare, RecurringAppointmentTeamShare),
    "task": (TaskUserShare, TaskTeamShare),
    "phone_call": (PhoneCallUserShare, PhoneCallTeamShare),
    "letter": (LetterUserShare, LetterTeamShare),
    "fax": (FaxUserShare, FaxTeamShare),
    "service_activity": (ServiceActivityUserShare, ServiceActivityTeamShare),
}
