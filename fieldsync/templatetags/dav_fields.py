"""The fields mailboxes on a CalDAV/CardDAV server cannot hold, for the settings pages: shown
beside the directions so an administrator knows those fields do not sync for them."""

from __future__ import annotations

from typing import Any

from django import template

from fieldsync.mailboxes.connection import fields_not_held
from fieldsync.models.mailboxes import Mailbox, ServerKind

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
