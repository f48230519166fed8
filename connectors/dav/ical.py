"""CRM Appointment, Recurring Appointment and Task columns <-> iCalendar VEVENT/VTODO (icalendar),
editing the master component in place so exceptions, alarms and a client's properties survive.
"""

# Show time as: TRANSP plus Microsoft's X-MICROSOFT-CDO-BUSYSTATUS (MS-OXCICAL), which Outlook and
# others read. Task statuses iCalendar lacks (waiting, deferred) refine STATUS through
# X-SYNCADMIN-TASK-STATUS, which holds only while the task is as this product last wrote it.

from __future__ import annotations

import datetime
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import icalendar

CRM_ID = "X-SYNCADMIN-CRM-ID"
BUSY_STATUS = "X-MICROSOFT-CDO-BUSYSTATUS"
TASK_STATUS = "X-SYNCADMIN-TASK-STATUS"
# The LAST-MODIFIED the task status refinement was written with: another client's later edit
# (completing and reopening a task, say) leaves the refinement stale, and it is then ignored.
STAMP = "X-SYNCADMIN-STAMP"
# Which CRM activity a VTODO or VEVENT stands for (connectors.base.ACTIVITY_TYPE); clients keep
# X- properties they do not know when they edit an item (RFC 5545 3.8.8.2).
ACTIVITY_TYPE = "X-SYNCADMIN-ACTIVITY-TYPE"
PRODID = "-//syncadmin//dav connector//EN"
UTC = datetime.UTC

UNSUPPORTED_ACTIVITY: dict[str, str] = {
    "regarding": (
        "iCalendar has no property for the CRM record an activity is about (RELATED-TO links "
        "calendar items by UID only), so no CalDAV client could show or edit it."
    ),
}

_ACTIVITY = ("subject", "description", "priority", "activity_type")
EVENT_COLUMNS: tuple[str, ...] = (
    *_ACTIVITY,
    "exceptions",
    "location",
    "organizer",
    "required_attendees",
    "optional_attendees",
    "appointment_status",
    "scheduled_start",
    "scheduled_end",
    "is_all_day_event",
    "recurrence_pattern",
)
TASK_COLUMNS: tuple[str, ...] = (
    *_ACTIVITY,
    "status",
    "percent_complete",
    "start_date",
    "due_date",
    "actual_end",
)
_TEXT = {"subject": "SUMMARY", "description": "DESCRIPTION", "location": "LOCATION"}
_WHEN = ("scheduled_start", "scheduled_end", "is_all_day_event", "recurrence_pattern")

_BUSY = {"free": "FREE", "tentative": "TENTATIVE", "busy": "BUSY", "out_of_office": "OOF"}
_BUSY_BACK = {v: k for k, v in _BUSY.items()} | {"WORKINGELSEWHERE": "busy"}
_STATUS = {
    "not_started": ("NEEDS-ACTION", ""),
    "in_progress": ("IN-PROCESS", ""),
    "waiting": ("IN-PROCESS", "waiting"),
    "completed": ("COMPLETED", ""),
    "deferred": ("NEEDS-ACTION", "deferred"),
}
_STATUS_BACK = {
    "NEEDS-ACTION": "not_started",
    "IN-PROCESS": "in_progress",
    "COMPLETED": "completed",
    "CANCELLED": "deferred",
}
_RRULE_ORDER = [
    "FREQ", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR", "BYMONTH", "BYWEEKNO", "BYYEARDAY",
    "BYMONTHDAY", "BYDAY", "BYSETPOS", "WKST", "COUNT", "UNTIL",
]  # fmt: skip


@dataclass(frozen=True)
class Parsed:
    component: str
    crm_id: str | None
    categories: tuple[str, ...]
    fields: dict[str, object]
    modified: datetime.datetime | None = None  # LAST-MODIFIED, else DTSTAMP (latest_wins)


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _emails(value: object) -> list[str]:
    return [e.strip() for e in re.split(r"[;,]", _str(value)) if e.strip()]


def _address(value: object) -> str:
    text = _str(value).strip()
    return text[7:] if text.lower().startswith("mailto:") else text


