"""A whole small world for the pure engine: a CRM with change numbers and tombstones, a mailbox
with a change log, the status store, and a plan sink that can crash between any two steps.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fieldsync.engine import (
    Absence,
    Conflict,
    CrmSide,
    Link,
    LinkState,
    Plan,
    Policy,
    RecordPlan,
    Rejected,
    Remote,
    RemoteResult,
    Rules,
    apply_plan,
    gather,
    needs_reading,
    plan_sync,
    seal_private,
    seal_unreadable,
    sealed_crm,
    unseal,
)


class Crash(Exception):
    """The worker died here."""


@dataclass(frozen=True)
class CrashAt:
    batch: int
    phase: str  # "record" | "remote" | "commit": the crash comes right after this step
    remote_ops: int = 10**9  # with phase "remote": how many Exchange writes got through


@dataclass
class CrmRec:
    values: dict
    change_no: int
    modified: float
    in_scope: bool = True
    writable: bool = True  # the owner may write it (e.g. shared read-only when False)


@dataclass
class Item:
    crm_id: str | None
    categories: tuple[str, ...]
    values: dict
    change_key: int
    seq: int
    modified: float
    created_seq: int = 0


@dataclass
class World:
    rules: Rules
    crm: dict[str, CrmRec] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)
    remote: dict[str, Item] = field(default_factory=dict)
    deleted_items: dict[str, tuple[int, int]] = field(default_factory=dict)  # created, deleted
    links: dict[str, Link] = field(default_factory=dict)
    conflicts: dict[Conflict, None] = field(default_factory=dict)
    rejected: dict[Rejected, None] = field(default_factory=dict)
    crm_cursor: int = 0
    remote_state: int = 0
    guard_trips: int = 0
    last_plan: Plan | None = None
    synced_rules: str = ""  # the rules' fingerprint at the last complete run
    unconfirmed: list[str] = field(default_factory=list)  # created after remote_state
    # As the service stores statuses: values of fields the owner may not read as digests too
    # (else only private `none` values), opened again by unseal, resealed after a rights change.
    seal_secured: bool = False

    def __post_init__(self) -> None:
        self._change = itertools.count(1)
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)
        self.change_no = 0
        self.seq = 0

    # -- what users do -------------------------------------------------------------------------
    def next_change(self) -> int:
        self.change_no = next(self._change)
        return self.change_no

    def next_seq(self) -> int:
        self.seq = next(self._seq)
        return self.seq

    def tick(self) -> float:
        return float(next(self._clock))

    def blank_values(self) -> dict:
        return {name: rule.blank for name, rule in self.rules.fields.items()}

    def crm_create(self, values: Mapping | None = None, crm_id: str | None = None) -> str:
        crm_id = crm_id or f"c{next(self._ids)}"
        vals = {name: rule.crm_default for name, rule in self.rules.fields.items()}
        vals.update(values or {})
        self.crm[crm_id] = CrmRec(vals, self.next_change(), self.tick())
        return crm_id

    def crm_edit(self, crm_id: str, **values: object) -> None:
        rec = self.crm[crm_id]
        rec.values.update(values)
        rec.change_no = self.next_change()
        rec.modified = self.tick()

    def crm_delete(self, crm_id: str) -> None:
        del self.crm[crm_id]
        self.tombstones[crm_id] = self.next_change()

    def set_scope(self, crm_id: str, in_scope: bool) -> None:
        # Sharing changes do not touch the record: no change number (as in the real CRM).
        self.crm[crm_id].in_scope = in_scope

    def remote_create(
        self, values: Mapping | None = None, *, tracked: bool = True, crm_id: str | None = None
    ) -> str:
        item_id = f"i{next(self._ids)}"
        vals = self.blank_values()
        vals.update(values or {})
        cats = ("Tracked to CRM",) if tracked else ()
        seq = self.next_seq()
        self.remote[item_id] = Item(crm_id, cats, vals, 1, seq, self.tick(), created_seq=seq)
        return item_id

    def remote_edit(self, item_id: str, **values: object) -> None:
        item = self.remote[item_id]
        item.values.update(values)
        item.change_key += 1
        item.seq = self.next_seq()
        item.modified = self.tick()

    def remote_delete(self, item_id: str) -> None:
        item = self.remote.pop(item_id)
        self.deleted_items[item_id] = (item.created_seq, self.next_seq())

    # -- reading -------------------------------------------------------------------------------
    def item_for(self, crm_id: str) -> Item | None:
        link = self.links.get(crm_id)
        return self.remote.get(link.item_id) if link else None

    def items_carrying(self, crm_id: str) -> list[str]:
        return [i for i, item in self.remote.items() if item.crm_id == crm_id]

    def _remote(self, item_id: str, item: Item) -> Remote:
        return Remote(
            item_id,
            str(item.change_key),
            item.crm_id,
            dict(item.values),
            item.categories,
            item.modified,
        )

    def observe(self) -> tuple[dict, list[Remote], list[str]]:
        """What the service reads: CRM changes since the cursor plus scope changes, and the
        mailbox's change list since the saved sync state."""
        crm: dict[str, CrmSide | Absence] = {}
        for crm_id, rec in self.crm.items():
            link = self.links.get(crm_id)
            if rec.in_scope:
                fresh = link is None or link.state == LinkState.SUSPENDED
                if rec.change_no > self.crm_cursor or fresh:
                    crm[crm_id] = CrmSide(dict(rec.values), rec.modified, rec.writable)
            elif link is not None and link.state == LinkState.ACTIVE:
                crm[crm_id] = Absence.OUT_OF_SCOPE
        for crm_id, number in self.tombstones.items():
            if number > self.crm_cursor and crm_id not in self.crm:
                crm[crm_id] = Absence.DELETED
        changed = [
            self._remote(i, item) for i, item in self.remote.items() if item.seq > self.remote_state
        ]
        # As Exchange's SyncFolderItems: a deletion is reported only for an item the saved
        # state had seen; one created and deleted since is not mentioned at all.
        deleted = [
            i
            for i, (created, gone) in self.deleted_items.items()
            if created <= self.remote_state < gone
        ]
        return crm, changed, deleted

    def lookup(self, crm_ids: Sequence[str]) -> dict[str, CrmSide | Absence]:
        out: dict[str, CrmSide | Absence] = {}
        for crm_id in crm_ids:
            rec = self.crm.get(crm_id)
            if rec is None:
                out[crm_id] = Absence.DELETED if crm_id in self.tombstones else Absence.MISSING
            elif not rec.in_scope:
                out[crm_id] = Absence.OUT_OF_SCOPE
            else:
                out[crm_id] = CrmSide(dict(rec.values), rec.modified, rec.writable)
        return out

    # -- one sync run --------------------------------------------------------------------------
    def sync(
        self,
        policy: Policy,
        *,
        crash: CrashAt | None = None,
        confirmed: bool = False,
        revisit: bool | None = None,
        batch_size: int = 3,
    ) -> Plan:
        crm_mark, remote_mark = self.change_no, self.seq
        fingerprint = self.rules.fingerprint()
        if revisit is None:  # as the service does: directions or rights changed since
            revisit = bool(self.links) and fingerprint != self.synced_rules
        crm, changed, deleted = self.observe()
        if revisit:  # as the service does: read again the items whose private values changed rules
            seen = {r.item_id for r in changed}
            for link in self.links.values():
                item = self.remote.get(link.item_id)
                if item and link.item_id not in seen and needs_reading(link, self.rules):
                    changed.append(self._remote(link.item_id, item))
            if self.seal_secured:  # and the records whose CRM values were sealed
                again = [i for i, link in self.links.items() if sealed_crm(link, self.rules)]
                for crm_id, side in self.lookup([i for i in again if i not in crm]).items():
                    if isinstance(side, CrmSide):
                        crm[crm_id] = side
        records = gather(
            links=self.links.values(),
            crm=crm,
            remote_changed=changed,
            remote_deleted=deleted,
            unconfirmed=self.unconfirmed,
            revisit=revisit,
            lookup=self.lookup,
        )
        if self.seal_secured:
            records = [unseal(r, _digest) for r in records]
            if revisit:  # a run the guard stops reseals too
                self.links = {
                    i: seal_unreadable(k, self.rules, _digest) for i, k in self.links.items()
                }
        synced = sum(1 for link in self.links.values() if link.state == LinkState.ACTIVE)
        plan = plan_sync(
            records,
            self.rules,
            policy,
            synced_items=synced,
            confirmed=confirmed,
            writable=lambda ids: [i for i in ids if i in self.crm and self.crm[i].writable],
        )
        self.last_plan = plan
        if plan.guard is not None:
            self.guard_trips += 1
            return plan
        sink = _Sink(self, crash)
        sink.listed_new = {
            r.item_id for r in changed if self.remote[r.item_id].created_seq > self.remote_state
        }
        apply_plan(plan, sink, batch_size=batch_size)
        self.crm_cursor, self.remote_state = crm_mark, remote_mark
        self.unconfirmed = sink.created
        self.synced_rules = fingerprint
        return plan


