"""From incremental observations to a plan: pair what changed on each side with the status,
fill the unchanged side from the status, decide per record, and apply the mass-change guard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from fieldsync.directions import Direction

from .merge import decide_record, is_blank
from .model import (
    UNKNOWN,
    Absence,
    CrmSide,
    FieldBase,
    FieldRule,
    GuardTrip,
    Link,
    LinkState,
    Plan,
    Policy,
    RecordInput,
    Remote,
    Rules,
    Sealed,
    Value,
)


def crm_from_status(link: Link) -> CrmSide:
    """The CRM side of a record that has not changed since the last sync."""
    return CrmSide({name: fb.crm for name, fb in link.base.items()})


def remote_from_status(link: Link) -> Remote:
    """The Exchange side of an item that has not changed since the last sync (a sealed value
    is left out: that field was not read)."""
    return Remote(
        link.item_id,
        link.change_key,
        link.crm_id,
        {name: fb.remote for name, fb in link.base.items() if not isinstance(fb.remote, Sealed)},
    )


def seal_private(link: Link, rules: Rules, digest: Callable[[Value], str]) -> Link:
    """The status to store: an Exchange value of a `none` field that the CRM side does not
    hold is kept only as a digest, so private notes never rest in the CRM's database."""
    base = None
    for name in rules.private:
        fb = link.base.get(name)
        if fb is None:
            continue
        value = fb.remote
        if isinstance(value, Sealed) or value in (fb.crm, fb.agreed):
            continue
        if is_blank(value, rules.fields[name]):
            continue
        base = base if base is not None else dict(link.base)
        base[name] = FieldBase(fb.agreed, fb.crm, Sealed(digest(value)))
    if base is None:
        return link
    return replace(link, base=base)


def seal_unreadable(link: Link, rules: Rules, digest: Callable[[Value], str]) -> Link:
    """The status to store, without any value of a field the mailbox owner may not read: the
    agreed, CRM and mailbox values become digests (`Sealed(..., secured=True)`). The mailbox's
    value may be the CRM's secured value itself (synced before the read right went), and the
    status is readable by whoever reads the sync's tables; the merge needs only to notice that
    it changed (see unseal)."""
    base = None
    for name, rule in rules.fields.items():
        fb = link.base.get(name)
        if rule.can_read or fb is None:
            continue
        sides = (fb.agreed, fb.crm, fb.remote)
        sealed = tuple(_sealed(v, rule, digest) for v in sides)
        if all(a is b for a, b in zip(sealed, sides, strict=True)):
            continue
        base = base if base is not None else dict(link.base)
        base[name] = FieldBase(*sealed)
    if base is None:
        return link
    return replace(link, base=base)


def _sealed(value: Value, rule: FieldRule, digest: Callable[[Value], str]) -> Value:
    if value is UNKNOWN or isinstance(value, Sealed) or is_blank(value, rule):
        return value
    return Sealed(digest(value), secured=True)


def sealed_crm(link: Link, rules: Rules) -> bool:
    """A CRM value kept as a digest for a field the owner may read again: the record must be
    read from the CRM again to decide it."""
    return any(
        isinstance(fb.crm, Sealed) and name in rules.fields and rules.fields[name].can_read
        for name, fb in link.base.items()
    )


_ABSENT = object()


def unseal(record: RecordInput, digest: Callable[[Value], str]) -> RecordInput:
    """The record with the status's sealed values replaced by a side's current value where the
    digests match (the value is that one: it did not change while sealed). The agreed and CRM
    values open against either side, the mailbox's value of a secured field too; a private
    value of a `none` field stays sealed (deciding it again needs the item read afresh)."""
    link = record.link
    if link is None:
        return record
    crm_now = record.crm.values if isinstance(record.crm, CrmSide) else {}
    remote_now = record.remote.values if record.remote is not None else {}
    base = None
    for name, fb in link.base.items():
        if not any(isinstance(v, Sealed) for v in (fb.agreed, fb.crm, fb.remote)):
            continue
        marks = {
            digest(v): v
            for v in (crm_now.get(name, _ABSENT), remote_now.get(name, _ABSENT))
            if v is not _ABSENT and not isinstance(v, Sealed)
        }
        opened = FieldBase(
            _open(fb.agreed, marks), _open(fb.crm, marks), _open(fb.remote, marks, remote=True)
        )
        if opened != fb:
            base = base if base is not None else dict(link.base)
            base[name] = opened
    if base is None:
        return record
    return replace(record, link=replace(link, base=base))


