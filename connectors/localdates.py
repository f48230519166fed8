"""Calendar dates in a mailbox's time zone, without the one-day slips a UTC date or a 24-hour
step makes around a daylight-saving change. Plain datetime and zoneinfo; no library types.

- An all-day event ends at the local midnight after its last day (exclusive). Its inclusive last
  day is that midnight's local date minus one day, never the date of "the end minus 24 hours"
  (exchangelib's reading, one day early when the last day is the 23-hour spring day).
- A series' RRULE UNTIL (RFC 5545) is a UTC date-time when the series is timed, and a date when
  it is all-day. Outlook keeps only the local date of the last occurrence: the UNTIL's date in
  the mailbox's zone, not its UTC date (a series at 00:30 in Berlin ends the day after its UTC
  date), and back, the last day at the series' start time, in UTC.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from occurrences.expand import until_date

__all__ = ["all_day_end", "all_day_last_day", "until_date", "until_value"]

_DAY = datetime.timedelta(days=1)


def all_day_last_day(end: datetime.datetime, tz: ZoneInfo) -> datetime.date:
    """The inclusive last day of an all-day event whose exclusive end is `end` (aware)."""
    return end.astimezone(tz).date() - _DAY


def all_day_end(last_day: datetime.date, tz: ZoneInfo) -> datetime.datetime:
    """The exclusive end (the local midnight after `last_day`) of an all-day event."""
    return datetime.datetime.combine(last_day + _DAY, datetime.time(), tz)


def until_value(
    last_day: datetime.date, start: datetime.datetime | None, tz: ZoneInfo, *, all_day: bool
) -> str:
    """The RRULE UNTIL for a series whose last occurrence falls on `last_day` (local): a date for
    an all-day series; for a timed one, that day at the series' local start time, in UTC (RFC
    5545 forbids a date UNTIL when DTSTART is a date-time)."""
    if all_day or start is None:
        return f"{last_day:%Y%m%d}"
    local = datetime.datetime.combine(last_day, start.astimezone(tz).time(), tz)
    # A start time that does not exist on the last day (in the spring gap) still names that day.
    return f"{local.astimezone(datetime.UTC):%Y%m%dT%H%M%SZ}"
