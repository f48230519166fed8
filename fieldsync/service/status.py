"""The statuses one mailbox keeps per record (SyncLink: what both sides agreed at the last sync):
loaded for the records to decide, and sealed again when the owner may no longer read a field.
"""

from __future__ import annotations

from typing import Any

from fieldsync.engine import Link, LinkState, Rules, seal_unreadable
from fieldsync.models.sync import SyncLink
from fieldsync.service.values import EntityFields, decode_base, encode_base, record_digest


def links_of(*, owner: Any, ef: EntityFields, entity: str, crm_ids: set[str]) -> list[Link]:
    """The statuses of these records in `owner`'s mailbox."""
    if not crm_ids:
        return []
    blanks = ef.blanks
    qs = SyncLink.objects.filter(owner=owner, entity=entity)
    if len(crm_ids) < 5000:
        qs = qs.filter(crm_id__in=list(crm_ids))
    return [
        Link(str(crm_id), item_id, change_key, LinkState(link_state), decode_base(base, blanks))
        for crm_id, item_id, change_key, link_state, base in qs.values_list(
            "crm_id", "item_id", "change_key", "state", "base"
        )
        if str(crm_id) in crm_ids
    ]


def links_reseal(*, owner: Any, ef: EntityFields, entity: str, rules: Rules) -> None:
    """After the owner's rights changed (or an upgrade changed what statuses seal): statuses
    still holding values of a field the owner may no longer read, the CRM's or the
    mailbox's, keep them only as digests from now on."""
    if all(r.can_read for r in rules.fields.values()):
        return
    blanks = ef.blanks
    rows = []
    for link in SyncLink.objects.filter(owner=owner, entity=entity).iterator():
        status = Link(
            str(link.crm_id),
            link.item_id,
            link.change_key,
            LinkState(link.state),
            decode_base(link.base, blanks),
        )
        sealed = seal_unreadable(status, rules, record_digest(entity, status.crm_id))
        if sealed is not status:
            link.base = encode_base(sealed.base, blanks)
            rows.append(link)
    SyncLink.objects.bulk_update(rows, ["base"], batch_size=500)
