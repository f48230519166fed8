"""The entities security knows: the CRM record types (by model label) and the sync settings.

Security reaches the CRM's models only through the app registry, never by importing crm.
"""

from __future__ import annotations

from django.apps import apps
from django.db import models


class Entity(models.TextChoices):
    CONTACT = "contact", "Contact"
    APPOINTMENT = "appointment", "Appointment"
    RECURRING_APPOINTMENT = "recurring_appointment", "Recurring appointment"
    TASK = "task", "Task"
    PHONE_CALL = "phone_call", "Phone call"
    LETTER = "letter", "Letter"
    FAX = "fax", "Fax"
    SERVICE_ACTIVITY = "service_activity", "Service activity"
    SYNC_SETTINGS = "sync_settings", "Field synchronization settings"


# Entities whose rows are records with an owner and a business unit.
RECORD_MODEL_LABELS: dict[str, str] = {
    Entity.CONTACT: "crm.Contact",
    Entity.APPOINTMENT: "crm.Appointment",
    Entity.RECURRING_APPOINTMENT: "crm.RecurringAppointment",
    Entity.TASK: "crm.Task",
    Entity.PHONE_CALL: "crm.PhoneCall",
    Entity.LETTER: "crm.Letter",
    Entity.FAX: "crm.Fax",
    Entity.SERVICE_ACTIVITY: "crm.ServiceActivity",
}
RECORD_ENTITIES: tuple[str, ...] = tuple(RECORD_MODEL_LABELS)

# Columns every record has that decide access; they can never be secured fields.
STRUCTURAL_COLUMNS = frozenset(
    {"id", "owner", "business_unit", "created_on", "modified_on", "change_number"}
)


def record_model(entity: str) -> type[models.Model]:
    """The CRM model of a record entity; KeyError names the known ones."""
    try:
        label = RECORD_MODEL_LABELS[entity]
    except KeyError:
        known = ", ".join(RECORD_ENTITIES)
        raise KeyError(f"Unknown record entity {entity!r} (known: {known})") from None
    return apps.get_model(label)


def entity_of(model: type[models.Model]) -> str:
    """The entity key of a CRM model; TypeError for a model security does not govern."""
    label = model._meta.label
    for entity, known in RECORD_MODEL_LABELS.items():
        if known == label:
            return entity
    raise TypeError(
        f"{label} is not a CRM record type; security governs "
        f"{', '.join(RECORD_MODEL_LABELS.values())}"
    )


def securable_columns(entity: str) -> list[str]:
    """The columns of a record entity that can be marked secured, in model order."""
    return [
        f.name
        for f in record_model(entity)._meta.concrete_fields
        if f.name not in STRUCTURAL_COLUMNS
    ]
