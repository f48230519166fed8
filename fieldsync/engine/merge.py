"""The pure decision step: one field, then one record, from status and both sides to actions.

A side has "changed" when it differs from the value both sides last agreed on; the direction,
the owner's field rights and the conflict policy then decide what crosses.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace

from fieldsync.directions import Direction

from .model import (
    UNKNOWN,
    Absence,
    Conflict,
    ConflictPolicy,
    CrmSide,
    FieldBase,
    FieldRule,
    Link,
    LinkState,
    Outcome,
    Policy,
    RecordEvent,
    RecordInput,
    RecordPlan,
    Rejected,
    RejectReason,
    Remote,
    RemoteDeletePolicy,
    Rules,
    Sealed,
    Value,
    refused,
    tracked,
)

# CRM ids of records created from Exchange derive from the item id, so a re-run after a crash
# picks the same id instead of creating a second record.
_ID_NAMESPACE = uuid.UUID("5b1f6a3e-2f4d-4c1e-9a57-3c0f1d2e8b71")
NO_BASE = FieldBase(UNKNOWN, UNKNOWN, UNKNOWN)


def crm_id_for_item(item_id: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, item_id))


def is_blank(value: Value, rule: FieldRule) -> bool:
    return value is None or value is UNKNOWN or value == rule.blank


def _changed(value: Value, agreed: Value, rule: FieldRule) -> bool:
    if agreed is UNKNOWN:  # never agreed: only a side holding something has something to say
        return not is_blank(value, rule)
    return value != agreed


@dataclass(frozen=True)
class FieldDecision:
    send: bool = False  # write the CRM value to Exchange
    take: bool = False  # write the Exchange value into the CRM
    conflict: Conflict | None = None
    rejected: Rejected | None = None
    base: FieldBase = NO_BASE


def decide_field(
    name: str,
    rule: FieldRule,
    base: FieldBase | None,
    crm: Value,
    remote: Value,
    *,
    policy: Policy,
    crm_time: float | None = None,
    remote_time: float | None = None,
    crm_id: str | None = None,
    item_id: str | None = None,
    record_writable: bool = True,
) -> FieldDecision:
    """The per-field three-way merge. Never sends what the owner may not read, never takes what
    the direction or the owner's rights refuse, and records every value that loses."""
    base = base or NO_BASE
    agreed = base.agreed
    keep = FieldBase(agreed, crm, remote)
    if rule.direction == Direction.NONE:
        return FieldDecision(base=keep)
    if not rule.can_read:
        return _decide_unreadable(name, rule, base, remote, keep, crm_id, item_id)
    if crm == remote:
        return FieldDecision(base=FieldBase.same(crm))
    crm_changed = _changed(crm, agreed, rule)
    remote_changed = _changed(remote, agreed, rule)
    if not (crm_changed or remote_changed):
        return FieldDecision(base=keep)

    both = crm_changed and remote_changed
    reason = ""
    if both:
        winner, reason = _winner(rule.direction, policy, crm_time, remote_time)
    else:
        winner = Outcome.CRM if crm_changed else Outcome.EXCHANGE

    def conflict(outcome: Outcome) -> Conflict | None:
        if not both:
            return None
        return Conflict(crm_id, item_id, name, agreed, crm, remote, outcome, reason)

    if winner == Outcome.CRM:
        if rule.sends:
            return FieldDecision(
                send=True, conflict=conflict(Outcome.CRM), base=FieldBase.same(crm)
            )
        return FieldDecision(base=keep)  # nothing crosses, so nothing is lost

    if not rule.accepts:
        return FieldDecision(base=keep)  # to_outlook: the Exchange edit stays in Exchange
    problem = refused(rule, remote)
    if problem:
        # A value the CRM refuses from a user (an Exchange legacy address as an e-mail): it is
        # not written, nor put back over in Outlook; recorded once, when new.
        new = remote != base.remote
        why = f"{RejectReason.INVALID.value}: {problem}"
        return FieldDecision(
            rejected=Rejected(crm_id, item_id or "", name, remote, why) if new else None,
            base=keep,
        )
    if rule.can_update and record_writable:
        return FieldDecision(
            take=True, conflict=conflict(Outcome.EXCHANGE), base=FieldBase.same(remote)
        )
    why = RejectReason.NO_UPDATE if not rule.can_update else RejectReason.NO_WRITE
    rejected = None
    # Recorded when new, or when the revert below is about to overwrite it (a record made on
    # an earlier run is not repeated: the sink keeps one per item, field and value).
    if remote != base.remote or rule.sends:
        rejected = Rejected(crm_id, item_id or "", name, remote, why.value)
    if rule.sends:
        # Put the CRM value back in Exchange: the refused edit lives on in the rejected record.
        return FieldDecision(send=True, rejected=rejected, base=FieldBase.same(crm))
    return FieldDecision(rejected=rejected, base=keep)


