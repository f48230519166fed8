"""latest_wins through the pure engine, one record at a time: the later edit wins, a tie goes to
the CRM, and the conflict keeps the base and both values whichever side won."""

from __future__ import annotations

import pytest

from fieldsync.directions import Direction
from fieldsync.engine import (
    ConflictPolicy,
    CrmSide,
    FieldBase,
    FieldRule,
    Link,
    Policy,
    RecordInput,
    Remote,
    Rules,
    decide_record,
)

RULES = Rules({"job": FieldRule(Direction.BOTH), "city": FieldRule(Direction.BOTH)})
LATEST = Policy(conflict=ConflictPolicy.LATEST_WINS)


def both_edited(crm_time: float | None, remote_time: float | None) -> RecordInput:
    """A synced contact whose job title was edited on both sides since the last sync."""
    link = Link(
        "c1", "i1", "k1", base={"job": FieldBase.same("Clerk"), "city": FieldBase.same("Oslo")}
    )
    crm = CrmSide({"job": "CRM title", "city": "Oslo"}, modified=crm_time)
    remote = Remote("i1", "k2", "c1", {"job": "Outlook title", "city": "Oslo"}, None, remote_time)
    return RecordInput("c1", link, crm, remote)


@pytest.mark.parametrize(
    ("crm_time", "remote_time", "winner"),
    [
        (1000.0, 1000.5, "exchange"),  # the Outlook edit is later
        (1000.5, 1000.0, "crm"),  # the CRM edit is later
        (1000.0, 1000.0, "crm"),  # a tie goes to the CRM
        (1000.0, None, "crm"),  # no Exchange time: the CRM, as crm_wins would
    ],
)
def test_latest_wins_takes_the_later_edit_and_records_both_values(crm_time, remote_time, winner):
    plan = decide_record(both_edited(crm_time, remote_time), RULES, LATEST)
    if winner == "exchange":
        assert dict(plan.crm_update) == {"job": "Outlook title"} and not plan.remote_update
    else:
        assert dict(plan.remote_update) == {"job": "CRM title"} and not plan.crm_update
    (conflict,) = plan.conflicts
    assert (conflict.field, conflict.base, conflict.crm_value, conflict.remote_value) == (
        "job",
        "Clerk",
        "CRM title",
        "Outlook title",
    )
    assert conflict.outcome == winner
    assert conflict.reason.startswith("latest_wins")
