"""Verify's comparison (fieldsync.engine.verify), on plain data: every difference is explained
or reported as drift with both values."""

from __future__ import annotations

from fieldsync.directions import Direction
from fieldsync.engine import FieldRule, Rules
from fieldsync.engine.verify import Drift, Pair, compare

RULES = Rules(
    {
        "job": FieldRule(Direction.BOTH),
        "notes": FieldRule(Direction.NONE),
        "dept": FieldRule(Direction.TO_OUTLOOK),
        "salary": FieldRule(Direction.BOTH, can_read=False),
        "email": FieldRule(Direction.BOTH),
    }
)


def test_agreeing_sides_and_blank_forms_are_no_difference():
    pair = Pair("c1", "i1", {"job": "CFO", "email": ""}, {"job": "CFO", "email": None})
    verdict = compare([pair], RULES)
    assert verdict.converged and verdict.records == 1 and verdict.fields == 2


def test_each_difference_is_explained_or_drift_with_both_values():
    crm = {"job": "CFO", "notes": "", "dept": "Sales", "salary": "90k", "email": "a@b.test"}
    remote = {"job": "Buyer", "notes": "private", "dept": "Ops", "salary": "", "email": "/o=X"}
    verdict = compare(
        [Pair("c1", "i1", crm, remote), Pair("c2", "i2", {"job": "x"}, None)],
        RULES,
        not_held=2,
        rejected=lambda p, name, value: (name, value) == ("email", "/o=X"),
    )
    assert verdict.explained == {
        "direction": 2,
        "field_security": 1,
        "rejected_change": 1,
        "not_held": 4,
    }
    assert verdict.drift == [
        Drift("c1", "i1", "job", "CFO", "Buyer"),
        Drift("c2", "i2", "*", "(present)", None),
    ]


def test_a_record_the_next_run_acts_on_is_pending_not_drift():
    pending = [
        Pair("c1", "i1", {"job": "CFO"}, {"job": "Buyer"}, pending=True),
        Pair("c2", "", {"job": "new"}, None, pending=True),
    ]
    verdict = compare(pending, RULES)
    assert verdict.converged and verdict.explained == {"pending_run": 2}
    read_only = compare([Pair("c1", "i1", {"job": "CFO"}, {"job": "B"}, writable=False)], RULES)
    assert read_only.converged and read_only.explained == {"field_security": 1}
