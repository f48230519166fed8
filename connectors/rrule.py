"""The part of RFC 5545 RRULE handling every connector shares: parsing the CRM's
recurrence_pattern into its parts and reading an nth weekday, with the error for what Outlook
cannot represent, and the expansion of a series into its occurrences (occurrences/expand.py,
shared with the CRM). Pure: no exchangelib, no HTTP (the Exchange and Graph mappings and the
test servers build on it).
"""

from __future__ import annotations

import datetime

from occurrences.expand import RecurrenceError, occurrence_starts, parse

__all__ = [
    "DAYS",
    "RecurrenceError",
    "canonical",
    "instance_index",
    "nth_weekday",
    "occurrence_starts",
    "parse",
]

DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]  # Exchange and Graph number them 1..7 so


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
# The expansion itself (wall-clock time in the series' zone across daylight-saving changes, UNTIL
# as a local date, day 29 to 31 on a shorter month's last day) is occurrences/expand.py, which
# the CRM shares: one implementation for the CRM, the connectors and the test servers.


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