def _open(value: Value, marks: Mapping[str, Value], *, remote: bool = False) -> Value:
    if not isinstance(value, Sealed) or (remote and not value.secured):
        return value
    return marks.get(value.digest, value)


def needs_reading(link: Link, rules: Rules) -> bool:
    """The item must be read again to decide a sealed mailbox value: a private one whose field
    is no longer `none`, or a secured one whose field the owner may read again. (A secured one
    of a field still unreadable needs nothing: an Outlook edit comes with the change list.)"""
    for name, fb in link.base.items():
        rule = rules.fields.get(name)
        if not isinstance(fb.remote, Sealed) or rule is None or rule.direction == Direction.NONE:
            continue
        if rule.can_read or not fb.remote.secured:
            return True
    return False


def gather(
    *,
    links: Iterable[Link],
    crm: Mapping[str, CrmSide | Absence],
    remote_changed: Iterable[Remote],
    remote_deleted: Iterable[str] = (),
    unconfirmed: Iterable[str] = (),
    revisit: bool = False,
    lookup: Callable[[Sequence[str]], Mapping[str, CrmSide | Absence]] | None = None,
) -> list[RecordInput]:
    """Pair the observations of one run into records.

    `crm` holds the CRM records that changed, left the scope or were deleted, and every record
    in scope without an active link. `remote_changed` and
    `remote_deleted` are the connector's change list. Items are matched to links by item id,
    then by the CRM id they carry: a second item carrying an id that is already linked to a live
    item is a copy and is ignored. `unconfirmed` are items the sync created after the sync
    state the change list starts from: the list reports them as created, and says nothing of
    one deleted before it was listed, so an unlisted one is gone. A side not observed is taken
    from the status; with `revisit`
    every link is decided again (after a direction or a right changed). `lookup` is asked,
    once, for the CRM side of records the observations do not cover but that must be read
    fresh: those an unlinked item names, and suspended or untracked links whose item changed.
    """
    all_links = list(links)
    by_crm = {link.crm_id: link for link in all_links}
    by_item = {link.item_id: link for link in all_links if link.item_id}
    remote_changed = list(remote_changed)
    listed = {r.item_id for r in remote_changed}
    deleted = set(remote_deleted) | {i for i in unconfirmed if i not in listed}
    matched = _match_items(remote_changed, by_crm, by_item, deleted)
    order = _record_order(matched, by_item, deleted, crm, all_links if revisit else ())

    wanted = [
        crm_id
        for crm_id in order
        if crm_id not in crm
        and (
            crm_id in matched.candidates
            or (crm_id in matched.assigned and by_crm[crm_id].state != LinkState.ACTIVE)
        )
    ]
    looked_up = dict(lookup(wanted)) if lookup is not None and wanted else {}

    records = []
    for crm_id in order:
        link = by_crm.get(crm_id)
        crm_side = crm.get(crm_id) or looked_up.get(crm_id)
        if crm_side is None:
            crm_side = _crm_side_from_status(link)
        remote = _remote_side(crm_id, link, matched, deleted)
        records.append(RecordInput(crm_id, link, crm_side, remote))
    for item in matched.born:
        records.append(RecordInput(None, None, Absence.MISSING, item))
    return records


@dataclass
class _Matched:
    """The changed items of one run, matched: to a link (by CRM id), unlinked but naming a
    CRM record, or new."""

    assigned: dict[str, Remote] = field(default_factory=dict)
    candidates: dict[str, Remote] = field(default_factory=dict)
    born: list[Remote] = field(default_factory=list)


