"""The part of RFC 5545 RRULE handling every connector shares: parsing the CRM's
recurrence_pattern into its parts and reading an nth weekday, with the error for what Outlook
cannot represent. Pure: no exchangelib, no HTTP (the Exchange and Graph mappings build on it).
"""

from __future__ import annotations

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