def _decide_unreadable(
    name: str,
    rule: FieldRule,
    base: FieldBase,
    remote: Value,
    keep: FieldBase,
    crm_id: str | None,
    item_id: str | None,
) -> FieldDecision:
    """A field the owner may not read: the CRM's value is invisible to them, so it is never
    sent, and an Outlook edit never overwrites it (even with write-only rights: the hidden
    value would be lost with no record the owner may see). The edit is a rejected change."""
    seen = base.remote
    edited = not is_blank(remote, rule) if seen is UNKNOWN else remote != seen
    if not edited or not rule.accepts:
        return FieldDecision(base=keep)
    why = RejectReason.NO_UPDATE if not rule.can_update else RejectReason.NO_READ
    return FieldDecision(
        rejected=Rejected(crm_id, item_id or "", name, remote, why.value), base=keep
    )


def _winner(
    direction: Direction, policy: Policy, crm_time: float | None, remote_time: float | None
) -> tuple[Outcome, str]:
    if direction == Direction.TO_OUTLOOK:
        return Outcome.CRM, "direction to_outlook"
    if direction == Direction.TO_CRM:
        return Outcome.EXCHANGE, "direction to_crm"
    if policy.conflict == ConflictPolicy.CRM_WINS:
        return Outcome.CRM, policy.conflict.value
    if policy.conflict == ConflictPolicy.EXCHANGE_WINS:
        return Outcome.EXCHANGE, policy.conflict.value
    if crm_time is None or remote_time is None:
        return Outcome.CRM, "latest_wins (no timestamp: crm)"
    if remote_time > crm_time:
        return Outcome.EXCHANGE, policy.conflict.value
    return Outcome.CRM, policy.conflict.value


# -- one record ----------------------------------------------------------------------------------


def decide_record(record: RecordInput, rules: Rules, policy: Policy) -> RecordPlan:
    """The per-record decision: which side is there, what the status says, what to do."""
    link, crm, remote = record.link, record.crm, record.remote
    if link is None:
        return _unlinked(record, rules, policy)
    present = isinstance(crm, CrmSide)

    if link.state == LinkState.UNTRACKED:
        if not present and crm != Absence.OUT_OF_SCOPE:
            return _drop(link, RecordEvent.DROPPED)
        # The item came back (restored from Deleted Items), or was tracked again.
        if present and remote is not None and tracked(remote, policy) is not False:
            return _merge(record.crm_id, link, crm, remote, rules, policy, RecordEvent.RESUMED)
        if remote is not None and remote.item_id != link.item_id:
            return _status_only(link, replace(link, item_id=remote.item_id))
        return _status_only(link, link)

    if link.state == LinkState.SUSPENDED:
        if present:
            if remote is None:  # the kept copy was deleted meanwhile: start afresh
                plan = _create_remote(link.crm_id, crm, rules, policy)
                return replace(plan, event=RecordEvent.RESUMED)
            return _merge(record.crm_id, link, crm, remote, rules, policy, RecordEvent.RESUMED)
        if remote is None or crm != Absence.OUT_OF_SCOPE:
            return _drop(link, RecordEvent.DROPPED)  # the copy stays in the mailbox, unsynced
        return _status_only(link, _observe_remote(link, remote))

    # ACTIVE
    if remote is not None and tracked(remote, policy) is False:
        return _untrack_removed_category(link, remote)
    if present and remote is not None:
        return _merge(record.crm_id, link, crm, remote, rules, policy, RecordEvent.MERGED)
    if present:  # deleted in Exchange
        if policy.remote_delete == RemoteDeletePolicy.RESTORE:
            plan = _create_remote(link.crm_id, crm, rules, policy)
            return replace(plan, event=RecordEvent.RESTORED)
        return RecordPlan(
            crm_id=link.crm_id,
            item_id=link.item_id,
            change_key=link.change_key,
            event=RecordEvent.UNTRACKED,
            status=replace(link, state=LinkState.UNTRACKED),
            ends_sync=True,
        )
    if remote is None:
        return _drop(link, RecordEvent.DROPPED)
    return _remove_copy(link, crm, remote, rules, policy)


