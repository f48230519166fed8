"""A series' changed and cancelled occurrences on Microsoft Graph, in the CRM's terms (the field
"exceptions": dicts {original_start, cancelled, start, end, subject, location, description}).

Graph v1.0 keeps them on the series master: `cancelledOccurrences` (on $select: ids
"OID.{master id}.{original date}") and `exceptionOccurrences` (on $expand: the changed
occurrences, each with its `originalStart`). An occurrence is changed with a PATCH of its own id
(it becomes an exception) and cancelled with a DELETE; a cancelled one comes back only when the
series' recurrence is written again, which drops every exception of the series.
"""

from __future__ import annotations

import datetime
import zoneinfo
from dataclasses import dataclass, field

from .fields import Codec, parse_dtz

UTC = datetime.UTC
# What the master's read asks for beside the mapped properties ($select lists them all, since
# cancelledOccurrences comes on $select only).
SERIES_SELECT = ("cancelledOccurrences", "type", "seriesMasterId", "originalStart")
TEXTS = ("subject", "location", "description")


def _zone(name: str | None, default: zoneinfo.ZoneInfo) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name) if name else default
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return default


@dataclass
class Series:
    """What a series master says: its own values and its occurrences that are not as it."""

    start: datetime.datetime
    end: datetime.datetime
    all_day: bool
    texts: dict[str, object]
    cancelled: set[datetime.datetime] = field(default_factory=set)
    changed: dict[datetime.datetime, dict[str, object]] = field(default_factory=dict)
    ids: dict[datetime.datetime, str] = field(default_factory=dict)  # occurrence ids known
    etag: str = ""
    recurrence: dict | None = None

    @property
    def length(self) -> datetime.timedelta:
        return self.end - self.start


def read_series(codec: Codec, item: dict) -> Series | None:
    """The series of a master as read with SERIES_SELECT and $expand=exceptionOccurrences; None
    for an event that is no series."""
    recurrence = item.get("recurrence")
    if not recurrence:
        return None
    start, end = codec._when("scheduled_start", item), codec._when("scheduled_end", item)
    texts = {c: codec.read("calendar", item, [c])[c] for c in TEXTS}
    series = Series(start, end, bool(item.get("isAllDay")), texts, recurrence=recurrence)  # type: ignore[arg-type]
    series.etag = str(item.get("@odata.etag") or "")
    zone = _zone((recurrence.get("range") or {}).get("recurrenceTimeZone"), codec.tz)
    local = series.start.astimezone(codec.tz if series.all_day else zone)
    for oid in item.get("cancelledOccurrences") or []:
        day = datetime.date.fromisoformat(str(oid).rsplit(".", 1)[-1])
        moment = datetime.datetime.combine(day, local.timetz())
        series.cancelled.add(moment.astimezone(UTC))
    for occ in item.get("exceptionOccurrences") or []:
        original = _original(occ)
        if original is None:
            continue
        series.ids[original] = str(occ["id"])
        values = occurrence_values(codec, occ)
        if values != plain(series, original):
            series.changed[original] = values
    return series


def _original(occ: dict) -> datetime.datetime | None:
    text = occ.get("originalStart")
    if not text:
        moment = parse_dtz(occ.get("start"))
        return moment.astimezone(UTC) if moment else None
    return datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)


def occurrence_values(codec: Codec, occ: dict) -> dict[str, object]:
    """An occurrence's start, end and texts in the CRM's terms."""
    out: dict[str, object] = {
        "start": codec._when("scheduled_start", occ),
        "end": codec._when("scheduled_end", occ),
    }
    out.update(codec.read("calendar", occ, TEXTS))
    return out


def plain(series: Series, original: datetime.datetime) -> dict[str, object]:
    """What the series gives the occurrence at `original`."""
    return {"start": original, "end": original + series.length, **series.texts}


def to_crm(series: Series | None) -> list[dict[str, object]]:
    """The field "exceptions" of a series (an exception that says what the series says is none:
    Graph cannot turn an exception back into a plain occurrence but by dropping them all)."""
    if series is None:
        return []
    out: dict[datetime.datetime, dict[str, object]] = {}
    for original in series.cancelled:
        out[original] = {
            "original_start": original,
            "cancelled": True,
            **dict.fromkeys(("start", "end", *TEXTS)),
        }
    for original, values in series.changed.items():
        base = plain(series, original)
        entry: dict[str, object] = {"original_start": original, "cancelled": False}
        for key, value in values.items():
            entry[key] = None if value == base[key] else value
        out[original] = entry
    return [out[k] for k in sorted(out)]


def wanted(series: Series, desired: object) -> dict[datetime.datetime, dict[str, object] | None]:
    """The CRM's exceptions as the series should hold them: original start -> its values, or
    None for cancelled (an exception saying what the series says is left out)."""
    out: dict[datetime.datetime, dict[str, object] | None] = {}
    for entry in desired or []:  # type: ignore[attr-defined]
        original = entry["original_start"].astimezone(UTC)
        if entry["cancelled"]:
            out[original] = None
            continue
        base = plain(series, original)
        start = entry.get("start") or original
        values = {
            "start": start,
            "end": entry.get("end") or start + series.length,
            **{c: entry.get(c) if entry.get(c) is not None else base[c] for c in TEXTS},
        }
        if values != base:
            out[original] = values
    return out


def needs_rewrite(series: Series, target: dict[datetime.datetime, dict | None]) -> bool:
    """A cancelled occurrence the CRM has back: only a new recurrence restores it."""
    return any(target.get(original, {}) is not None for original in series.cancelled)


def operations(
    series: Series, target: dict[datetime.datetime, dict | None]
) -> list[tuple[str, datetime.datetime, dict[str, object] | None]]:
    """(DELETE or PATCH, original start, the occurrence's values) that make the series hold
    `target`; a changed occurrence the CRM has as the series is put back by values."""
    ops: list[tuple[str, datetime.datetime, dict[str, object] | None]] = []
    for original in sorted(target):
        values = target[original]
        if values is None:
            if original not in series.cancelled:
                ops.append(("DELETE", original, None))
        elif series.changed.get(original) != values:
            ops.append(("PATCH", original, values))
    for original in sorted(set(series.changed) - set(target)):
        ops.append(("PATCH", original, plain(series, original)))
    return ops


def patch_body(codec: Codec, series: Series, values: dict[str, object]) -> dict:
    """The PATCH of one occurrence that gives it these values."""
    body = codec._write_when(
        {
            "scheduled_start": values["start"],
            "scheduled_end": values["end"],
            "is_all_day_event": series.all_day,
        }
    )
    body.update(codec.write("calendar", {c: values[c] for c in TEXTS}))
    return body