def _match_items(
    remote_changed: list[Remote],
    by_crm: Mapping[str, Link],
    by_item: Mapping[str, Link],
    deleted: set[str],
) -> _Matched:
    matched = _Matched()
    for item in sorted(remote_changed, key=lambda r: r.item_id):
        link = by_item.get(item.item_id)
        if link is None and item.crm_id in by_crm:
            other = by_crm[item.crm_id]
            # A link without an item id lost it when the mailbox moved to another server (EWS
            # to Graph): its item is the one carrying its CRM id there.
            moved = (
                other.state == LinkState.UNTRACKED or not other.item_id or other.item_id in deleted
            )
            if moved and item.crm_id not in matched.assigned:
                link = other
            else:
                continue  # a copy of a linked item
        if link is not None:
            matched.assigned[link.crm_id] = item
        elif item.crm_id is not None:
            matched.candidates.setdefault(item.crm_id, item)
        else:
            matched.born.append(item)
    return matched


def _record_order(
    matched: _Matched,
    by_item: Mapping[str, Link],
    deleted: set[str],
    crm: Mapping[str, CrmSide | Absence],
    revisited: Iterable[Link],
) -> dict[str, None]:
    """The CRM ids to decide, in a stable order: matched items, deleted items, CRM changes,
    unlinked items naming a record, then every link when revisiting."""
    order: dict[str, None] = dict.fromkeys(matched.assigned)
    for item_id in deleted:
        if item_id in by_item:
            order[by_item[item_id].crm_id] = None
    order.update(dict.fromkeys(crm))
    order.update(dict.fromkeys(matched.candidates))
    order.update(dict.fromkeys(link.crm_id for link in revisited))
    return order


def _crm_side_from_status(link: Link | None) -> CrmSide | Absence:
    """The CRM side of a record that was not observed this run."""
    if link is None:
        return Absence.MISSING
    if link.state == LinkState.SUSPENDED:
        return Absence.OUT_OF_SCOPE  # back in scope, it would have been observed
    return crm_from_status(link)


def _remote_side(
    crm_id: str, link: Link | None, matched: _Matched, deleted: set[str]
) -> Remote | None:
    if crm_id in matched.assigned:
        return matched.assigned[crm_id]
    if link is not None:
        gone = link.item_id in deleted or link.state == LinkState.UNTRACKED
        return None if gone or not link.item_id else remote_from_status(link)
    return matched.candidates.get(crm_id)


def plan_sync(
    records: Iterable[RecordInput],
    rules: Rules,
    policy: Policy,
    *,
    synced_items: int,
    confirmed: bool = False,
    writable: Callable[[Sequence[str]], Iterable[str]] | None = None,
) -> Plan:
    """Decide every record; refuse the whole run if it would end too many synced items.

    `synced_items` is the number of active links before the run; `confirmed` is an admin's
    go-ahead for a run the guard stopped. `writable`, given the ids of the records the plan
    would write in the CRM, answers those the owner may write (asked once): record rights
    change without touching the record, so a side taken from the status cannot know them.
    """
    records = list(records)
    plans = [decide_record(record, rules, policy) for record in records]
    if writable is not None:
        wanted = [p.crm_id for p in plans if p.crm_update and p.crm_id is not None]
        allowed = set(writable(wanted)) if wanted else set()
        for index, (record, plan) in enumerate(zip(records, plans, strict=True)):
            if plan.crm_update and plan.crm_id not in allowed:
                crm = record.crm
                assert isinstance(crm, CrmSide)
                read_only = RecordInput(
                    record.crm_id, record.link, replace(crm, writable=False), record.remote
                )
                plans[index] = decide_record(read_only, rules, policy)
    plans = [p for p in plans if not p.is_noop]
    guard = None if confirmed else mass_change_guard(plans, synced_items, policy)
    if guard is not None:
        return Plan(records=(), guard=guard)
    return Plan(records=tuple(plans))


def mass_change_guard(plans: Iterable, synced_items: int, policy: Policy) -> GuardTrip | None:
    ending = sum(1 for p in plans if p.ends_sync)
    if synced_items < policy.mass_change_min_items or ending == 0:
        return None
    if ending >= synced_items:
        return GuardTrip(
            ending,
            synced_items,
            f"one side looks empty: all {synced_items} synced items would stop syncing "
            "(a wiped mailbox or a broken filter?)",
        )
    if ending > policy.mass_change_share * synced_items:
        return GuardTrip(
            ending,
            synced_items,
            f"{ending} of {synced_items} synced items would be removed or stop syncing, more "
            f"than the {policy.mass_change_share:.0%} allowed",
        )
    return None
