"""The fields mailboxes on a CalDAV/CardDAV server cannot hold, for the settings pages: shown
beside the directions so an administrator knows those fields do not sync for them."""

from __future__ import annotations

from typing import Any

from django import template

from fieldsync.mailboxes.connection import fields_not_held
from fieldsync.models.mailboxes import Mailbox, ServerKind, SyncPath

register = template.Library()


@register.inclusion_tag("fieldsync/_not_held.html")
def dav_fields_not_held(entity: str) -> dict[str, Any]:
    """Empty unless some mailbox is on a CalDAV/CardDAV profile and the entity has such fields."""
    fields = fields_not_held(kind=ServerKind.CALDAV, entity=entity)
    addresses: list[str] = []
    if fields:
        addresses = list(
            Mailbox.objects.filter(server_profile__kind=ServerKind.CALDAV)
            .order_by("email_address")
            .values_list("email_address", flat=True)
        )
    return {"fields": fields if addresses else [], "addresses": addresses}


@register.inclusion_tag("fieldsync/_my_mailbox.html")
def my_mailbox(entity: str, user: Any) -> dict[str, Any]:
    """For My options: what applies to the viewer's own mailbox only. Whether it syncs this
    record type, and how; the fields its CalDAV/CardDAV server cannot hold (never anyone
    else's address)."""
    from fieldsync.catalog import get_catalog

    mailbox = (
        Mailbox.objects.select_related("server_profile").filter(owner=user).first()
        if getattr(user, "is_authenticated", False)
        else None
    )
    has_records = get_catalog().entity(entity).crm_model is not None
    path = mailbox.path_for(entity) if mailbox is not None else None
    not_held = (
        fields_not_held(kind=mailbox.server_profile.kind, entity=entity)
        if mailbox is not None and path is not None
        else []
    )
    return {
        "mailbox": mailbox,
        "has_records": has_records,
        "path": path,
        "path_label": dict(SyncPath.choices).get(path or "", ""),
        "not_held": not_held,
    }
