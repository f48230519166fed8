"""Clicking the arrow cycles through the allowed directions only."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldsync.directions import CYCLE, Direction, next_direction, parse_direction


def test_full_cycle_when_every_direction_is_allowed():
    seen, d = [], Direction.BOTH
    for _ in range(4):
        d = next_direction(d, CYCLE)
        seen.append(d)
    assert seen == [Direction.TO_OUTLOOK, Direction.TO_CRM, Direction.NONE, Direction.BOTH]


def test_skips_directions_the_field_does_not_allow():
    allowed = [Direction.BOTH, Direction.NONE]
    assert next_direction(Direction.BOTH, allowed) is Direction.NONE
    assert next_direction(Direction.NONE, allowed) is Direction.BOTH


def test_single_allowed_direction_stays_put():
    assert next_direction(Direction.TO_OUTLOOK, [Direction.TO_OUTLOOK]) is Direction.TO_OUTLOOK


@given(st.sets(st.sampled_from(CYCLE), min_size=1), st.sampled_from(CYCLE))
def test_clicking_len_allowed_times_returns_and_visits_only_allowed(allowed, start):
    d = start if start in allowed else next_direction(start, allowed)
    visited = set()
    for _ in range(len(allowed)):
        d = next_direction(d, allowed)
        visited.add(d)
    assert visited == allowed


def test_unknown_direction_message_lists_valid_values():
    with pytest.raises(ValueError, match="valid: both, to_outlook, to_crm, none"):
        parse_direction("sideways")
