"""Property-based tests of the pure engine: random edits on both sides, random directions and
permissions, random policies and crashes between batches, checked after every run.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fieldsync.directions import Direction
from fieldsync.engine import (
    ConflictPolicy,
    FieldRule,
    LinkState,
    Policy,
    RemoteDeletePolicy,
    Rules,
)
from fieldsync.engine.verify import Pair, compare

from .sim import Crash, CrashAt, World

ADDR_BLANK = ("", "")
FIELDS = ("subject", "notes", "job", "address")
MOSTLY_TRUE = st.sampled_from([True, True, True, False])


@st.composite
def rules_st(draw: st.DrawFn) -> Rules:
    fields = {}
    for name in FIELDS:
        blank = ADDR_BLANK if name == "address" else ""
        fields[name] = FieldRule(
            direction=draw(st.sampled_from(list(Direction))),
            can_read=draw(MOSTLY_TRUE),
            can_create=draw(MOSTLY_TRUE),
            can_update=draw(MOSTLY_TRUE),
            blank=blank,
            crm_default=blank,
        )
    return Rules(fields, can_create_entity=draw(MOSTLY_TRUE))


policy_st = st.builds(
    Policy,
    conflict=st.sampled_from(list(ConflictPolicy)),
    remote_delete=st.sampled_from(list(RemoteDeletePolicy)),
    keep_copy_on_lost_access=st.booleans(),
    mass_change_share=st.sampled_from([0.3, 0.5, 1.0]),
    mass_change_min_items=st.sampled_from([1, 3, 1000]),
)

crash_st = st.one_of(
    st.none(),
    st.builds(
        CrashAt,
        batch=st.integers(0, 3),
        phase=st.sampled_from(["record", "remote", "commit"]),
        remote_ops=st.integers(0, 2),
    ),
)


@dataclass
class Checker:
    """Runs syncs on a world and checks the contract around each one."""

    world: World
    live: set[tuple[str, object]] = field(default_factory=set)
    log: list[str] = field(default_factory=list)  # shown when a check fails

    def __post_init__(self) -> None:
        self._n = itertools.count(1)

    # -- users ---------------------------------------------------------------------------------
    def value(self, data: st.DataObject, name: str, side: str) -> object:
        if data.draw(st.integers(0, 9), label="clear?") == 0:
            return ADDR_BLANK if name == "address" else ""
        token = f"{side}{next(self._n)}"
        return (token, "city") if name == "address" else token

    def _set(self, values: dict, name: str, new: object) -> None:
        self.log.append(f"  {name}: {values.get(name)!r} -> {new!r}")
        self.live.discard((name, values.get(name)))
        if new not in ("", ADDR_BLANK):
            self.live.add((name, new))

    def _forget(self, values: dict) -> None:
        for name, value in values.items():
            self.live.discard((name, value))

    def user_actions(self, data: st.DataObject) -> None:
        w = self.world
        for _ in range(data.draw(st.integers(0, 8), label="actions")):
            kind = data.draw(
                st.sampled_from(
                    [
                        "crm_edit",
                        "crm_edit",
                        "crm_edit",
                        "remote_edit",
                        "remote_edit",
                        "remote_edit",
                        "crm_create",
                        "remote_create",
                        "crm_delete",
                        "remote_delete",
                        "scope",
                        "write access",
                    ]
                ),
                label="action",
            )
            self.log.append(kind)
            if kind == "crm_create":
                values = {n: self.value(data, n, "c") for n in FIELDS}
                for name, value in values.items():
                    self._set({}, name, value)
                w.crm_create(values)
            elif kind == "remote_create":
                values = {n: self.value(data, n, "r") for n in FIELDS}
                for name, value in values.items():
                    self._set({}, name, value)
                w.remote_create(values, tracked=data.draw(MOSTLY_TRUE, label="tracked"))
            elif kind in ("crm_edit", "crm_delete", "scope", "write access") and w.crm:
                crm_id = data.draw(st.sampled_from(sorted(w.crm)), label="record")
                rec = w.crm[crm_id]
                if kind == "crm_edit":
                    name = data.draw(st.sampled_from(FIELDS), label="field")
                    new = self.value(data, name, "c")
                    self._set(rec.values, name, new)
                    w.crm_edit(crm_id, **{name: new})
                elif kind == "crm_delete":
                    self._forget(rec.values)
                    w.crm_delete(crm_id)
                elif kind == "write access":
                    rec.writable = not rec.writable  # no change number, as for scope
                else:
                    w.set_scope(crm_id, not rec.in_scope)
                self.log.append(f"  on {crm_id}")
            elif kind in ("remote_edit", "remote_delete") and w.remote:
                item_id = data.draw(st.sampled_from(sorted(w.remote)), label="item")
                item = w.remote[item_id]
                if kind == "remote_edit":
                    name = data.draw(st.sampled_from(FIELDS), label="field")
                    new = self.value(data, name, "r")
                    self._set(item.values, name, new)
                    w.remote_edit(item_id, **{name: new})
                else:
                    self._forget(item.values)
                    w.remote_delete(item_id)
                self.log.append(f"  on {item_id}")

    # -- one run, checked ----------------------------------------------------------------------
    def sync(self, policy: Policy, crash: CrashAt | None = None, confirmed: bool = False):
        w, rules = self.world, self.world.rules
        crm_before = {i: dict(r.values) for i, r in w.crm.items()}
        writable_before = {i: r.writable for i, r in w.crm.items()}
        scope_before = {i: r.in_scope for i, r in w.crm.items()}
        remote_before = {i: (it.crm_id, dict(it.values)) for i, it in w.remote.items()}
        self.log.append(f"sync crash={crash} rules={rules.fingerprint()}")
        try:
            w.sync(policy, crash=crash, confirmed=confirmed)
        except Crash:
            self.log.append("  crashed")
            event("crashed")
        plan = w.last_plan
        if plan is not None:
            self.log.append(f"  guard={plan.guard}")
            self.log.extend(f"  {p}" for p in plan.records)
            if plan.guard:
                event("mass-change guard")
            for p in plan.records:  # what the runs covered: see --hypothesis-show-statistics
                event(p.event.value)
                if p.conflicts:
                    event("conflict")
                if p.rejected:
                    event("rejected")

        # The sync never deletes CRM data.
        assert set(crm_before) <= set(w.crm)
        for crm_id, rec in w.crm.items():
            for name, rule in rules.fields.items():
                now = rec.values[name]
                if crm_id in crm_before:
                    if now != crm_before[crm_id][name]:
                        # Neither `none` nor `to_outlook` fields, nor un-updatable ones, are
                        # ever written in the CRM from Exchange.
                        assert rule.direction in (Direction.BOTH, Direction.TO_CRM), name
                        assert rule.can_update, name
                        assert writable_before[crm_id], "a read-only record was written"
                elif now != rule.crm_default:
                    assert rules.can_create_entity
                    assert rule.direction in (Direction.BOTH, Direction.TO_CRM), name
                    assert rule.can_create, name
        for item_id, item in w.remote.items():
            for name, rule in rules.fields.items():
                now = item.values[name]
                old = remote_before[item_id][1][name] if item_id in remote_before else rule.blank
                if now != old:
                    # Neither `none` nor `to_crm` fields, nor unreadable ones, ever reach
                    # Exchange from the CRM.
                    assert rule.direction in (Direction.BOTH, Direction.TO_OUTLOOK), name
                    assert rule.can_read, name
        for item_id, (crm_id, values) in remote_before.items():
            if item_id in w.remote:
                continue
            # The sync removes only copies of records deleted or no longer readable.
            assert crm_id is not None
            assert crm_id not in w.crm or not scope_before[crm_id]
            assert not policy.keep_copy_on_lost_access or crm_id not in w.crm
            for name, rule in rules.fields.items():
                if rule.direction == Direction.NONE:  # private values go with the item
                    self.live.discard((name, values[name]))

        self.check_no_duplicates()
        self.check_nothing_lost()

    def check_no_duplicates(self) -> None:
        w = self.world
        carried = [it.crm_id for it in w.remote.values() if it.crm_id is not None]
        assert len(carried) == len(set(carried)), "two items carry the same CRM id"
        linked_items = [link.item_id for link in w.links.values() if link.item_id]
        assert len(linked_items) == len(set(linked_items)), "two records share an item"

    def check_nothing_lost(self) -> None:
        w = self.world
        present = set()
        for rec in w.crm.values():
            present.update(rec.values.items())
        for item in w.remote.values():
            present.update(item.values.items())
        for c in w.conflicts:
            present.add((c.field, c.crm_value))
            present.add((c.field, c.remote_value))
        for r in w.rejected:
            present.add((r.field, r.offered))
        lost = self.live - present
        trace = "\n".join(self.log)
        assert not lost, f"values lost without a conflict or rejected record: {lost}\n{trace}"

    def check_converged(self, policy: Policy) -> None:
        w = self.world
        for crm_id, link in w.links.items():
            if link.state != LinkState.ACTIVE:
                continue
            rec, item = w.crm[crm_id], w.remote[link.item_id]
            assert rec.in_scope and item.crm_id == crm_id
            for name, rule in w.rules.fields.items():
                if rule.direction == Direction.BOTH and rule.can_read:
                    assert rec.values[name] == item.values[name], name
        for crm_id, rec in w.crm.items():
            if rec.in_scope:
                assert crm_id in w.links, "an in-scope record is not synced"
        # And Verify, the same check the scenario suite ends with, finds no drift.
        pairs = [
            Pair(
                crm_id,
                link.item_id,
                w.crm[crm_id].values,
                w.remote[link.item_id].values,
                writable=w.crm[crm_id].writable,
            )
            for crm_id, link in w.links.items()
            if link.state == LinkState.ACTIVE
        ]
        offered = {(r.item_id, r.field, r.offered) for r in w.rejected}
        verdict = compare(pairs, w.rules, rejected=lambda p, n, v: (p.item_id, n, v) in offered)
        assert verdict.converged, f"unexplained drift: {verdict.drift}"
        refused = {r.item_id for r in w.rejected}
        for item_id, item in w.remote.items():
            if policy.tracked_category in item.categories and item.crm_id is None:
                assert item_id in refused, "a tracked item neither synced nor refused"


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), rules=rules_st(), policy=policy_st)
def test_random_edits_directions_permissions_and_crashes_keep_the_contract(
    data: st.DataObject, rules: Rules, policy: Policy
) -> None:
    checker = Checker(World(rules))
    for _ in range(data.draw(st.integers(1, 6), label="runs")):
        checker.user_actions(data)
        if data.draw(st.integers(0, 3), label="new rules?") == 0:
            checker.world.rules = data.draw(rules_st(), label="rules")
        checker.sync(policy, crash=data.draw(crash_st, label="crash"))
    # Two quiet syncs (an admin confirms any stopped run): both sides agree.
    checker.sync(policy, confirmed=True)
    checker.sync(policy, confirmed=True)
    checker.check_converged(policy)
    plan = checker.world.sync(policy, confirmed=True)
    writes = [p for p in plan.records if p.has_remote_write or p.has_crm_write]
    assert writes == [], "a quiet world keeps changing"
