"""Expanding a series into its occurrences (connectors/rrule.py), shared by the Exchange
connector and the EWS test server."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from connectors import rrule

BERLIN = ZoneInfo("Europe/Berlin")


def test_occurrences_keep_their_wall_clock_time_across_a_clock_change():
    first = datetime.datetime(2027, 3, 22, 9, tzinfo=BERLIN)
    starts = list(rrule.occurrence_starts("FREQ=WEEKLY;BYDAY=MO;COUNT=2", first))
    assert [s.astimezone(datetime.UTC).hour for s in starts] == [8, 7]


def test_until_names_the_last_local_day():
    first = datetime.datetime(2026, 12, 7, 0, 30, tzinfo=BERLIN)
    # 23:30 UTC on the 8th is 00:30 on the 9th in Berlin: three occurrences, not two.
    starts = list(rrule.occurrence_starts("FREQ=DAILY;UNTIL=20261208T233000Z", first))
    assert [s.day for s in starts] == [7, 8, 9]


def test_the_instance_index_counts_from_one_and_knows_what_the_pattern_skips():
    first = datetime.datetime(2026, 12, 6, 9, tzinfo=BERLIN)  # a Sunday
    rule = "FREQ=WEEKLY;BYDAY=MO;COUNT=3"
    monday = datetime.datetime(2026, 12, 7, 9, tzinfo=BERLIN)
    assert rrule.instance_index(rule, first, monday) == 1
    assert rrule.instance_index(rule, first, monday + datetime.timedelta(weeks=2)) == 3
    assert rrule.instance_index(rule, first, monday + datetime.timedelta(weeks=3)) is None
    assert rrule.instance_index(rule, first, monday + datetime.timedelta(hours=1)) is None


# The canonical text: what the CRM says and what Exchange or Graph stored compare equal when they
# mean the same series.
MONDAY = datetime.date(2026, 11, 2)
SAME_SERIES = [
    "FREQ=WEEKLY;COUNT=5",
    "RRULE:FREQ=WEEKLY;INTERVAL=1;COUNT=5;BYDAY=FR,MO",
    "FREQ=WEEKLY;INTERVAL=2;WKST=SU;UNTIL=20270104T233000Z",
    "FREQ=DAILY;INTERVAL=3;COUNT=4",
    "FREQ=MONTHLY",
    "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=-1",
    "FREQ=YEARLY;BYDAY=2TU",
    "FREQ=YEARLY",
]


def test_the_canonical_text_is_the_one_exchange_and_graph_read_back():
    from connectors import recurrence
    from connectors.graph import recurrence as graph

    for rule in SAME_SERIES:
        text = rrule.canonical(rule, MONDAY)
        assert rrule.canonical(text, MONDAY) == text
        if "UNTIL" in rule:
            continue  # both read an end date back as a date-time in the series' zone
        assert recurrence.to_rrule(recurrence.to_exchange(rule, MONDAY)) == text, rule
        assert graph.to_rrule(graph.to_graph(rule, MONDAY, "Europe/Berlin")) == text, rule


def test_a_weekly_rule_without_a_day_repeats_on_the_first_days_weekday():
    assert rrule.canonical("FREQ=WEEKLY;COUNT=5", MONDAY) == "FREQ=WEEKLY;BYDAY=MO;COUNT=5"
    sunday = datetime.date(2026, 11, 8)
    assert rrule.canonical("FREQ=WEEKLY;COUNT=5", sunday) == "FREQ=WEEKLY;BYDAY=SU;COUNT=5"
    assert rrule.canonical("not a rule ", MONDAY) == "not a rule"  # compared as it is


def test_a_day_a_shorter_month_lacks_falls_on_its_last_day_as_in_outlook():
    first = datetime.datetime(2027, 1, 31, 9, tzinfo=BERLIN)
    starts = list(rrule.occurrence_starts("FREQ=MONTHLY;COUNT=4", first))
    assert [(s.month, s.day) for s in starts] == [(1, 31), (2, 28), (3, 31), (4, 30)]
    leap = datetime.datetime(2028, 2, 29, 9, tzinfo=BERLIN)
    yearly = list(rrule.occurrence_starts("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;COUNT=2", leap))
    assert [s.date() for s in yearly] == [leap.date(), datetime.date(2029, 2, 28)]
