"""The extended (MAPI) properties the Exchange connector stores on items: the CRM id, and the
Outlook fields EWS has no element for (or exposes read-only).
"""

from __future__ import annotations

from exchangelib.extended_properties import ExtendedProperty
from exchangelib.items import CalendarItem, Contact, Task


class CrmIdProperty(ExtendedProperty):
    """The CRM record id, so an item created before a crash is found again, never duplicated."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "SyncAdminCrmId"
    property_type = "String"


class RegardingProperty(ExtendedProperty):
    """The CRM 'Regarding' record name; Outlook has no field of its own for it."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "SyncAdminRegarding"
    property_type = "String"


class ActivityTypeProperty(ExtendedProperty):
    """The CRM activity an Outlook task or appointment stands for (phone_call, letter, fax,
    service_activity; absent: a plain task or appointment). A named property, as Dynamics' own
    activity type code is: Outlook keeps named properties it does not know through a user's
    edits, and no form or view shows it, so a user cannot change it by accident. ItemClass
    (IPM.Task.PhoneCall) was not used: Outlook looks up a custom form for a derived class and
    Graph and CalDAV have no item class at all."""

    distinguished_property_set_id = "PublicStrings"
    property_name = "SyncAdminActivityType"
    property_type = "String"


class GovernmentIdProperty(ExtendedProperty):
    """PidTagGovernmentIdNumber: Outlook's 'Government ID Number' (no EWS element)."""

    property_tag = 0x3A07
    property_type = "String"


class FtpSiteProperty(ExtendedProperty):
    """PidTagFtpSite: Outlook's 'FTP Site' (no EWS element)."""

    property_tag = 0x3A4C
    property_type = "String"


class YomiFirstNameProperty(ExtendedProperty):
    """PidLidYomiFirstName: EWS exposes it read-only as PhoneticFirstName."""

    property_set_id = "00062004-0000-0000-C000-000000000046"
    property_id = 0x802C
    property_type = "String"


class YomiLastNameProperty(ExtendedProperty):
    """PidLidYomiLastName: EWS exposes it read-only as PhoneticLastName."""

    property_set_id = "00062004-0000-0000-C000-000000000046"
    property_id = 0x802D
    property_type = "String"


class TaskDateCompletedProperty(ExtendedProperty):
    """PidLidTaskDateCompleted: the writable property behind a task's read-only CompleteDate."""

    property_set_id = "00062003-0000-0000-C000-000000000046"
    property_id = 0x810F
    property_type = "SystemTime"


EXTENDED = {
    "crm_id": (CrmIdProperty, (Contact, CalendarItem, Task)),
    "crm_regarding": (RegardingProperty, (CalendarItem, Task)),
    "crm_activity_type": (ActivityTypeProperty, (CalendarItem, Task)),
    "crm_government_id": (GovernmentIdProperty, (Contact,)),
    "crm_ftp_site": (FtpSiteProperty, (Contact,)),
    "crm_yomi_first_name": (YomiFirstNameProperty, (Contact,)),
    "crm_yomi_last_name": (YomiLastNameProperty, (Contact,)),
    "crm_date_completed": (TaskDateCompletedProperty, (Task,)),
}


def register_extended_properties() -> None:
    """Register our extended properties on exchangelib's item classes (idempotent)."""
    for attr, (prop_cls, item_classes) in EXTENDED.items():
        for cls in item_classes:
            if attr not in {f.name for f in cls.FIELDS}:
                cls.register(attr, prop_cls)