def _digest(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()


class _Sink:
    def __init__(self, world: World, crash: CrashAt | None) -> None:
        self.w = world
        self.crash = crash
        self.batch = -1
        self.created: list[str] = []
        self.listed_new: set[str] = set()

    def _maybe_crash(self, phase: str) -> None:
        if self.crash and self.crash.batch == self.batch and self.crash.phase == phase:
            raise Crash(f"batch {self.batch} after {phase}")

    def record(self, batch: Sequence[RecordPlan]) -> None:
        self.batch += 1
        for plan in batch:
            for c in plan.conflicts:
                self.w.conflicts[c] = None
            for r in plan.rejected:
                self.w.rejected[r] = None
        self._maybe_crash("record")

    def remote(self, batch: Sequence[RecordPlan]) -> dict[int, RemoteResult]:
        w = self.w
        results: dict[int, RemoteResult] = {}
        ops = 0
        for index, plan in enumerate(batch):
            if not plan.has_remote_write:
                continue
            crash = self.crash
            here = crash is not None and (crash.batch, crash.phase) == (self.batch, "remote")
            if here and ops >= crash.remote_ops:
                raise Crash(f"batch {self.batch} during Exchange writes")
            ops += 1
            if plan.remote_create is not None:
                item_id = w.remote_create(plan.remote_create, tracked=False, crm_id=plan.crm_id)
                w.remote[item_id].categories = plan.remote_categories
                self.created.append(item_id)
                results[index] = RemoteResult(True, item_id, "1")
            elif plan.remote_delete:
                if plan.item_id in w.remote:
                    w.remote_delete(plan.item_id)
                results[index] = RemoteResult(True, plan.item_id, None)
            else:
                item = w.remote.get(plan.item_id or "")
                if item is None:
                    results[index] = RemoteResult(False, error="ErrorItemNotFound")
                elif str(item.change_key) != plan.change_key:
                    results[index] = RemoteResult(False, error="ErrorIrresolvableConflict")
                else:
                    if plan.stamp_crm_id:
                        item.crm_id = plan.crm_id
                    w.remote_edit(plan.item_id, **plan.remote_update)
                    results[index] = RemoteResult(True, plan.item_id, str(item.change_key))
        self._maybe_crash("remote")
        return results

    def commit(self, batch: Sequence[tuple[RecordPlan, Link | None]]) -> None:
        w = self.w
        for plan, status in batch:
            if plan.crm_create is not None:
                w.crm_create(plan.crm_create, crm_id=plan.crm_id)
            if plan.crm_update:
                w.crm_edit(plan.crm_id, **plan.crm_update)
            if plan.crm_id is None:
                continue
            if status is None:
                w.links.pop(plan.crm_id, None)
            else:
                status = seal_private(status, w.rules, _digest)
                if w.seal_secured:
                    status = seal_unreadable(status, w.rules, _digest)
                w.links[plan.crm_id] = status
                # Newer than the saved sync state: remembered with the status (see gather).
                if plan.remote_create is not None or status.item_id in self.listed_new:
                    w.unconfirmed.append(status.item_id)
        self._maybe_crash("commit")