def _untrack_removed_category(link: Link, remote: Remote) -> RecordPlan:
    """The user took the tracked category off the item: it stops syncing, as Dynamics does. The
    CRM record stays as it is (nothing is deleted or cleared on either side); putting the
    category back resumes the sync, merging what changed meanwhile."""
    return RecordPlan(
        crm_id=link.crm_id,
        item_id=remote.item_id,
        change_key=remote.change_key,
        event=RecordEvent.UNTRACKED,
        status=replace(link, item_id=remote.item_id, state=LinkState.UNTRACKED),
        ends_sync=True,
    )


def _remove_copy(
    link: Link, crm: CrmSide | Absence, remote: Remote, rules: Rules, policy: Policy
) -> RecordPlan:
    """The record was deleted or the owner may no longer read it: its copy leaves the mailbox,
    or stays unsynced if the organization keeps copies of records it lost access to."""
    if crm == Absence.OUT_OF_SCOPE and policy.keep_copy_on_lost_access:
        return RecordPlan(
            crm_id=link.crm_id,
            item_id=remote.item_id,
            change_key=remote.change_key,
            event=RecordEvent.SUSPENDED,
            status=replace(_observe_remote(link, remote), state=LinkState.SUSPENDED),
            ends_sync=link.state == LinkState.ACTIVE and bool(link.base),
        )
    event = (
        RecordEvent.REMOVED_LOST_ACCESS
        if crm == Absence.OUT_OF_SCOPE
        else RecordEvent.DELETED_IN_EXCHANGE
    )
    return RecordPlan(
        crm_id=link.crm_id,
        item_id=remote.item_id,
        change_key=remote.change_key,
        event=event,
        remote_delete=True,
        conflicts=_exchange_only_values(link, remote, rules, event),
        status=None,
        ends_sync=bool(link.base),
    )


def _exchange_only_values(
    link: Link, remote: Remote, rules: Rules, event: RecordEvent
) -> tuple[Conflict, ...]:
    """Values that exist only in the Exchange item about to be removed: kept as conflicts.

    `none` fields are left out on purpose: their Exchange values are private to the mailbox.
    """
    out = []
    for name, rule in rules.fields.items():
        fb = link.base.get(name, NO_BASE)
        # An item taken from the status holds a secured field's value only as its digest.
        value = remote.values.get(name, fb.remote)
        if rule.direction == Direction.NONE or (name not in remote.values and not _secured(value)):
            continue
        if is_blank(value, rule) or _same(value, fb.agreed) or _same(value, fb.crm):
            continue
        out.append(
            Conflict(
                link.crm_id, remote.item_id, name, fb.agreed, fb.crm, value, Outcome.CRM, event
            )
        )
    return tuple(out)


def _secured(value: Value) -> bool:
    return isinstance(value, Sealed) and value.secured


