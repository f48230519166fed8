"""The Graph test server's store: mailboxes, each with one contact folder, one calendar and one
To Do list; items kept as Graph JSON plus bookkeeping (sequence numbers for delta, change keys,
single-value extended properties, linked resources), tombstones, and a JSON file across restarts.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from occurrences import expand

from ..graph.recurrence import to_rrule

# Graph accepts Windows and IANA zone names; the test server knows these Windows ones.
WINDOWS_ZONES = {
    "UTC": "UTC",
    "W. Europe Standard Time": "Europe/Berlin",
    "GMT Standard Time": "Europe/London",
    "Romance Standard Time": "Europe/Paris",
    "Eastern Standard Time": "America/New_York",
    "Pacific Standard Time": "America/Los_Angeles",
    "Tokyo Standard Time": "Asia/Tokyo",
}
KINDS = ("contacts", "calendar", "tasks")


def zone(name: str) -> ZoneInfo:
    """The zone a Graph timeZone names (ValueError when unknown)."""
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (KeyError, ValueError) as e:
        raise ValueError(f"The time zone '{name}' is not supported.") from e
    except Exception as e:  # ZoneInfoNotFoundError and malformed names
        raise ValueError(f"The time zone '{name}' is not supported.") from e


def new_id() -> str:
    """An opaque, URL-safe id in the style of Exchange's immutable ids."""
    return "AAMk" + base64.urlsafe_b64encode(uuid.uuid4().bytes * 2).decode().rstrip("=")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Record:
    id: str
    data: dict
    ext: dict[str, str] = field(default_factory=dict)
    links: list[dict] = field(default_factory=list)
    seq: int = 0
    change_key: str = ""
    created: str = ""
    modified: str = ""
    transaction_id: str | None = None
    # A series master's cancelled occurrences and exceptions, by original start (UTC, "Z").
    cancelled: list[str] = field(default_factory=list)
    overrides: dict[str, dict] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return f'W/"{self.change_key}"'


@dataclass
class Collection:
    """One folder (contacts), the calendar, or a To Do list."""

    kind: str
    id: str
    name: str
    records: dict[str, Record] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)


@dataclass
class Mailbox:
    address: str
    seq: int = 0
    generation: int = 0
    collections: dict[str, Collection] = field(default_factory=dict)
    categories: list[dict] = field(default_factory=list)
    time_zone: str = "UTC"

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


class Store:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self.dirty = False
        if self.path and self.path.exists():
            self._load()

    def add_mailbox(self, address: str, time_zone: str = "UTC") -> Mailbox:
        key = address.lower()
        with self.lock:
            if key in self.mailboxes:
                return self.mailboxes[key]
            box = Mailbox(address, time_zone=time_zone)
            box.collections["contacts"] = Collection("contacts", new_id(), "Contacts")
            box.collections["calendar"] = Collection("calendar", new_id(), "Calendar")
            box.collections["tasks"] = Collection("tasks", new_id(), "Tasks")
            self.mailboxes[key] = box
            self.dirty = True
            return box

    def mailbox(self, address: str) -> Mailbox | None:
        return self.mailboxes.get(address.lower())

    def touch(self, box: Mailbox, record: Record) -> None:
        record.seq = box.next_seq()
        record.change_key = base64.b64encode(uuid.uuid4().bytes[:12]).decode()
        record.modified = now_iso()
        if not record.created:
            record.created = record.modified
        self.dirty = True

    def save(self) -> None:
        if not self.path:
            return
        with self.lock:
            data = {k: asdict(v) for k, v in self.mailboxes.items()}
            self.dirty = False
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)

    def _load(self) -> None:
        data = json.loads(self.path.read_text(encoding="utf-8"))  # type: ignore[union-attr]
        for key, raw in data.items():
            colls = {
                k: Collection(
                    c["kind"],
                    c["id"],
                    c["name"],
                    {i: Record(**r) for i, r in c["records"].items()},
                    dict(c["tombstones"]),
                )
                for k, c in raw.pop("collections").items()
            }
            self.mailboxes[key] = Mailbox(**raw, collections=colls)


