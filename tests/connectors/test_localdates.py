"""Calendar dates in the mailbox's zone (connectors.localdates): all-day ends and series UNTILs
survive a round trip on every day, the daylight-saving days included."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from connectors import localdates

ZONES = st.sampled_from(
    [ZoneInfo(z) for z in ("Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC")]
)
DAYS = st.dates(datetime.date(2020, 1, 1), datetime.date(2035, 12, 31))
BERLIN = ZoneInfo("Europe/Berlin")


@given(DAYS, ZONES)
def test_the_last_day_of_an_all_day_event_comes_back_on_every_day(day, tz):
    assert localdates.all_day_last_day(localdates.all_day_end(day, tz), tz) == day


def test_the_spring_day_is_not_read_one_day_early():
    end = localdates.all_day_end(datetime.date(2027, 3, 28), BERLIN)  # 23 hours long
    assert localdates.all_day_last_day(end, BERLIN) == datetime.date(2027, 3, 28)
    # What exchangelib does, and why it is not inherited: the end (in UTC) minus 24 hours.
    utc = end.astimezone(datetime.UTC)
    assert (utc - datetime.timedelta(days=1)).astimezone(BERLIN).date() == datetime.date(
        2027, 3, 27
    )


@given(DAYS, st.times(), ZONES)
def test_a_timed_series_until_names_its_last_local_day(day, clock, tz):
    start = datetime.datetime.combine(datetime.date(2019, 6, 1), clock, tz)
    until = localdates.until_value(day, start, tz, all_day=False)
    assert until.endswith("Z") and "T" in until  # RFC 5545: a date-time UNTIL, in UTC
    assert localdates.until_date(until, tz) == day


def test_a_series_at_half_past_midnight_in_berlin_ends_on_its_local_day():
    # The last Tuesday occurrence, 00:30 in Berlin, is Monday 23:30 UTC.
    assert localdates.until_date("20270104T233000Z", BERLIN) == datetime.date(2027, 1, 5)
    start = datetime.datetime(2026, 11, 3, 0, 30, tzinfo=BERLIN)
    assert localdates.until_value(datetime.date(2027, 1, 5), start, BERLIN, all_day=False) == (
        "20270104T233000Z"
    )


@given(DAYS, ZONES)
def test_an_all_day_series_until_is_a_date(day, tz):
    until = localdates.until_value(day, None, tz, all_day=True)
    assert until == f"{day:%Y%m%d}" and localdates.until_date(until, tz) == day