def _same(a: Value, b: Value) -> bool:
    """Equal values, a sealed one standing for the value it seals (digests compared)."""
    if isinstance(a, Sealed) and isinstance(b, Sealed):
        return a.digest == b.digest
    return a == b


def _drop(link: Link, event: RecordEvent) -> RecordPlan:
    return RecordPlan(
        crm_id=link.crm_id,
        item_id=link.item_id,
        change_key=link.change_key,
        event=event,
        status=None,
    )


def _status_only(old: Link, new: Link) -> RecordPlan:
    return RecordPlan(
        crm_id=old.crm_id,
        item_id=new.item_id,
        change_key=new.change_key,
        event=RecordEvent.IGNORED,
        status=new,
        status_changed=new != old,
    )


def _observe_remote(link: Link, remote: Remote) -> Link:
    """Remember what the Exchange side holds now, keeping the agreed values."""
    base = dict(link.base)
    for name, value in remote.values.items():
        fb = base.get(name, NO_BASE)
        base[name] = FieldBase(fb.agreed, fb.crm, value)
    return replace(link, item_id=remote.item_id, change_key=remote.change_key, base=base)


def _merge(
    crm_id: str | None,
    link: Link | None,
    crm: CrmSide,
    remote: Remote,
    rules: Rules,
    policy: Policy,
    event: RecordEvent,
) -> RecordPlan:
    crm_id = crm_id or (link.crm_id if link else remote.crm_id)
    assert crm_id is not None
    old_base: Mapping = link.base if link else {}
    base = dict(old_base)
    send: dict[str, Value] = {}
    take: dict[str, Value] = {}
    conflicts, rejected = [], []
    for name, rule in rules.fields.items():
        if name not in crm.values or name not in remote.values:
            _note_crm_only(base, name, crm)
            continue  # a side that was not read says nothing about this field
        d = decide_field(
            name,
            rule,
            old_base.get(name),
            crm.values[name],
            remote.values[name],
            policy=policy,
            crm_time=crm.modified,
            remote_time=remote.modified,
            crm_id=crm_id,
            item_id=remote.item_id,
            record_writable=crm.writable,
        )
        if d.send:
            send[name] = crm.values[name]
        if d.take:
            take[name] = remote.values[name]
        if d.conflict:
            conflicts.append(d.conflict)
        if d.rejected:
            rejected.append(d.rejected)
        base[name] = d.base
    status = Link(crm_id, remote.item_id, remote.change_key, LinkState.ACTIVE, base)
    return RecordPlan(
        crm_id=crm_id,
        item_id=remote.item_id,
        change_key=remote.change_key,
        event=event,
        remote_update=send,
        stamp_crm_id=remote.crm_id != crm_id,
        crm_update=take,
        conflicts=tuple(conflicts),
        rejected=tuple(rejected),
        status=status,
        status_changed=status != link,
    )


def _note_crm_only(base: dict[str, FieldBase], name: str, crm: CrmSide) -> None:
    """A field decided on one side only (the item's value is sealed, so it was not read): the
    status still learns what the CRM holds now, which a later run takes from it when the CRM
    record has not changed again (after the field syncs again, that value must be sent)."""
    fb = base.get(name)
    if fb is not None and name in crm.values and crm.values[name] != fb.crm:
        base[name] = FieldBase(fb.agreed, crm.values[name], fb.remote)


def _create_remote(crm_id: str, crm: CrmSide, rules: Rules, policy: Policy) -> RecordPlan:
    values: dict[str, Value] = {}
    base: dict[str, FieldBase] = {}
    crm_values = crm.values
    blank_bases = rules.blank_bases
    for name, rule in rules.fields.items():
        if name not in crm_values:
            continue
        c = crm_values[name]
        blank = c is None or c == rule.blank  # is_blank, inlined: this runs per field per record
        if rule.sends and not blank:
            values[name] = c
            base[name] = FieldBase(c, c, c)
        elif c == rule.blank:
            base[name] = blank_bases[name]
        else:
            base[name] = FieldBase(UNKNOWN, c, rule.blank)
    return RecordPlan(
        crm_id=crm_id,
        item_id=None,
        change_key=None,
        event=RecordEvent.CREATED_IN_EXCHANGE,
        remote_create=values,
        remote_categories=(policy.tracked_category,) if policy.tracked_category else (),
        status=Link(crm_id, "", "", LinkState.ACTIVE, base),
    )


