"""RFC 5545 RRULE strings (the CRM's recurrence_pattern) to and from exchangelib recurrences.

Covers what Outlook can express: daily, weekly, monthly and yearly (by date or by nth weekday),
with an interval and an end by count, by date, or none.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NoEndPattern,
    NumberedPattern,
    Recurrence,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)

from connectors.rrule import DAYS, RecurrenceError
from connectors.rrule import nth_weekday as _nth_weekday
from connectors.rrule import parse as _parse

from . import localdates


def to_exchange(rrule: str, start: datetime.date, tz: ZoneInfo | None = None) -> Recurrence:
    """Build an exchangelib Recurrence; `start` is the first occurrence's local date. Outlook
    keeps the last occurrence's local date: a UTC UNTIL is taken to `tz` first (its UTC date is
    a day early for a series at 00:30 in Berlin)."""
    p = _parse(rrule)
    freq, interval = p["FREQ"], int(p.get("INTERVAL", "1"))
    if freq == "DAILY":
        pattern = DailyPattern(interval=interval)
    elif freq == "WEEKLY":
        days = p.get("BYDAY", DAYS[start.weekday()]).split(",")
        if any(d not in DAYS for d in days):
            raise RecurrenceError(f"Unsupported BYDAY {p.get('BYDAY')!r}")
        first = DAYS.index(p.get("WKST", "MO")) + 1
        pattern = WeeklyPattern(
            interval=interval,
            weekdays=sorted(DAYS.index(d) + 1 for d in days),
            first_day_of_week=first,
        )
    elif freq == "MONTHLY":
        if "BYDAY" in p:
            weekday, week = _nth_weekday(p["BYDAY"], p.get("BYSETPOS"))
            pattern = RelativeMonthlyPattern(interval=interval, weekday=weekday, week_number=week)
        else:
            day = int(p.get("BYMONTHDAY", str(start.day)))
            pattern = AbsoluteMonthlyPattern(interval=interval, day_of_month=day)
    elif freq == "YEARLY":
        if interval != 1:
            raise RecurrenceError("Outlook repeats yearly patterns every year only")
        month = int(p.get("BYMONTH", str(start.month)))
        if "BYDAY" in p:
            weekday, week = _nth_weekday(p["BYDAY"], p.get("BYSETPOS"))
            pattern = RelativeYearlyPattern(weekday=weekday, week_number=week, month=month)
        else:
            day = int(p.get("BYMONTHDAY", str(start.day)))
            pattern = AbsoluteYearlyPattern(day_of_month=day, month=month)
    else:
        raise RecurrenceError(f"Outlook cannot repeat {freq}")
    if "COUNT" in p:
        boundary = NumberedPattern(start=start, number=int(p["COUNT"]))
    elif "UNTIL" in p:
        until = localdates.until_date(p["UNTIL"], tz or ZoneInfo("UTC"))
        boundary = EndDatePattern(start=start, end=until)
    else:
        boundary = NoEndPattern(start=start)
    return Recurrence(pattern=pattern, boundary=boundary)


def _int(value: object) -> int:
    return int(value)  # type: ignore[call-overload]


def _interval(pattern: object) -> list[str]:
    interval = _int(getattr(pattern, "interval", 1) or 1)
    return [] if interval == 1 else [f"INTERVAL={interval}"]


def to_rrule(
    recurrence: Recurrence,
    start: datetime.datetime | None = None,
    tz: ZoneInfo | None = None,
    *,
    all_day: bool = False,
) -> str:
    """The canonical RRULE for an exchangelib Recurrence (keys in a fixed order). With the
    series' `start` and zone, a timed series ends with a UTC date-time UNTIL (RFC 5545 forbids a
    date there): its last day at its start time."""
    pat, bound = recurrence.pattern, recurrence.boundary
    parts: list[str] = []
    if isinstance(pat, DailyPattern):
        parts += ["FREQ=DAILY", *_interval(pat)]
    elif isinstance(pat, WeeklyPattern):
        days = ",".join(DAYS[_int(d) - 1] for d in sorted(_int(d) for d in pat.weekdays))
        parts += ["FREQ=WEEKLY", *_interval(pat), f"BYDAY={days}"]
        first = DAYS[_int(pat.first_day_of_week or 1) - 1]
        if first != "MO":
            parts.append(f"WKST={first}")
    elif isinstance(pat, AbsoluteMonthlyPattern):
        parts += ["FREQ=MONTHLY", *_interval(pat), f"BYMONTHDAY={pat.day_of_month}"]
    elif isinstance(pat, RelativeMonthlyPattern):
        nth = -1 if _int(pat.week_number) == 5 else _int(pat.week_number)
        day = DAYS[_int(pat.weekday) - 1] if _int(pat.weekday) <= 7 else "MO"
        parts += ["FREQ=MONTHLY", *_interval(pat), f"BYDAY={nth}{day}"]
    elif isinstance(pat, AbsoluteYearlyPattern):
        parts += ["FREQ=YEARLY", f"BYMONTH={_int(pat.month)}", f"BYMONTHDAY={pat.day_of_month}"]
    elif isinstance(pat, RelativeYearlyPattern):
        nth = -1 if _int(pat.week_number) == 5 else _int(pat.week_number)
        day = DAYS[_int(pat.weekday) - 1] if _int(pat.weekday) <= 7 else "MO"
        parts += ["FREQ=YEARLY", f"BYMONTH={_int(pat.month)}", f"BYDAY={nth}{day}"]
    else:
        raise RecurrenceError(f"Unsupported pattern {type(pat).__name__}")
    if isinstance(bound, NumberedPattern):
        parts.append(f"COUNT={bound.number}")
    elif isinstance(bound, EndDatePattern):
        last = datetime.date(bound.end.year, bound.end.month, bound.end.day)
        zone = tz or ZoneInfo("UTC")
        parts.append(f"UNTIL={localdates.until_value(last, start, zone, all_day=all_day)}")
    return ";".join(parts)
