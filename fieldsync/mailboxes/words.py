"""Words, not identifiers, on the sync pages and in their messages: record types and fields by
their labels, why a conflict went one way or a change was rejected, people by their names."""

from __future__ import annotations

from typing import Any

from fieldsync.catalog import get_catalog

CONFLICT_REASONS = {
    "crm_wins": "The sync policy lets the CRM win conflicts.",
    "exchange_wins": "The sync policy lets Exchange/Outlook win conflicts.",
    "latest_wins": "The sync policy lets the latest change win.",
    "latest_wins (no timestamp: crm)": "The latest change wins, but Exchange gave no time of "
    "change: the CRM's value was kept.",
    "direction to_outlook": "This field synchronizes to Exchange/Outlook only.",
    "direction to_crm": "This field synchronizes to the CRM only.",
    "deleted_in_exchange": "The CRM record was deleted; this value existed only in Outlook.",
    "removed_lost_access": "The user lost access to the record and its Outlook copy was "
    "removed; this value existed only in Outlook.",
    "untracked": "The item stopped syncing; this value existed only in Outlook.",
    "suspended": "The record stopped syncing for this user; this value existed only in Outlook.",
    "dropped": "The record is gone on both sides; this value existed only in Outlook.",
}
REJECT_REASONS = {
    "no_update_permission": "The user may not change this record in the CRM.",
    "no_read_permission": "The user may not read this field in the CRM (field security), so "
    "an Outlook edit never overwrites it.",
    "no_record_write_permission": "The user may not write to this record in the CRM.",
    "no_field_create_permission": "The user may not fill in this field on a new record "
    "(field security).",
    "no_create_permission": "The user may not create records of this type in the CRM.",
}


def _humane(identifier: str) -> str:
    return identifier.replace("_", " ").strip().capitalize()


def entity_label(key: str) -> str:
    """ "recurring_appointment" -> "Recurring Appointment" (the catalog's label)."""
    try:
        return get_catalog().entity(str(key)).label
    except KeyError:
        return _humane(str(key))


def field_label(field: str, entity: str) -> str:
    """ "job_title" of a contact -> "Job Title"; "*" -> "The whole record"."""
    if field == "*":
        return "The whole record"
    try:
        return get_catalog().entity(str(entity)).field(str(field)).crm_label
    except KeyError:
        return _humane(str(field))


def conflict_reason(reason: str) -> str:
    return CONFLICT_REASONS.get(str(reason), _humane(str(reason)))


def reject_reason(reason: str) -> str:
    return REJECT_REASONS.get(str(reason), _humane(str(reason)))


def person(user: Any) -> str:
    """A user's full name, else their user name; "the system" for none."""
    if user is None:
        return "the system"
    return user.get_full_name() or user.get_username()


def value_text(value: Any) -> str:
    """A synchronized value as text: "(empty)" for nothing, the parts of an address joined."""
    if value is None or value == "" or value == [] or value == ():
        return "(empty)"
    if isinstance(value, list | tuple):
        parts = [value_text(v) for v in value if v not in (None, "")]
        return ", ".join(parts) if parts else "(empty)"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)