def _unlinked(record: RecordInput, rules: Rules, policy: Policy) -> RecordPlan:
    crm, remote = record.crm, record.remote
    if isinstance(crm, CrmSide):
        assert record.crm_id is not None
        if remote is None:
            return _create_remote(record.crm_id, crm, rules, policy)
        return _merge(record.crm_id, None, crm, remote, rules, policy, RecordEvent.ADOPTED)
    if remote is None:
        return RecordPlan(None, None, None, RecordEvent.IGNORED, status_changed=False)
    if remote.crm_id is not None and crm != Absence.MISSING:
        # A copy of a deleted or unreadable record with no status: a run that created it
        # stopped before saving its status. The rules for such copies apply to it.
        orphan = Link(remote.crm_id, remote.item_id, remote.change_key)
        return _remove_copy(orphan, crm, remote, rules, policy)
    # A tracked item naming a record that does not exist yet is a create from Exchange that
    # stopped between its two steps; an untracked one is not the sync's business.
    if not tracked(remote, policy):
        return RecordPlan(
            remote.crm_id,
            remote.item_id,
            remote.change_key,
            RecordEvent.IGNORED,
            status_changed=False,
        )
    return _create_crm(remote, rules)


def _create_crm(remote: Remote, rules: Rules) -> RecordPlan:
    if rules.one_way:
        # Nobody may bring it in, whatever their rights: nothing to reject or to resolve.
        return RecordPlan(
            None, remote.item_id, remote.change_key, RecordEvent.NOT_IMPORTED, status_changed=False
        )
    # Never the id the item names: that would let a mailbox squat another user's future
    # record id. The id derives from the item, so a resumed create finds its record again.
    new_id = crm_id_for_item(remote.item_id)
    values = {
        name: remote.values[name]
        for name, rule in rules.fields.items()
        if rule.accepts and name in remote.values and not is_blank(remote.values[name], rule)
    }
    # Values the CRM refuses are left out of the new record, each a rejected change.
    invalid = [
        Rejected(None, remote.item_id, name, value, f"{RejectReason.INVALID.value}: {problem}")
        for name, value in values.items()
        if (problem := refused(rules.fields[name], value))
    ]
    for r in invalid:
        del values[r.field]
    rejected = []
    if not rules.can_create_entity:
        rejected.append(Rejected(None, remote.item_id, "*", None, RejectReason.NO_CREATE.value))
    for name, value in values.items():
        if not rules.fields[name].can_create:
            rejected.append(
                Rejected(None, remote.item_id, name, value, RejectReason.NO_FIELD_CREATE.value)
            )
    if rejected:
        return RecordPlan(
            None,
            remote.item_id,
            remote.change_key,
            RecordEvent.CREATE_REFUSED,
            rejected=tuple(rejected),
            status_changed=False,
        )
    base: dict[str, FieldBase] = {}
    for name, rule in rules.fields.items():
        if name not in remote.values:
            continue
        x = remote.values[name]
        if name in values or x == rule.crm_default:
            base[name] = FieldBase.same(x)
        else:
            base[name] = FieldBase(UNKNOWN, rule.crm_default, x)
    return RecordPlan(
        crm_id=new_id,
        item_id=remote.item_id,
        change_key=remote.change_key,
        event=RecordEvent.CREATED_IN_CRM,
        rejected=tuple(replace(r, crm_id=new_id) for r in invalid),
        crm_create=values,
        stamp_crm_id=remote.crm_id != new_id,
        status=Link(new_id, remote.item_id, remote.change_key, LinkState.ACTIVE, base),
    )
