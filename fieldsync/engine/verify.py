"""The convergence check: after the sync, do both sides of a mailbox agree on every synced field?

Pure: given the CRM side and the mailbox side of each synced record, and what is still pending,
it explains each difference (a direction, field security, a rejected value, a run still to
come) or reports it as drift, with the two values. Nothing here reads or writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from fieldsync.directions import Direction

from .merge import is_blank
from .model import FieldRule, Rules, Value

# Why a difference is not drift (the keys of Verdict.explained).
DIRECTION = "direction"  # one-way or not synchronized: the other side keeps its own
SECURITY = "field_security"  # the owner may not read or update the field, or write the record
REJECTED = "rejected_change"  # the mailbox holds a value the CRM refused, recorded as such
PENDING = "pending_run"  # changed since the last run, a failed write retried, a guard stop
NOT_HELD = "not_held"  # a field the mailbox cannot hold (counted per record, never compared)


@dataclass(frozen=True)
class Pair:
    """One synced record: its values on each side (None: that side has no such record)."""

    crm_id: str
    item_id: str
    crm: Mapping[str, Value] | None
    remote: Mapping[str, Value] | None
    pending: bool = False  # the next run still acts on this record
    writable: bool = True  # the owner may write the record (a read-only share is explained)


@dataclass(frozen=True)
class Drift:
    crm_id: str
    item_id: str
    field: str  # "*": the record is missing on one side
    crm_value: Value
    remote_value: Value


@dataclass
class Verdict:
    records: int = 0
    fields: int = 0
    explained: Counter = field(default_factory=Counter)
    drift: list[Drift] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return not self.drift


def same(a: Value, b: Value, blank: Value) -> bool:
    """Equal, counting every form of "nothing" (None, "", the field's blank) as one."""
    if a == b:
        return True
    return (a is None or a == blank) and (b is None or b == blank)


def compare(
    pairs: Iterable[Pair],
    rules: Rules,
    *,
    not_held: int = 0,
    rejected: Callable[[Pair, str, Value], bool] = lambda p, n, v: False,
) -> Verdict:
    """Compare every synced field of every pair. `rejected(pair, field, value)` says whether
    the mailbox's value is a recorded rejected change; `not_held` counts the catalog fields the
    mailbox cannot hold (never compared)."""
    verdict = Verdict()
    for pair in pairs:
        verdict.records += 1
        if not_held:
            verdict.explained[NOT_HELD] += not_held
        if pair.crm is None or pair.remote is None:
            if pair.pending:
                verdict.explained[PENDING] += 1
            else:
                crm = "(present)" if pair.crm is not None else None
                remote = "(present)" if pair.remote is not None else None
                verdict.drift.append(Drift(pair.crm_id, pair.item_id, "*", crm, remote))
            continue
        for name, rule in rules.fields.items():
            if name not in pair.crm or name not in pair.remote:
                continue
            verdict.fields += 1
            crm, remote = pair.crm[name], pair.remote[name]
            if same(crm, remote, rule.blank):
                continue
            reason = explain(pair, name, rule, remote, rejected)
            if reason:
                verdict.explained[reason] += 1
            else:
                verdict.drift.append(Drift(pair.crm_id, pair.item_id, name, crm, remote))
    return verdict


def explain(
    pair: Pair,
    name: str,
    rule: FieldRule,
    remote: Value,
    rejected: Callable[[Pair, str, Value], bool],
) -> str:
    """Why the two sides may differ on this field ("": they should not: drift)."""
    if rule.direction != Direction.BOTH:
        return DIRECTION
    if not (rule.can_read and rule.can_update and pair.writable):
        return SECURITY
    if not is_blank(remote, rule) and rejected(pair, name, remote):
        return REJECTED
    if pair.pending:
        return PENDING
    return ""
