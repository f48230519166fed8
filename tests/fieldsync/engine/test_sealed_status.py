"""Sealing the status changes nothing the sync decides.

The service stores every value of a field the mailbox owner may not read (the CRM's and the
mailbox's own) only as a digest, and opens it again where a side still holds that value. Two
worlds get the same random edits, directions and rights (read rights revoked and given back
included): one keeps those values in clear, the other sealed as the service does. After every
run both must hold the same records and items, the same links, and the same conflicts and
rejected changes (compared through their digests: a sealed value stands for the value it seals).
"""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldsync.engine import UNKNOWN, Conflict, FieldRule, Policy, Rules, Sealed

from .sim import World
from .test_properties import ADDR_BLANK, FIELDS, policy_st, rules_st


def _mark(value: object) -> str:
    """A value as the comparison sees it: its digest (the sim's), sealed or not."""
    if isinstance(value, Sealed):
        return value.digest
    return hashlib.sha256(repr(value).encode()).hexdigest()


def _conflict(c: Conflict) -> tuple:
    values = (_mark(c.base), _mark(c.crm_value), _mark(c.remote_value))
    return (str(c.crm_id), str(c.item_id), c.field, c.outcome, str(c.reason), *values)


def _state(w: World) -> dict[str, object]:
    return {
        "crm": {i: dict(r.values) for i, r in w.crm.items()},
        "remote": {i: (it.crm_id, dict(it.values)) for i, it in w.remote.items()},
        "links": {i: (k.item_id, k.state) for i, k in w.links.items()},
        "conflicts": sorted(_conflict(c) for c in w.conflicts),
        "rejected": sorted(
            (str(r.crm_id), r.item_id, r.field, _mark(r.offered), r.reason) for r in w.rejected
        ),
        "guard_trips": w.guard_trips,
    }


def _value(data: st.DataObject, name: str, token: str) -> object:
    if data.draw(st.integers(0, 5), label="blank?") == 0:
        return ADDR_BLANK if name == "address" else ""
    return (token, "city") if name == "address" else token


def _rights_flipped(rules: Rules, data: st.DataObject) -> Rules:
    """The same directions with the read right of one field revoked or given back (what
    unseals and reseals), or new rules altogether."""
    if data.draw(st.booleans(), label="all new rules?"):
        return data.draw(rules_st(), label="rules")
    name = data.draw(st.sampled_from(FIELDS), label="field")
    old = rules.fields[name]
    flipped = FieldRule(
        old.direction,
        can_read=not old.can_read,
        can_create=old.can_create,
        can_update=old.can_update,
        blank=old.blank,
        crm_default=old.crm_default,
    )
    return Rules({**rules.fields, name: flipped}, rules.can_create_entity)


def _act(worlds: tuple[World, World], data: st.DataObject, n: int) -> None:
    """One user action, done alike in both worlds (their ids and clocks run alike)."""
    a = worlds[0]
    kind = data.draw(
        st.sampled_from(
            ["crm_edit", "crm_edit", "remote_edit", "remote_edit", "create", "delete", "scope"]
            + ["rights"] * 2
        ),
        label="action",
    )
    if kind == "rights":
        rules = _rights_flipped(a.rules, data)
        for w in worlds:
            w.rules = rules
    elif kind == "create":
        side = data.draw(st.sampled_from(["crm", "remote"]), label="side")
        values = {name: _value(data, name, f"{side}{n}") for name in FIELDS}
        for w in worlds:
            w.crm_create(dict(values)) if side == "crm" else w.remote_create(dict(values))
    elif kind in ("crm_edit", "scope") and a.crm:
        crm_id = data.draw(st.sampled_from(sorted(a.crm)), label="record")
        name = data.draw(st.sampled_from(FIELDS), label="field")
        value = _value(data, name, f"c{n}")
        for w in worlds:
            if kind == "scope":
                w.set_scope(crm_id, not w.crm[crm_id].in_scope)
            else:
                w.crm_edit(crm_id, **{name: value})
    elif kind == "remote_edit" and a.remote:
        item_id = data.draw(st.sampled_from(sorted(a.remote)), label="item")
        name = data.draw(st.sampled_from(FIELDS), label="field")
        value = _value(data, name, f"r{n}")
        for w in worlds:
            w.remote_edit(item_id, **{name: value})
    elif kind == "delete" and a.remote:
        item_id = data.draw(st.sampled_from(sorted(a.remote)), label="item")
        for w in worlds:
            w.remote_delete(item_id)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data(), rules=rules_st(), policy=policy_st)
def test_a_sealed_status_decides_as_a_clear_one(
    data: st.DataObject, rules: Rules, policy: Policy
) -> None:
    clear, sealed = World(rules), World(rules, seal_secured=True)
    worlds = (clear, sealed)
    n = 0
    for run in range(data.draw(st.integers(1, 6), label="runs")):
        for _ in range(data.draw(st.integers(0, 6), label="actions")):
            n += 1
            _act(worlds, data, n)
        confirmed = data.draw(st.booleans(), label="confirmed")
        for w in worlds:
            w.sync(policy, confirmed=confirmed)
        assert _state(sealed) == _state(clear), f"run {run}"
    # And the sealed world keeps no value of a field its owner may not read in clear.
    for link in sealed.links.values():
        for name, fb in link.base.items():
            if sealed.rules.fields[name].can_read:
                continue
            for value in (fb.agreed, fb.crm, fb.remote):
                assert isinstance(value, Sealed) or value in ("", ADDR_BLANK, UNKNOWN), name
