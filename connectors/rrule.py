"""The part of RFC 5545 RRULE handling every connector shares: parsing the CRM's
recurrence_pattern into its parts and reading an nth weekday, with the error for what Outlook
cannot represent, and the expansion of a series into its occurrences. Pure: no exchangelib, no
HTTP (the Exchange and Graph mappings and the EWS test server build on it).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from dateutil.rrule import rrulestr

from .localdates import until_date

DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]  # Exchange and Graph number them 1..7 so


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


def nth_weekday(value: str, setpos: str | None) -> tuple[int, int]:
    """'2TU' or ('TU', BYSETPOS=2) -> (weekday 1..7, week number 1..5 with 5 = last)."""
    day = value[-2:]
    num_text = value[:-2] or (setpos or "")
    if day not in DAYS or not num_text:
        raise RecurrenceError(f"Unsupported BYDAY {value!r}")
    num = int(num_text)
    if num == -1:
        num = 5
    if not 1 <= num <= 5:
        raise RecurrenceError(f"Unsupported week number {num}")
    return DAYS.index(day) + 1, num


# -- the canonical text -------------------------------------------------------------------------
# Outlook stores a pattern with its defaults spelled out: a weekly series without BYDAY repeats on
# its first occurrence's weekday, a monthly one without a day on its first day's date, a yearly
# one in its first day's month. The canonical text makes them explicit, drops what says nothing
# (INTERVAL=1, WKST=MO, the "RRULE:" prefix) and puts the parts in one order, so the CRM's rule
# and the one the server stored compare equal when they mean the same series.

_ORDER = ("FREQ", "INTERVAL", "BYMONTH", "BYDAY", "BYMONTHDAY", "WKST")
_ENDS = ("COUNT", "UNTIL")


def _defaults(parts: dict[str, str], start: datetime.date) -> None:
    freq = parts["FREQ"]
    if freq == "WEEKLY":
        days = parts.get("BYDAY", DAYS[start.weekday()]).split(",")
        if all(d in DAYS for d in days):
            parts["BYDAY"] = ",".join(sorted(set(days), key=DAYS.index))
    elif freq in ("MONTHLY", "YEARLY"):
        if freq == "YEARLY":
            parts.setdefault("BYMONTH", str(start.month))
        setpos = parts.get("BYSETPOS", "")
        if parts.get("BYDAY") in DAYS and setpos.lstrip("-").isdigit():
            parts["BYDAY"] = f"{int(parts.pop('BYSETPOS'))}{parts['BYDAY']}"
        if "BYDAY" not in parts:
            parts.setdefault("BYMONTHDAY", str(start.day))


def canonical(rrule: str, start: datetime.date) -> str:
    """The RRULE in the form the connectors read back, for comparing: `start` is the first
    occurrence's date in the series' zone. A rule that cannot be read is returned as it is
    (stripped), to be compared as text."""
    try:
        parts = parse(rrule)
    except RecurrenceError:
        return rrule.strip()
    if parts.get("INTERVAL") == "1":
        del parts["INTERVAL"]
    if parts.get("WKST") == "MO":
        del parts["WKST"]
    _defaults(parts, start)
    keys = [k for k in _ORDER if k in parts]
    keys += [k for k in parts if k not in _ORDER and k not in _ENDS]
    keys += [k for k in _ENDS if k in parts]
    return ";".join(f"{k}={parts[k]}" for k in keys)


# -- expansion ----------------------------------------------------------------------------------
# A series repeats at its first occurrence's wall-clock time in its own zone (09:00 in Berlin
# stays 09:00 across a daylight-saving change), as Outlook and Exchange expand it. UNTIL names
# the last occurrence's local date (localdates.until_date); day 29 to 31 of a month falls on the
# last day of a shorter month. dateutil does the calendar arithmetic.


def occurrence_starts(
    rrule: str, first: datetime.datetime, *, limit: int = 5000
) -> Iterator[datetime.datetime]:
    """The starts of a series' occurrences (aware, in `first`'s zone), at most `limit` of them;
    `first` is the first occurrence's start (aware). Occurrences the pattern skips are skipped:
    a weekly series on Mondays starting on a Sunday begins the next day."""
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


def instance_index(
    rrule: str, first: datetime.datetime, original: datetime.datetime, *, limit: int = 5000
) -> int | None:
    """The 1-based position of the occurrence starting at `original` (Exchange's InstanceIndex),
    or None when the pattern puts no occurrence there."""
    for index, moment in enumerate(occurrence_starts(rrule, first, limit=limit), start=1):
        if moment == original:
            return index
        if moment > original:
            return None
    return None
