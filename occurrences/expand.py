"""Expanding an RFC 5545 RRULE into a series' occurrence starts, as Outlook does.

A series repeats at its first occurrence's wall-clock time in its own zone (09:00 in Berlin
stays 09:00 across a daylight-saving change, so 07:00 UTC in summer and 08:00 UTC in winter).
UNTIL names the last occurrence's local date (`until_date`); day 29 to 31 of a month falls on the
last day of a shorter month (RFC 5545 and dateutil skip that month), and so does a yearly
29 February in a common year. dateutil does the calendar arithmetic.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr


class RecurrenceError(ValueError):
    """An RRULE Outlook cannot represent (e.g. FREQ=HOURLY or BYDAY with several nth weekdays)."""


def parse(rrule: str) -> dict[str, str]:
    """'RRULE:FREQ=WEEKLY;BYDAY=MO' -> {'FREQ': 'WEEKLY', 'BYDAY': 'MO'} (keys upper-cased)."""
    text = rrule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    parts: dict[str, str] = {}
    for chunk in filter(None, text.split(";")):
        key, sep, value = chunk.partition("=")
        if not sep:
            raise RecurrenceError(f"Malformed RRULE part {chunk!r}")
        parts[key.strip().upper()] = value.strip().upper()
    if "FREQ" not in parts:
        raise RecurrenceError("RRULE needs FREQ")
    return parts


def until_date(until: str, tz: ZoneInfo) -> datetime.date:
    """The local date of a series' last occurrence from an RRULE UNTIL value: a UTC date-time
    (...Z) is taken to the series' zone, a floating one is local already, a date is a date."""
    text = until.strip().upper()
    day = datetime.datetime.strptime(text[:8], "%Y%m%d").date()
    if "T" not in text:
        return day
    clock = datetime.datetime.strptime(text[9:15].ljust(6, "0"), "%H%M%S").time()
    moment = datetime.datetime.combine(day, clock)
    if text.endswith("Z"):
        return moment.replace(tzinfo=datetime.UTC).astimezone(tz).date()
    return moment.date()


def occurrence_starts(
    rrule: str, first: datetime.datetime, *, limit: int = 5000
) -> Iterator[datetime.datetime]:
    """The starts of a series' occurrences (aware, in `first`'s zone), at most `limit` of them;
    `first` is the first occurrence's start, aware and in the series' zone. Occurrences the
    pattern skips are skipped: a weekly series on Mondays starting on a Sunday begins the next
    day. RecurrenceError (a ValueError) for a pattern that cannot be read."""
    tz = first.tzinfo
    parts = parse(rrule)
    until = until_date(parts.pop("UNTIL"), tz) if "UNTIL" in parts else None  # type: ignore[arg-type]
    _last_day_when_shorter(parts, first)
    text = ";".join(f"{key}={value}" for key, value in parts.items())
    rule = rrulestr(text, dtstart=first.replace(tzinfo=None))
    for count, moment in enumerate(rule):
        if count >= limit or (until is not None and moment.date() > until):
            return
        yield moment.replace(tzinfo=tz)


def has_occurrence(
    rrule: str, first: datetime.datetime, start: datetime.datetime, *, limit: int = 5000
) -> bool:
    """Whether the series puts an occurrence at `start` (aware, any zone). False for a pattern
    that cannot be read."""
    try:
        for moment in occurrence_starts(rrule, first, limit=limit):
            if moment == start:
                return True
            if moment > start:
                return False
    except (ValueError, TypeError):
        return False
    return False


def _last_day_when_shorter(parts: dict[str, str], first: datetime.datetime) -> None:
    """Outlook's day 29, 30 or 31 of a month falls on the month's last day when it has fewer
    days (RFC 5545 skips the month): the day or the last of the days before it that exist."""
    if parts["FREQ"] not in ("MONTHLY", "YEARLY") or "BYDAY" in parts or "BYSETPOS" in parts:
        return
    day = int(parts.get("BYMONTHDAY", first.day))
    if not 28 < day <= 31:
        return
    parts["BYMONTHDAY"] = ",".join(str(d) for d in range(28, day + 1))
    parts["BYSETPOS"] = "-1"
    if parts["FREQ"] == "YEARLY":
        parts.setdefault("BYMONTH", str(first.month))
