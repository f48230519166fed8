"""The fields mailboxes on a CalDAV/CardDAV server or on Exchange Online through Microsoft Graph
(To Do) cannot hold, for the settings pages: shown beside the directions so an administrator
knows those fields do not sync for them."""

from __future__ import annotations

from typing import Any

from django import template

from fieldsync.mailboxes.connection import fields_not_held, not_held_reason
from fieldsync.models.mailboxes import Mailbox, ServerKind, SyncPath

register = template.Library()

# Per kind of server with fields it cannot hold: the section's anchor, and where mailboxes are.
_ANCHORS = {
    ServerKind.CALDAV: ("not-held", "a CalDAV/CardDAV server"),
    ServerKind.GRAPH: ("not-held-graph", "Exchange Online (Microsoft Graph)"),
}


@register.inclusion_tag("fieldsync/_not_held.html")
def dav_fields_not_held(entity: str) -> dict[str, Any]:
    """One section per kind of server some mailbox is on whose server cannot hold fields of
    this entity (none for Exchange through EWS)."""
    groups = []
    for kind, (anchor, where) in _ANCHORS.items():
        fields = fields_not_held(kind=kind, entity=entity)
        if not fields:
            continue
        addresses = list(
            Mailbox.objects.filter(server_profile__kind=kind)
            .order_by("email_address")
            .values_list("email_address", flat=True)
        )
        if addresses:
            groups.append(
                {
                    "anchor": anchor,
                    "where": where,
                    "reason": not_held_reason(kind),
                    "fields": fields,
                    "addresses": addresses,
                }
            )
    return {"groups": groups}


@register.inclusion_tag("fieldsync/_my_mailbox.html")
def my_mailbox(entity: str, user: Any) -> dict[str, Any]:
    """For My options: what applies to the viewer's own mailbox only. Whether it syncs this
    record type, and how; the fields its server cannot hold (CalDAV/CardDAV, To Do on Graph),
    never anyone else's address."""
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
        "not_held_reason": not_held_reason(mailbox.server_profile.kind) if mailbox else "",
    }