# -- events: time zones and recurrence expansion ------------------------------------------------
def parse_local(value: dict) -> datetime:
    """A dateTimeTimeZone as an aware datetime."""
    text = value["dateTime"][:26]
    naive = datetime.fromisoformat(text.rstrip("Z"))
    return naive.replace(tzinfo=zone(value.get("timeZone") or "UTC"))


def format_local(moment: datetime, tz_name: str) -> dict:
    local = moment.astimezone(zone(tz_name))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz_name}


def occurrence_starts(data: dict, until: datetime, limit: int = 2000) -> list[datetime]:
    """The starts of a series' occurrences (aware, in the event's zone) up to `until`: the
    recurrence read as the Graph connector reads it, expanded by the code Exchange's and the
    CRM's expansion share (occurrences/expand.py: wall-clock time in the event's zone, day
    29-31 on a shorter month's last day). ValueError for a pattern it cannot read."""
    start = parse_local(data["start"])
    recurrence = data["recurrence"]
    pattern = dict(recurrence["pattern"])
    pattern.setdefault("firstDayOfWeek", "sunday")  # Graph's default, not the connector's
    first = date.fromisoformat(recurrence["range"]["startDate"])
    dtstart = datetime.combine(first, start.timetz().replace(tzinfo=None)).replace(
        tzinfo=start.tzinfo
    )
    rule = to_rrule(
        {**recurrence, "pattern": pattern},
        dtstart,
        start.tzinfo,  # type: ignore[arg-type]
        all_day=bool(data.get("isAllDay")),
    )
    out = []
    for moment in expand.occurrence_starts(rule, dtstart, limit=limit):
        if moment > until:
            break
        out.append(moment)
    return out


def occurrence_id(master_id: str, original: datetime) -> str:
    """Opaque to clients; stable for one occurrence of one series."""
    raw = uuid.uuid5(uuid.NAMESPACE_URL, f"{master_id}/{original.isoformat()}").bytes
    return "AAMkOcc" + base64.urlsafe_b64encode(raw * 2).decode().rstrip("=")


def original_key(moment: datetime) -> str:
    """An occurrence's original start as Graph's originalStart says it (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cancelled_ids(record: Record) -> list[str]:
    """cancelledOccurrences: "OID.{master id}.{the original start's date in the series' zone}"."""
    tz = zone(record.data["start"].get("timeZone") or "UTC")
    out = []
    for key in sorted(record.cancelled):
        moment = datetime.fromisoformat(key.replace("Z", "+00:00")).astimezone(tz)
        out.append(f"OID.{record.id}.{moment.date().isoformat()}")
    return out


def occurrence(record: Record, moment: datetime, length: timedelta) -> tuple[str, dict] | None:
    """(id, stored-shape data) of the occurrence of a series starting at `moment` by its
    pattern: None when cancelled; an exception carries its own values."""
    key = original_key(moment)
    if key in record.cancelled:
        return None
    data = record.data
    occ = {k: v for k, v in data.items() if k != "recurrence"}
    tz_name = data["start"].get("timeZone") or "UTC"
    occ["start"] = format_local(moment, tz_name)
    occ["end"] = format_local(moment + length, data["end"].get("timeZone") or tz_name)
    occ["type"] = "occurrence"
    occ["seriesMasterId"] = record.id
    occ["originalStart"] = key
    if key in record.overrides:
        occ.update(record.overrides[key])
        occ["type"] = "exception"
    return occurrence_id(record.id, moment), occ


def instances(
    record: Record, start: datetime, end: datetime, horizon: timedelta = timedelta(days=3650)
) -> list[tuple[str, dict]]:
    """(id, stored-shape data) of each instance of an event overlapping [start, end)."""
    data = record.data
    first = parse_local(data["start"])
    length = parse_local(data["end"]) - first
    if not data.get("recurrence"):
        if first < end and first + length > start:
            return [(record.id, data)]
        return []
    out = []
    # An exception may have moved: look a little beyond the window for originals.
    margin = timedelta(days=31) if record.overrides else timedelta(0)
    for moment in occurrence_starts(data, min(end + margin, first + horizon)):
        found = occurrence(record, moment, length)
        if found is None:
            continue
        occ_start, occ_end = parse_local(found[1]["start"]), parse_local(found[1]["end"])
        if occ_end <= start or occ_start >= end:
            continue
        out.append(found)
    return out
