"""RFC 5545 RRULE strings (the CRM's recurrence_pattern) to and from Graph's patternedRecurrence.

The RRULE read back is the same canonical text the EWS connector produces (connectors.recurrence),
so a series reads the same through either connector.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from connectors import localdates
from connectors.rrule import DAYS, RecurrenceError
from connectors.rrule import nth_weekday as _nth_weekday
from connectors.rrule import parse as _parse

GRAPH_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_INDEX = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "last"}
_INDEX_BACK = {v: k for k, v in _INDEX.items()}


def to_graph(rrule: str, start: datetime.date, tz_name: str, tz: ZoneInfo | None = None) -> dict:
    """A patternedRecurrence; `start` is the first occurrence's local date. A UTC UNTIL becomes
    the last occurrence's date in the mailbox's zone `tz` (Outlook keeps a local end date)."""
    p = _parse(rrule)
    freq, interval = p["FREQ"], int(p.get("INTERVAL", "1"))
    pattern: dict = {"interval": interval}
    if freq == "DAILY":
        pattern["type"] = "daily"
    elif freq == "WEEKLY":
        days = p.get("BYDAY", DAYS[start.weekday()]).split(",")
        if any(d not in DAYS for d in days):
            raise RecurrenceError(f"Unsupported BYDAY {p.get('BYDAY')!r}")
        pattern |= {
            "type": "weekly",
            "daysOfWeek": [GRAPH_DAYS[DAYS.index(d)] for d in sorted(days, key=DAYS.index)],
            "firstDayOfWeek": GRAPH_DAYS[DAYS.index(p.get("WKST", "MO"))],
        }
    elif freq in ("MONTHLY", "YEARLY"):
        if freq == "YEARLY":
            if interval != 1:
                raise RecurrenceError("Outlook repeats yearly patterns every year only")
            pattern["month"] = int(p.get("BYMONTH", str(start.month)))
        kind = "Monthly" if freq == "MONTHLY" else "Yearly"
        if "BYDAY" in p:
            weekday, week = _nth_weekday(p["BYDAY"], p.get("BYSETPOS"))
            pattern |= {
                "type": f"relative{kind}",
                "daysOfWeek": [GRAPH_DAYS[weekday - 1]],
                "index": _INDEX[week],
            }
        else:
            pattern |= {
                "type": f"absolute{kind}",
                "dayOfMonth": int(p.get("BYMONTHDAY", str(start.day))),
            }
    else:
        raise RecurrenceError(f"Outlook cannot repeat {freq}")
    rng: dict = {"startDate": start.isoformat(), "recurrenceTimeZone": tz_name}
    if "COUNT" in p:
        rng |= {"type": "numbered", "numberOfOccurrences": int(p["COUNT"])}
    elif "UNTIL" in p:
        until = localdates.until_date(p["UNTIL"], tz or ZoneInfo("UTC"))
        rng |= {"type": "endDate", "endDate": until.isoformat()}
    else:
        rng["type"] = "noEnd"
    return {"pattern": pattern, "range": rng}


def _day(name: str) -> str:
    return DAYS[GRAPH_DAYS.index(name)]


def to_rrule(
    recurrence: dict,
    start: datetime.datetime | None = None,
    tz: ZoneInfo | None = None,
    *,
    all_day: bool = False,
) -> str:
    """The canonical RRULE of a patternedRecurrence (RecurrenceError if it is not one). With the
    series' `start` and zone, a timed series ends with a UTC date-time UNTIL (RFC 5545 forbids a
    date there): its last day at its start time."""
    try:
        pattern, rng = recurrence["pattern"], recurrence["range"]
        kind = pattern["type"]
        interval = int(pattern.get("interval") or 1)
        step = [] if interval == 1 else [f"INTERVAL={interval}"]
        parts: list[str]
        if kind == "daily":
            parts = ["FREQ=DAILY", *step]
        elif kind == "weekly":
            days = sorted((_day(d) for d in pattern.get("daysOfWeek") or []), key=DAYS.index)
            parts = ["FREQ=WEEKLY", *step, f"BYDAY={','.join(days)}"]
            first = _day(pattern.get("firstDayOfWeek") or "monday")
            if first != "MO":
                parts.append(f"WKST={first}")
        elif kind == "absoluteMonthly":
            parts = ["FREQ=MONTHLY", *step, f"BYMONTHDAY={pattern['dayOfMonth']}"]
        elif kind == "relativeMonthly":
            nth = _INDEX_BACK[pattern.get("index") or "first"]
            day = _day(pattern["daysOfWeek"][0])
            parts = ["FREQ=MONTHLY", *step, f"BYDAY={-1 if nth == 5 else nth}{day}"]
        elif kind == "absoluteYearly":
            parts = ["FREQ=YEARLY", f"BYMONTH={pattern['month']}"]
            parts.append(f"BYMONTHDAY={pattern['dayOfMonth']}")
        elif kind == "relativeYearly":
            nth = _INDEX_BACK[pattern.get("index") or "first"]
            day = _day(pattern["daysOfWeek"][0])
            parts = ["FREQ=YEARLY", f"BYMONTH={pattern['month']}"]
            parts.append(f"BYDAY={-1 if nth == 5 else nth}{day}")
        else:
            raise RecurrenceError(f"Unsupported pattern {kind}")
        if rng.get("type") == "numbered":
            parts.append(f"COUNT={rng['numberOfOccurrences']}")
        elif rng.get("type") == "endDate":
            last = datetime.date.fromisoformat(rng["endDate"])
            zone = tz or ZoneInfo("UTC")
            parts.append(f"UNTIL={localdates.until_value(last, start, zone, all_day=all_day)}")
        return ";".join(parts)
    except (KeyError, IndexError, ValueError, TypeError) as e:
        raise RecurrenceError(f"Unreadable recurrence {recurrence!r}: {e}") from e
