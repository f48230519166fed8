"""A recurring series' changed and cancelled occurrences on Exchange, in the CRM's terms (the
column "exceptions": a list of {original_start, cancelled, start, end, subject, location,
description}, None meaning "as the series").

Reading: the master's DeletedOccurrences are the cancelled occurrences; its ModifiedOccurrences
name the changed ones, whose subject, location and body are read with one GetItem for all the
masters of a page. A changed occurrence that no longer differs from the series reads as none
(EWS cannot make an exception an occurrence again).

Writing: an occurrence is addressed by its InstanceIndex, its 1-based position in the pattern
(connectors/rrule.py expands the RRULE from the series' first start in the item's zone). A
cancelled one is deleted (DeleteItem), a changed one updated (UpdateItem, every override
written, the series' value where the CRM has none). One the CRM puts back to the pattern is
updated back to the series' values when it was changed; when it was deleted, EWS cannot bring it
back: the recurrence is written again (Exchange then drops every exception) and the remaining
exceptions are applied anew. The same happens when an update sets the series' recurrence or
moves its start, which clears its exceptions in Exchange too.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from .. import rrule
from . import fields as xf

EXCEPTIONS = "exceptions"
# What the series says of an occurrence, to compare an exception with and to go back to.
SERIES_COLUMNS = ("subject", "location", "description", "scheduled_start", "scheduled_end")
# What is read of a changed occurrence.
OCCURRENCE_ATTRS = [
    "subject",
    "location",
    "body",
    "start",
    "end",
    "is_all_day",
    "_start_timezone",
    "_end_timezone",
]
_TEXTS = ("subject", "location", "description")
STALE = "The series changed in Exchange since it was read: its occurrences were not written."


def is_master(item: object) -> bool:
    return getattr(item, "recurrence", None) is not None


def modified_refs(items: Sequence[object]) -> list[tuple[str, str | None]]:
    """The ids of the changed occurrences of these items' series, to read in one batch."""
    return [
        (occ.id, None)
        for item in items
        if is_master(item)
        for occ in getattr(item, "modified_occurrences", None) or ()
    ]


def _aware(value: object) -> datetime.datetime:
    """A plain aware datetime in UTC (from exchangelib's or the CRM's)."""
    return datetime.datetime.fromtimestamp(value.timestamp(), datetime.UTC)  # type: ignore[attr-defined]


def read(item: object, fetched: Mapping[str, object], reader: xf.Reader) -> list[dict]:
    """The series' exceptions; `fetched`: its changed occurrences read, by id."""
    if not is_master(item):
        return []
    series = reader.read("calendar", item, SERIES_COLUMNS)
    length = series["scheduled_end"] - series["scheduled_start"]  # type: ignore[operator]
    out = [
        _entry(_aware(d.start), cancelled=True)
        for d in getattr(item, "deleted_occurrences", None) or ()
    ]
    for occ in getattr(item, "modified_occurrences", None) or ():
        original = _aware(occ.original_start)
        got = fetched.get(occ.id)
        if got is None:  # not readable: its times from the master's list, texts as the series
            values = {"scheduled_start": _aware(occ.start), "scheduled_end": _aware(occ.end)}
        else:
            values = reader.read("calendar", got, SERIES_COLUMNS)
        texts = {c: None if values.get(c) in (None, series[c]) else values[c] for c in _TEXTS}
        start, end = values["scheduled_start"], values["scheduled_end"]
        if start == original and end == original + length and not any(texts.values()):
            continue  # changed back to the series: no exception
        out.append(_entry(original, cancelled=False, start=start, end=end, **texts))
    return sorted(out, key=lambda e: e["original_start"])


def _entry(original: datetime.datetime, *, cancelled: bool, **values: object) -> dict:
    entry = {
        "original_start": original,
        "cancelled": cancelled,
        "start": None,
        "end": None,
        "subject": None,
        "location": None,
        "description": None,
    }
    entry.update(values)
    return entry


@dataclass
class Plan:
    """What to send for one series: rewrite its recurrence first, then delete and update
    occurrences by InstanceIndex (values in the CRM's columns)."""

    rewrite: bool = False
    deletes: list[int] = field(default_factory=list)
    updates: list[tuple[int, dict[str, object]]] = field(default_factory=list)
    not_in_pattern: list[datetime.datetime] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.rewrite or self.deletes or self.updates)


@dataclass
class Series:
    """The series as it will be once its own update is applied."""

    rule: str
    first: datetime.datetime  # the first start, in the item's zone
    values: dict[str, object]  # SERIES_COLUMNS and is_all_day_event


def series_of(values: Mapping[str, object], zone: ZoneInfo) -> Series | None:
    """The series these values describe (None: not recurring)."""
    rule = str(values.get("recurrence_pattern") or "")
    start = values.get("scheduled_start")
    if not rule or not isinstance(start, datetime.datetime):
        return None
    return Series(rule, start.astimezone(zone), dict(values))


def current(item: object) -> tuple[set[datetime.datetime], set[datetime.datetime]]:
    """(changed, cancelled) original starts the master holds now."""
    changed = {_aware(o.original_start) for o in getattr(item, "modified_occurrences", None) or ()}
    cancelled = {_aware(d.start) for d in getattr(item, "deleted_occurrences", None) or ()}
    return changed, cancelled


def plan(
    series: Series,
    desired: Sequence[Mapping[str, object]],
    held: tuple[set[datetime.datetime], set[datetime.datetime]],
    *,
    cleared: bool,
) -> Plan:
    """The operations that make the master's exceptions `desired`, from what it `held`
    (nothing when its own update clears them)."""
    changed, cancelled = (set(), set()) if cleared else held
    wanted = {_aware(e["original_start"]): e for e in desired}
    out = Plan()
    if any(o in cancelled and not wanted[o]["cancelled"] for o in wanted) or (
        cancelled - set(wanted)
    ):
        out.rewrite = True  # EWS cannot bring a deleted occurrence back
        changed, cancelled = set(), set()
    back = {o: _entry(o, cancelled=False) for o in changed - set(wanted)}
    for original, entry in sorted({**wanted, **back}.items()):
        index = rrule.instance_index(series.rule, series.first, original)
        if index is None:
            out.not_in_pattern.append(original)
        elif entry["cancelled"]:
            if original not in cancelled:
                out.deletes.append(index)
        else:
            out.updates.append((index, _effective(series, original, entry)))
    return out


def _effective(
    series: Series, original: datetime.datetime, entry: Mapping[str, object]
) -> dict[str, object]:
    """The occurrence's values: its overrides, else the series'."""
    length = series.values["scheduled_end"] - series.values["scheduled_start"]  # type: ignore[operator]
    start = entry["start"] or original
    values = {
        "scheduled_start": start,
        "scheduled_end": entry["end"] or start + length,  # type: ignore[operator]
        "is_all_day_event": bool(series.values.get("is_all_day_event")),
    }
    for column in _TEXTS:
        values[column] = entry[column] if entry[column] is not None else series.values.get(column)
    return values