def _all(comp: icalendar.Component, name: str) -> list:
    value = comp.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def master(cal: icalendar.Calendar, component: str | None = None) -> icalendar.Component:
    """The component the CRM record maps to: the first VEVENT/VTODO without RECURRENCE-ID."""
    for comp in cal.subcomponents:
        if (
            comp.name in ("VEVENT", "VTODO")
            and (component is None or comp.name == component)
            and "RECURRENCE-ID" not in comp
        ):
            return comp
    raise ValueError(f"No {component or 'VEVENT/VTODO'} in calendar data")


def _priority_to_ical(value: object) -> int:
    return {0: 9, 1: 5, 2: 1}.get(int(value) if value is not None else 1, 5)  # type: ignore[call-overload]


def _priority_from_ical(value: object) -> int:
    number = int(value) if value not in (None, "") else 0  # type: ignore[call-overload]
    if 1 <= number <= 4:
        return 2
    if number >= 6:
        return 0
    return 1


class Codec:
    """Reads and writes CRM values in one time zone (all-day dates, floating times, UNTIL).

    `organizer` is the calendar owner's address: an event with attendees gets it as ORGANIZER
    when it has none (RFC 5545 requires one on a scheduled event).
    """

    def __init__(self, tz: zoneinfo.ZoneInfo, organizer: str = "") -> None:
        self.tz = tz
        self.organizer = organizer

    # -- reading -------------------------------------------------------------------------------
    def read(self, text: str | bytes, columns: Iterable[str]) -> Parsed:
        cal = icalendar.Calendar.from_ical(text)
        comp = master(cal)
        categories: list[str] = []
        for prop in _all(comp, "CATEGORIES"):
            categories += [str(c) for c in getattr(prop, "cats", [prop]) if str(c)]
        crm_id = _str(comp.get(CRM_ID)) or None
        modified = self._utc(comp, "LAST-MODIFIED") or self._utc(comp, "DTSTAMP")
        columns = list(columns)
        fields = self.read_fields(comp, [c for c in columns if c != "exceptions"])
        if "exceptions" in columns:
            fields["exceptions"] = self.read_exceptions(cal, comp)
        return Parsed(comp.name, crm_id, tuple(categories), fields, modified)

    # -- a series' changed and cancelled occurrences ---------------------------------------------
    def read_exceptions(
        self, cal: icalendar.Calendar, comp: icalendar.Component
    ) -> list[dict[str, object]]:
        """EXDATEs of the master (cancelled occurrences) and the components with its UID and a
        RECURRENCE-ID (changed ones, or cancelled by STATUS:CANCELLED), in the CRM's terms."""
        if comp.name != "VEVENT" or not _all(comp, "RRULE"):
            return []
        out: dict[datetime.datetime, dict[str, object]] = {}
        for prop in _all(comp, "EXDATE"):
            for entry in getattr(prop, "dts", []):
                original = self._point(entry.dt)
                out[original] = _exception(original, cancelled=True)
        uid = _str(comp.get("UID"))
        for other in cal.walk("VEVENT"):
            if "RECURRENCE-ID" not in other or _str(other.get("UID")) != uid:
                continue
            original = self._point(other.decoded("RECURRENCE-ID"))
            if _str(other.get("STATUS")).upper() == "CANCELLED":
                out[original] = _exception(original, cancelled=True)
                continue
            when = self._when(other)
            out[original] = _exception(
                original,
                cancelled=False,
                start=when["scheduled_start"],
                end=when["scheduled_end"],
                subject=self._read_text(other, "subject"),
                location=self._read_text(other, "location"),
                description=self._read_text(other, "description"),
            )
        return [out[k] for k in sorted(out)]

    def _point(self, value: object) -> datetime.datetime:
        """An occurrence's instant in UTC (a date: its midnight in the user's zone)."""
        if isinstance(value, datetime.datetime):
            return self._instant(value)
        day = value  # a date
        return datetime.datetime(day.year, day.month, day.day, tzinfo=self.tz).astimezone(UTC)  # type: ignore[attr-defined]

    def _like_start(self, comp: icalendar.Component, instant: datetime.datetime) -> object:
        """An instant in the form of the master's DTSTART (date, zoned or UTC), as RFC 5545
        wants RECURRENCE-ID and EXDATE."""
        start = comp.decoded("DTSTART")
        if not isinstance(start, datetime.datetime):
            return instant.astimezone(self.tz).date()
        if start.tzinfo is not None and start.tzinfo != UTC and self.tz.key != "UTC":
            return instant.astimezone(self.tz)
        return instant.astimezone(UTC)

    def write_exceptions(
        self, cal: icalendar.Calendar, comp: icalendar.Component, exceptions: object
    ) -> None:
        """Replace the master's EXDATEs and override components by `exceptions`."""
        comp.pop("EXDATE", None)
        uid = _str(comp.get("UID"))
        for other in [c for c in cal.subcomponents if c is not comp]:
            if other.name == "VEVENT" and _str(other.get("UID")) == uid:
                cal.subcomponents.remove(other)
        entries = list(exceptions or [])  # type: ignore[call-overload]
        cancelled = [e for e in entries if e["cancelled"]]
        if cancelled:
            comp.add("EXDATE", [self._like_start(comp, e["original_start"]) for e in cancelled])
        when = self._when(comp)
        length = when["scheduled_end"] - when["scheduled_start"]  # type: ignore[operator]
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        for e in entries:
            if e["cancelled"]:
                continue
            start = e["start"] or e["original_start"]
            end = e["end"] or start + length
            override = icalendar.Event()
            override.add("UID", uid)
            override.add("RECURRENCE-ID", self._like_start(comp, e["original_start"]))
            override.add("DTSTAMP", now)
            override.add("DTSTART", self._like_start(comp, start))
            override.add("DTEND", self._like_start(comp, end))
            for column in ("subject", "location", "description"):
                value = e[column] if e[column] is not None else _str(comp.get(_TEXT[column]))
                if value:
                    override.add(_TEXT[column], value)
            cal.add_component(override)

    def read_fields(self, comp: icalendar.Component, columns: Iterable[str]) -> dict[str, object]:
        out: dict[str, object] = {}
        when: dict[str, object] = {}
        for column in columns:
            if column in _WHEN:
                when = when or self._when(comp)
                out[column] = when[column]
                continue
            reader = _READERS.get(column)
            if reader is None:
                raise ValueError(f"No iCalendar mapping for column {column!r}")
            out[column] = reader(self, comp, column)
        return out

    def _read_text(self, comp: icalendar.Component, column: str) -> object:
        return _str(comp.get(_TEXT[column])).replace("\r\n", "\n")

    def _read_attendees(self, comp: icalendar.Component, column: str) -> object:
        required, optional = self._attendees(comp)
        return "; ".join(required if column == "required_attendees" else optional)

    def _read_status(self, comp: icalendar.Component, column: str) -> object:
        state = _str(comp.get("STATUS")).upper() or "NEEDS-ACTION"
        refined = self._refined(comp)
        if refined and _STATUS[refined][0] == state:
            return refined
        return _STATUS_BACK.get(state, "not_started")

    def _refined(self, comp: icalendar.Component) -> str:
        """The task status refinement, if it still holds: written by this product with the
        item's current LAST-MODIFIED (an older marker without a stamp holds while STATUS
        matches)."""
        marker = comp.get(TASK_STATUS)
        refined = _str(marker).lower()
        if refined not in _STATUS:
            return ""
        stamp = _str(getattr(marker, "params", {}).get(STAMP))
        if stamp and stamp != _stamp_of(comp):
            return ""
        return refined

    def _read_day(self, comp: icalendar.Component, column: str) -> object:
        return self._date(comp, _DAY_PROPS[column])

    def _attendees(self, comp: icalendar.Component) -> tuple[list[str], list[str]]:
        organizer = _address(comp.get("ORGANIZER")).lower()
        required: list[str] = []
        optional: list[str] = []
        for attendee in _all(comp, "ATTENDEE"):
            role = _str(attendee.params.get("ROLE")).upper() or "REQ-PARTICIPANT"
            address = _address(attendee)
            if role == "NON-PARTICIPANT" or (role == "CHAIR" and address.lower() == organizer):
                continue  # the organizer listed as attendee by some clients, or an observer
            (optional if role == "OPT-PARTICIPANT" else required).append(address)
        return required, optional

    def _busy(self, comp: icalendar.Component) -> str:
        if _str(comp.get("TRANSP")).upper() == "TRANSPARENT":
            return "free"
        status = _BUSY_BACK.get(_str(comp.get(BUSY_STATUS)).upper(), "busy")
        # An opaque event another client marked free here stays busy: TRANSP wins.
        return "busy" if status == "free" else status

    def _local_date(self, value: object) -> datetime.date | None:
        if isinstance(value, datetime.datetime):
            aware = value if value.tzinfo else value.replace(tzinfo=self.tz)
            return aware.astimezone(self.tz).date()
        return value if isinstance(value, datetime.date) else None

    def _date(self, comp: icalendar.Component, name: str) -> datetime.date | None:
        return self._local_date(comp.decoded(name)) if name in comp else None

    def _utc(self, comp: icalendar.Component, name: str) -> datetime.datetime | None:
        if name not in comp:
            return None
        value = comp.decoded(name)
        if isinstance(value, datetime.datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return None

    def _instant(self, value: datetime.datetime) -> datetime.datetime:
        return (value if value.tzinfo else value.replace(tzinfo=self.tz)).astimezone(UTC)

    def _when(self, comp: icalendar.Component) -> dict[str, object]:
        start = comp.decoded("DTSTART") if "DTSTART" in comp else None
        end = comp.decoded("DTEND") if "DTEND" in comp else None
        duration = comp.decoded("DURATION") if "DURATION" in comp else None
        all_day = isinstance(start, datetime.date) and not isinstance(start, datetime.datetime)
        if all_day:
            if not isinstance(end, datetime.date):
                end = start + (duration or datetime.timedelta(days=1))
            end = max(end, start + datetime.timedelta(days=1))  # type: ignore[operator]
            # The CRM keeps all-day events as midnights (end exclusive) in the user's zone.
            first = datetime.datetime(start.year, start.month, start.day, tzinfo=self.tz)  # type: ignore[union-attr]
            last = datetime.datetime(end.year, end.month, end.day, tzinfo=self.tz)
        elif isinstance(start, datetime.datetime):
            first = self._instant(start)
            if isinstance(end, datetime.datetime):
                last = self._instant(end)
            else:
                last = first + (duration or datetime.timedelta(0))
        else:
            first = last = None  # type: ignore[assignment]
        rules = _all(comp, "RRULE")
        pattern = self._rrule_to_crm(rules[0].to_ical().decode()) if rules else ""
        return {
            "scheduled_start": first,
            "scheduled_end": last,
            "is_all_day_event": all_day,
            "recurrence_pattern": pattern,
        }

    def _rrule_to_crm(self, text: str) -> str:
        """Canonical order; an UNTIL at local 23:59:59 reads back as the CRM's date form."""
        parts = _rrule_parts(text)
        until = parts.get("UNTIL", "")
        if re.fullmatch(r"\d{8}T\d{6}Z", until):
            moment = datetime.datetime.strptime(until, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            local = moment.astimezone(self.tz)
            if (local.hour, local.minute, local.second) == (23, 59, 59):
                parts["UNTIL"] = f"{local:%Y%m%d}"
        return _rrule_join(parts)

    def _rrule_to_ical(self, text: str, all_day: bool) -> icalendar.vRecur:
        parts = _rrule_parts(text)
        if "FREQ" not in parts:
            raise ValueError(f"RRULE needs FREQ: {text!r}")
        until = parts.get("UNTIL", "")
        if not all_day and re.fullmatch(r"\d{8}", until):
            # RFC 5545: with a date-time DTSTART, UNTIL is a UTC date-time; the CRM's date
            # means "through that day", so take its last second in the user's zone.
            day = datetime.datetime.strptime(until, "%Y%m%d")
            local = day.replace(hour=23, minute=59, second=59, tzinfo=self.tz)
            parts["UNTIL"] = f"{local.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        elif all_day and re.fullmatch(r"\d{8}T\d{6}Z?", until):
            parts["UNTIL"] = until[:8]
        return icalendar.vRecur.from_ical(_rrule_join(parts))

    # -- writing -------------------------------------------------------------------------------
    def new(
        self,
        component: str,
        uid: str,
        crm_id: str,
        fields: Mapping[str, object],
        categories: Iterable[str],
    ) -> bytes:
        cal = icalendar.Calendar()
        cal.add("PRODID", PRODID)
        cal.add("VERSION", "2.0")
        comp = icalendar.Event() if component == "VEVENT" else icalendar.Todo()
        comp.add("UID", uid)
        comp.add(CRM_ID, crm_id)
        cats = [c for c in categories if c]
        if cats:
            comp.add("CATEGORIES", cats)
        cal.add_component(comp)
        self.write(cal, comp, fields)
        return cal.to_ical()

    def update(
        self, text: str | bytes, component: str, fields: Mapping[str, object], crm_id: str | None
    ) -> tuple[bytes, str | None]:
        """The calendar data with `fields` written; also the item's CRM id."""
        cal = icalendar.Calendar.from_ical(text)
        comp = master(cal, component)
        if crm_id is not None:
            comp.pop(CRM_ID, None)
            comp.add(CRM_ID, crm_id)
        self.write(cal, comp, fields)
        return cal.to_ical(), _str(comp.get(CRM_ID)) or None

    def write(
        self, cal: icalendar.Calendar, comp: icalendar.Component, fields: Mapping[str, object]
    ) -> None:
        refined = self._refined(comp) if comp.name == "VTODO" else ""
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        for name in ("DTSTAMP", "LAST-MODIFIED"):
            comp.pop(name, None)
            comp.add(name, now)
        # The refinement still holds: it keeps holding with the new LAST-MODIFIED.
        self._set_marker(comp, refined)
        for column, value in fields.items():
            if column in _DEFERRED:
                continue
            writer = _WRITERS.get(column)
            if writer is None:
                raise ValueError(f"No iCalendar mapping for column {column!r}")
            writer(self, comp, column, value)
        if "required_attendees" in fields or "optional_attendees" in fields:
            self._write_attendees(comp, fields)
        if any(c in fields for c in _WHEN):
            self._write_when(cal, comp, fields)
        if "exceptions" in fields:
            self.write_exceptions(cal, comp, fields["exceptions"])
        self._need_organizer(comp, fields)

    def _set_marker(self, comp: icalendar.Component, refined: str) -> None:
        comp.pop(TASK_STATUS, None)
        if refined:
            comp.add(TASK_STATUS, refined, parameters={STAMP: _stamp_of(comp)})

    def _need_organizer(self, comp: icalendar.Component, fields: Mapping[str, object]) -> None:
        """RFC 5545: an event with attendees has an ORGANIZER."""
        if comp.name != "VEVENT" or "ATTENDEE" not in comp or "ORGANIZER" in comp:
            return
        if self.organizer:
            self._organizer(comp, self.organizer)
        elif "required_attendees" in fields or "optional_attendees" in fields:
            raise ValueError(
                "An event with attendees needs an organizer (RFC 5545): sync the organizer "
                "field to the mailbox, or give the mailbox an e-mail address"
            )

    def _write_text(self, comp: icalendar.Component, column: str, value: object) -> None:
        self._set(comp, _TEXT[column], _str(value) or None)

    def _write_busy(self, comp: icalendar.Component, column: str, value: object) -> None:
        busy = _BUSY.get(_str(value) or "busy", "BUSY")
        self._set(comp, "TRANSP", "TRANSPARENT" if busy == "FREE" else "OPAQUE")
        self._set(comp, BUSY_STATUS, busy)

    def _write_status(self, comp: icalendar.Component, column: str, value: object) -> None:
        state, refined = _STATUS.get(_str(value) or "not_started", ("NEEDS-ACTION", ""))
        self._set(comp, "STATUS", state)
        self._set_marker(comp, refined)

    def _write_day(self, comp: icalendar.Component, column: str, value: object) -> None:
        """A CRM date into DTSTART/DUE: a property holding a time keeps its time and zone (and
        is left as it is when the day did not change); a new one follows its sibling's type,
        as RFC 5545 wants DTSTART and DUE of one value type."""
        if value is not None and not isinstance(value, datetime.date):
            raise ValueError(f"{column} must be a date, not {value!r}")
        name = _DAY_PROPS[column]
        day = value.date() if isinstance(value, datetime.datetime) else value
        current = comp.decoded(name) if name in comp else None
        if day is None or not isinstance(current, datetime.datetime):
            sibling = comp.decoded(_DAY_SIBLING[name]) if _DAY_SIBLING[name] in comp else None
            if day is not None and current is None and isinstance(sibling, datetime.datetime):
                midnight = datetime.datetime.combine(day, datetime.time(0))
                day = midnight.replace(tzinfo=sibling.tzinfo) if sibling.tzinfo else midnight
            self._set(comp, name, day)
            return
        if self._local_date(current) == day:
            return
        local = current.astimezone(self.tz) if current.tzinfo else current
        moved = datetime.datetime.combine(day, local.time(), tzinfo=local.tzinfo)
        self._set(comp, name, moved.astimezone(current.tzinfo) if current.tzinfo else moved)

    def _write_completed(self, comp: icalendar.Component, column: str, value: object) -> None:
        done = self._aware(column, value).astimezone(UTC) if value else None
        self._set(comp, "COMPLETED", done)

    @staticmethod
    def _set(comp: icalendar.Component, name: str, value: object) -> None:
        comp.pop(name, None)
        if value is not None and value != "":
            comp.add(name, value)

    @staticmethod
    def _aware(column: str, value: object) -> datetime.datetime:
        if not isinstance(value, datetime.datetime) or value.tzinfo is None:
            raise ValueError(f"{column} must be a timezone-aware datetime, not {value!r}")
        return value

    def _organizer(self, comp: icalendar.Component, address: str) -> None:
        current = comp.get("ORGANIZER")
        comp.pop("ORGANIZER", None)
        if not address:
            return
        params = dict(current.params) if current is not None else {}
        if current is None or _address(current).lower() != address.lower():
            params.pop("CN", None)
        # Tell a scheduling server (RFC 6638) not to send invitations: the CRM never does.
        params["SCHEDULE-AGENT"] = "CLIENT"
        comp.add("ORGANIZER", icalendar.vCalAddress(f"mailto:{address}"), parameters=params)

    def _write_attendees(self, comp: icalendar.Component, fields: Mapping[str, object]) -> None:
        required, optional = self._attendees(comp)
        if "required_attendees" in fields:
            required = _emails(fields["required_attendees"])
        if "optional_attendees" in fields:
            optional = _emails(fields["optional_attendees"])
        existing = {_address(a).lower(): a for a in _all(comp, "ATTENDEE")}
        wanted = {a.lower() for a in required + optional}
        skipped = [
            a
            for a in _all(comp, "ATTENDEE")
            if _address(a).lower() not in wanted
            and (_str(a.params.get("ROLE")).upper() in ("NON-PARTICIPANT", "CHAIR"))
        ]
        comp.pop("ATTENDEE", None)
        for addresses, role in ((required, "REQ-PARTICIPANT"), (optional, "OPT-PARTICIPANT")):
            for address in addresses:
                old = existing.get(address.lower())
                params = dict(old.params) if old is not None else {"PARTSTAT": "NEEDS-ACTION"}
                params["ROLE"] = role
                params["SCHEDULE-AGENT"] = "CLIENT"
                comp.add("ATTENDEE", icalendar.vCalAddress(f"mailto:{address}"), parameters=params)
        for attendee in skipped:
            comp.add("ATTENDEE", attendee)

    def _write_when(
        self, cal: icalendar.Calendar, comp: icalendar.Component, fields: Mapping[str, object]
    ) -> None:
        values = self._when(comp) if "DTSTART" in comp else {}
        values.update({c: fields[c] for c in _WHEN if c in fields})
        start = self._aware("scheduled_start", values.get("scheduled_start"))
        end = self._aware("scheduled_end", values.get("scheduled_end"))
        if end < start:
            raise ValueError("scheduled_end cannot be before scheduled_start")
        all_day = bool(values.get("is_all_day_event"))
        rrule = _str(values.get("recurrence_pattern")).strip()
        for name in ("DTSTART", "DTEND", "DURATION"):
            comp.pop(name, None)
        if all_day:
            first = start.astimezone(self.tz).date()
            last = max(end.astimezone(self.tz).date(), first + datetime.timedelta(days=1))
            comp.add("DTSTART", first)
            comp.add("DTEND", last)
        elif rrule and self.tz.key != "UTC":
            # A series keeps its wall-clock time across daylight saving: write it in the zone.
            comp.add("DTSTART", start.astimezone(self.tz))
            comp.add("DTEND", end.astimezone(self.tz))
        else:
            comp.add("DTSTART", start.astimezone(UTC))
            comp.add("DTEND", end.astimezone(UTC))
        comp.pop("RRULE", None)
        if rrule:
            comp.add("RRULE", self._rrule_to_ical(rrule, all_day))
        if not all_day and rrule and self.tz.key != "UTC":
            cal.add_missing_timezones()


def _stamp_of(comp: icalendar.Component) -> str:
    value = comp.get("LAST-MODIFIED")
    return value.to_ical().decode() if value is not None else ""


_DAY_PROPS = {"start_date": "DTSTART", "due_date": "DUE"}
_DAY_SIBLING = {"DTSTART": "DUE", "DUE": "DTSTART"}
_DEFERRED = frozenset((*_WHEN, "required_attendees", "optional_attendees", "exceptions"))


def _exception(
    original: datetime.datetime,
    *,
    cancelled: bool,
    start: object = None,
    end: object = None,
    subject: object = None,
    location: object = None,
    description: object = None,
) -> dict[str, object]:
    return {
        "original_start": original,
        "cancelled": cancelled,
        "start": None if cancelled else start,
        "end": None if cancelled else end,
        "subject": None if cancelled else subject,
        "location": None if cancelled else location,
        "description": None if cancelled else description,
    }


_Reader = Callable[[Codec, icalendar.Component, str], object]
_Writer = Callable[[Codec, icalendar.Component, str, object], None]
_READERS: dict[str, _Reader] = {
    **dict.fromkeys(_TEXT, Codec._read_text),
    "priority": lambda _c, comp, _col: _priority_from_ical(comp.get("PRIORITY")),
    "organizer": lambda _c, comp, _col: _address(comp.get("ORGANIZER")),
    "required_attendees": Codec._read_attendees,
    "optional_attendees": Codec._read_attendees,
    "appointment_status": lambda c, comp, _col: c._busy(comp),
    "status": Codec._read_status,
    "percent_complete": lambda _c, comp, _col: int(comp.get("PERCENT-COMPLETE") or 0),
    "start_date": Codec._read_day,
    "due_date": Codec._read_day,
    "actual_end": lambda c, comp, _col: c._utc(comp, "COMPLETED"),
    "activity_type": lambda _c, comp, _col: _str(comp.get(ACTIVITY_TYPE)).lower(),
}
_WRITERS: dict[str, _Writer] = {
    **dict.fromkeys(_TEXT, Codec._write_text),
    "priority": lambda c, comp, _col, v: c._set(comp, "PRIORITY", _priority_to_ical(v)),
    "organizer": lambda c, comp, _col, v: c._organizer(comp, _str(v)),
    "appointment_status": Codec._write_busy,
    "status": Codec._write_status,
    "percent_complete": lambda c, comp, _col, v: c._set(comp, "PERCENT-COMPLETE", int(v or 0)),  # type: ignore[call-overload]
    "start_date": Codec._write_day,
    "due_date": Codec._write_day,
    "actual_end": Codec._write_completed,
    "activity_type": lambda c, comp, _col, v: c._set(comp, ACTIVITY_TYPE, _str(v) or None),
}


def _rrule_parts(text: str) -> dict[str, str]:
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    parts: dict[str, str] = {}
    for chunk in filter(None, body.split(";")):
        key, sep, value = chunk.partition("=")
        if not sep:
            raise ValueError(f"Malformed RRULE part {chunk!r}")
        parts[key.strip().upper()] = value.strip().upper()
    return parts


def _rrule_join(parts: Mapping[str, str]) -> str:
    known = [k for k in _RRULE_ORDER if k in parts]
    other = [k for k in parts if k not in _RRULE_ORDER]
    keys = known[:1] + other + known[1:]
    return ";".join(f"{k}={parts[k]}" for k in keys)
