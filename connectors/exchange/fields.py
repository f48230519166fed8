"""The Exchange connector's own mapping: CRM column -> exchangelib attribute, with conversions
both ways (indexed entries, HTML vs text body, all-day dates, importance, task status...).
"""

from __future__ import annotations

import datetime
import html
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from exchangelib import Body, HTMLBody
from exchangelib.ewsdatetime import EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress
from exchangelib.items import CalendarItem, Contact, Task
from exchangelib.properties import Attendee, Mailbox

from .. import localdates, recurrence
from ..base import Folder
from .props import register_extended_properties  # noqa: F401 (re-export)


def _all_day_from_xml(cls: type, elem: object, account: object) -> object:
    """CalendarItem.from_xml with the all-day dates read in the item's zone: the inclusive last
    day is the local date of the exclusive end minus one day. exchangelib takes the date of
    "end minus 24 hours", one day early when the last day is the 23-hour spring day (an event
    on 27-28 March in Berlin came back ending on the 27th); this replaces that reading."""
    item = super(CalendarItem, cls).from_xml(elem=elem, account=account)  # type: ignore[misc]
    if not item.is_all_day:
        return item
    for name in ("start", "end"):
        value = getattr(item, name)
        if not isinstance(value, datetime.datetime):
            continue
        zone = getattr(item, f"_{name}_timezone", None) or EWSTimeZone("UTC")
        day = (
            localdates.all_day_last_day(value, zone)
            if name == "end"
            else value.astimezone(zone).date()
        )
        setattr(item, name, day)
    return item


CalendarItem.from_xml = classmethod(_all_day_from_xml)  # type: ignore[assignment,method-assign]


# -- the mapping table --------------------
@dataclass(frozen=True)
class FieldMap:
    """How one CRM column lives in Exchange. `kind` names the conversion."""

    column: str
    attr: str
    kind: str
    label: str = ""
    sub: str = ""
    writable: bool = True


def _m(column: str, attr: str, kind: str = "text", **kw: object) -> FieldMap:
    return FieldMap(column, attr, kind, **kw)  # type: ignore[arg-type]


_PHONES = {
    "business_phone": "BusinessPhone",
    "business_phone_2": "BusinessPhone2",
    "company_phone": "CompanyMainPhone",
    "home_phone": "HomePhone",
    "home_phone_2": "HomePhone2",
    "mobile_phone": "MobilePhone",
    "telephone_3": "OtherTelephone",
    "assistant_phone": "AssistantPhone",
    "callback_number": "Callback",
    "pager": "Pager",
    "fax": "BusinessFax",
}
_ADDRESS_LABELS = {"address1": "Business", "address2": "Home", "address3": "Other"}
_ADDRESS_SUBS = {
    "street": "street",
    "city": "city",
    "state_or_province": "state",
    "postal_code": "zipcode",
    "country": "country",
}

CONTACT_FIELDS: list[FieldMap] = [
    _m("first_name", "given_name", "name"),
    _m("middle_name", "middle_name", "name"),
    _m("last_name", "surname", "name"),
    _m("nickname", "nickname"),
    # Written through the MAPI property; read back from it, else from the read-only EWS field.
    _m("yomi_first_name", "crm_yomi_first_name", sub="phonetic_first_name"),
    _m("yomi_last_name", "crm_yomi_last_name", sub="phonetic_last_name"),
    _m("job_title", "job_title"),
    _m("company_name", "company_name"),
    _m("department", "department"),
    _m("manager", "manager"),
    _m("assistant", "assistant_name"),
    _m("spouse_partner_name", "spouse_name"),
    _m("childrens_names", "children", "list1"),
    _m("government_id", "crm_government_id"),
    _m("email", "email_addresses", "indexed", label="EmailAddress1"),
    _m("email_address_2", "email_addresses", "indexed", label="EmailAddress2"),
    _m("email_address_3", "email_addresses", "indexed", label="EmailAddress3"),
    *(_m(col, "phone_numbers", "indexed", label=label) for col, label in _PHONES.items()),
    _m("website", "business_homepage"),
    _m("ftp_site", "crm_ftp_site"),
    _m("birthday", "birthday", "date"),
    _m("anniversary", "wedding_anniversary", "date"),
    _m("description", "body", "body"),
    *(
        _m(f"{prefix}_{sub}", "physical_addresses", "address", label=label, sub=attr)
        for prefix, label in _ADDRESS_LABELS.items()
        for sub, attr in _ADDRESS_SUBS.items()
    ),
]

_ACTIVITY: list[FieldMap] = [
    _m("subject", "subject"),
    _m("description", "body", "body"),
    _m("priority", "importance", "importance"),
    _m("regarding", "crm_regarding"),
    # Which CRM activity the item is (connectors.base.ACTIVITY_TYPE): written on create only.
    _m("activity_type", "crm_activity_type"),
]

CALENDAR_FIELDS: list[FieldMap] = [
    *_ACTIVITY,
    _m("location", "location"),
    # Exchange makes the mailbox owner the organizer: readable, never written.
    _m("organizer", "organizer", "organizer", writable=False),
    _m("required_attendees", "required_attendees", "attendees"),
    _m("optional_attendees", "optional_attendees", "attendees"),
    _m("appointment_status", "legacy_free_busy_status", "free_busy"),
    _m("scheduled_start", "start", "when"),
    _m("scheduled_end", "end", "when"),
    _m("is_all_day_event", "is_all_day", "when"),
    _m("recurrence_pattern", "recurrence", "when"),
    # A series' changed and cancelled occurrences: read and written by occurrences.py.
    _m("exceptions", "modified_occurrences", "exceptions"),
]

TASK_FIELDS: list[FieldMap] = [
    *_ACTIVITY,
    _m("status", "status", "task_status"),
    _m("percent_complete", "percent_complete", "percent"),
    _m("start_date", "start_date", "date"),
    _m("due_date", "due_date", "date"),
    _m("actual_end", "crm_date_completed", "completed"),
]

MAPPINGS: dict[str, dict[str, FieldMap]] = {
    "contacts": {f.column: f for f in CONTACT_FIELDS},
    "calendar": {f.column: f for f in CALENDAR_FIELDS},
    "tasks": {f.column: f for f in TASK_FIELDS},
}
ITEM_CLASSES = {"contacts": Contact, "calendar": CalendarItem, "tasks": Task}

# Catalog rows this connector deliberately does not map, with the reason.
NOT_MAPPABLE: dict[tuple[str, str], str] = {
    ("appointment", "attachments"): "Attachments are never synchronized (catalog direction: none).",
}

# Columns written together: a partial update is completed from the item's current values.
GROUPS: dict[str, tuple[str, ...]] = {
    "name": ("first_name", "middle_name", "last_name"),
    "when": ("scheduled_start", "scheduled_end", "is_all_day_event", "recurrence_pattern"),
}

_IMPORTANCE = {0: "Low", 1: "Normal", 2: "High"}
_FREE_BUSY = {"free": "Free", "tentative": "Tentative", "busy": "Busy", "out_of_office": "OOF"}
_FREE_BUSY_BACK = {v: k for k, v in _FREE_BUSY.items()} | {
    "WorkingElsewhere": "busy",
    "NoData": "busy",
}
_TASK_STATUS = {
    "not_started": "NotStarted",
    "in_progress": "InProgress",
    "waiting": "WaitingOnOthers",
    "completed": "Completed",
    "deferred": "Deferred",
}
_TASK_STATUS_BACK = {v: k for k, v in _TASK_STATUS.items()}
_TEXT_DEFAULT = {"text", "name", "list1", "indexed", "address", "body", "attendees", "organizer"}


def mapping(folder: Folder) -> dict[str, FieldMap]:
    return MAPPINGS[folder]


def unknown_columns(folder: Folder, columns: Iterable[str]) -> list[str]:
    return [c for c in columns if c not in MAPPINGS[folder]]


def html_to_text(markup: str) -> str:
    """Outlook bodies may be HTML; the CRM keeps plain text (links and images are dropped)."""
    text = re.sub(r"(?is)<(script|style|head).*?</\1>", "", markup)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text).replace("\r\n", "\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# -- reading: exchangelib item -> CRM values --------------------
class Reader:
    """Converts exchangelib items to CRM values in one time zone (for all-day dates)."""

    def __init__(self, tz: zoneinfo.ZoneInfo) -> None:
        self.tz = tz

    def read(self, folder: Folder, item: object, columns: Iterable[str]) -> dict[str, object]:
        table = MAPPINGS[folder]
        # A series' exceptions need its occurrences read too: the connector adds them.
        return {c: self._value(table[c], item) for c in columns if table[c].kind != "exceptions"}

    def _value(self, fm: FieldMap, item: object) -> object:
        handler = _READERS.get(fm.kind)
        if handler is None:
            raise ValueError(f"unknown conversion {fm.kind}")
        return handler(self, fm, item, getattr(item, fm.attr, None))

    def _text(self, fm: FieldMap, item: object, raw: object) -> object:
        if raw is None and fm.sub:
            raw = getattr(item, fm.sub, None)
        return "" if raw is None else str(raw)

    def _list1(self, fm: FieldMap, item: object, raw: object) -> object:
        return ", ".join(raw) if raw else ""

    def _indexed(self, fm: FieldMap, item: object, raw: object) -> object:
        entry = next((e for e in raw or [] if e.label == fm.label), None)
        if entry is None:
            return ""
        return (entry.email if isinstance(entry, EmailAddress) else entry.phone_number) or ""

    def _address(self, fm: FieldMap, item: object, raw: object) -> object:
        entry = next((e for e in raw or [] if e.label == fm.label), None)
        return (getattr(entry, fm.sub) or "") if entry is not None else ""

    def _body(self, fm: FieldMap, item: object, raw: object) -> object:
        if raw is None:
            return ""
        return (
            html_to_text(str(raw)) if isinstance(raw, HTMLBody) else str(raw).replace("\r\n", "\n")
        )

    def _date(self, fm: FieldMap, item: object, raw: object) -> object:
        return None if raw is None else datetime.date(raw.year, raw.month, raw.day)

    def _importance(self, fm: FieldMap, item: object, raw: object) -> object:
        return {v: k for k, v in _IMPORTANCE.items()}.get(raw or "Normal", 1)

    def _organizer(self, fm: FieldMap, item: object, raw: object) -> object:
        return (raw.email_address or "") if raw is not None else ""

    def _attendees(self, fm: FieldMap, item: object, raw: object) -> object:
        return "; ".join(a.mailbox.email_address for a in raw or [] if a.mailbox)

    def _free_busy(self, fm: FieldMap, item: object, raw: object) -> object:
        return _FREE_BUSY_BACK.get(raw or "Busy", "busy")

    def _task_status(self, fm: FieldMap, item: object, raw: object) -> object:
        return _TASK_STATUS_BACK.get(raw or "NotStarted", "not_started")

    def _percent(self, fm: FieldMap, item: object, raw: object) -> object:
        return int(Decimal(raw or 0))

    def _completed(self, fm: FieldMap, item: object, raw: object) -> object:
        value = raw if raw is not None else getattr(item, "complete_date", None)
        return _aware(value) if value is not None else None

    def _when_value(self, fm: FieldMap, item: object, raw: object) -> object:
        return self._when(fm.column, item)

    def _when(self, column: str, item: object) -> object:
        all_day = bool(getattr(item, "is_all_day", False))
        if column == "is_all_day_event":
            return all_day
        if column == "recurrence_pattern":
            rec = getattr(item, "recurrence", None)
            if rec is None:
                return ""
            start = getattr(item, "start", None)
            start = _aware(start) if isinstance(start, datetime.datetime) else None
            return recurrence.to_rrule(rec, start, self.tz, all_day=all_day)
        value = getattr(item, "start" if column == "scheduled_start" else "end", None)
        if value is None:
            return None
        if isinstance(value, datetime.datetime):
            return _aware(value)
        # exchangelib turns all-day start/end into dates, with an INCLUSIVE end date.
        day = value + datetime.timedelta(days=1) if column == "scheduled_end" else value
        return datetime.datetime(day.year, day.month, day.day, tzinfo=self.tz)


# One reader per field kind: (reader, field map, item, the item's attribute) -> CRM value.
_READERS: dict[str, Callable[[Reader, FieldMap, object, object], object]] = {
    "text": Reader._text,
    "name": Reader._text,
    "list1": Reader._list1,
    "indexed": Reader._indexed,
    "address": Reader._address,
    "body": Reader._body,
    "date": Reader._date,
    "importance": Reader._importance,
    "organizer": Reader._organizer,
    "attendees": Reader._attendees,
    "free_busy": Reader._free_busy,
    "task_status": Reader._task_status,
    "percent": Reader._percent,
    "completed": Reader._completed,
    "when": Reader._when_value,
}


def _aware(value: datetime.datetime) -> datetime.datetime:
    """A plain aware datetime in UTC (no exchangelib subclasses leak to the CRM)."""
    plain = datetime.datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=zoneinfo.ZoneInfo(value.tzinfo.key) if value.tzinfo else datetime.UTC,
    )
    return plain.astimezone(datetime.UTC)


def empty_value(fm: FieldMap) -> object:
    """The CRM value of a field Exchange does not hold."""
    if fm.kind in _TEXT_DEFAULT:
        return ""
    return {"importance": 1, "free_busy": "busy", "task_status": "not_started", "percent": 0}.get(
        fm.kind
    )


# -- writing: CRM values -> exchangelib attributes --------------------
class Writer:
    """Sets CRM values on an exchangelib item; returns the attribute names to send."""

    def __init__(self, tz: zoneinfo.ZoneInfo) -> None:
        self.tz = tz
        self.ews_tz = EWSTimeZone.from_timezone(tz)

    def write(self, folder: Folder, item: object, values: dict[str, object]) -> list[str]:
        table = MAPPINGS[folder]
        touched: list[str] = []
        indexed: dict[str, list[FieldMap]] = {}
        for column, value in values.items():
            fm = table[column]
            if not fm.writable:
                continue
            if fm.kind in ("indexed", "address"):
                indexed.setdefault(fm.attr, []).append(fm)
                continue
            if fm.kind in ("when", "exceptions"):
                continue
            if fm.kind == "name":
                setattr(item, fm.attr, _text(value))
                continue
            setattr(item, fm.attr, self._convert(fm, value))
            touched.append(fm.attr)
        for attr, maps in indexed.items():
            setattr(item, attr, _merge_indexed(getattr(item, attr, None), maps, values))
            touched.append(attr)
        if any(table[c].kind == "name" for c in values):
            names = [getattr(item, a) for a in ("given_name", "middle_name", "surname")]
            item.display_name = " ".join(n for n in names if n) or "(no name)"  # type: ignore[attr-defined]
            touched += ["given_name", "middle_name", "surname", "display_name"]
        if any(table[c].kind == "when" for c in values):
            touched += self._write_when(item, values)
        return list(dict.fromkeys(touched))

    def _convert(self, fm: FieldMap, value: object) -> object:
        converter = _WRITERS.get(fm.kind)
        if converter is None:
            raise ValueError(f"unknown conversion {fm.kind}")
        return converter(value)

    def _write_when(self, item: object, values: dict[str, object]) -> list[str]:
        start, end = values.get("scheduled_start"), values.get("scheduled_end")
        if not isinstance(start, datetime.datetime) or not isinstance(end, datetime.datetime):
            raise ValueError("scheduled_start and scheduled_end must be aware datetimes")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("scheduled_start and scheduled_end must be timezone-aware")
        all_day = bool(values.get("is_all_day_event"))
        item.is_all_day = all_day  # type: ignore[attr-defined]
        item._start_timezone = self.ews_tz  # type: ignore[attr-defined]
        item._end_timezone = self.ews_tz  # type: ignore[attr-defined]
        local_start = start.astimezone(self.tz)
        if all_day:
            # The CRM's end is exclusive midnight; exchangelib wants the last day, inclusive.
            last = localdates.all_day_last_day(end, self.tz)
            item.start = EWSDate.from_date(local_start.date())  # type: ignore[attr-defined]
            item.end = EWSDate.from_date(max(last, local_start.date()))  # type: ignore[attr-defined]
        else:
            item.start = EWSDateTime.from_datetime(local_start).astimezone(self.ews_tz)  # type: ignore[attr-defined]
            item.end = EWSDateTime.from_datetime(end.astimezone(self.tz)).astimezone(self.ews_tz)  # type: ignore[attr-defined]
        touched = ["start", "end", "is_all_day"]
        if "recurrence_pattern" in values:
            rrule = values.get("recurrence_pattern") or ""
            item.recurrence = (
                recurrence.to_exchange(str(rrule), local_start.date(), self.tz) if rrule else None
            )  # type: ignore[attr-defined]
            touched.append("recurrence")
        return touched


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _attendees(value: object) -> object:
    emails = [e.strip() for e in re.split(r"[;,]", str(value or "")) if e.strip()]
    return [
        Attendee(mailbox=Mailbox(email_address=e), response_type="Unknown") for e in emails
    ] or None


def _completed(value: object) -> object:
    if not value:
        return None
    return EWSDateTime.from_datetime(value).astimezone(EWSTimeZone("UTC"))  # type: ignore[arg-type]


# One writer per field kind: CRM value -> exchangelib attribute value ("name", "indexed",
# "address" and "when" are set by Writer.write itself: they touch several attributes).
_WRITERS: dict[str, Callable[[object], object]] = {
    "text": _text,
    "list1": lambda value: [str(value)] if value else None,
    "body": lambda value: Body(str(value)) if value else None,
    "date": lambda value: EWSDate(value.year, value.month, value.day) if value else None,  # type: ignore[attr-defined]
    "importance": lambda value: _IMPORTANCE.get(int(value) if value is not None else 1, "Normal"),  # type: ignore[call-overload]
    "attendees": _attendees,
    "free_busy": lambda value: _FREE_BUSY.get(str(value or "busy"), "Busy"),
    "task_status": lambda value: _TASK_STATUS.get(str(value or "not_started"), "NotStarted"),
    "percent": lambda value: Decimal(int(value or 0)),  # type: ignore[call-overload]
    "completed": _completed,
}


def _merge_indexed(
    current: list | None, maps: list[FieldMap], values: dict[str, object]
) -> list | None:
    """Entries for the labels written, merged into the current set so other labels survive."""
    entries = {e.label: e for e in current or []}
    for fm in maps:
        value = _text(values[fm.column])
        old = entries.get(fm.label)
        if fm.kind == "address":
            kw = {s: getattr(old, s) for s in _ADDRESS_SUBS.values()} if old is not None else {}
            kw[fm.sub] = value
            if any(kw.values()):
                entries[fm.label] = PhysicalAddress(label=fm.label, **kw)
            else:
                entries.pop(fm.label, None)
        elif value is None:
            entries.pop(fm.label, None)
        elif fm.attr == "email_addresses":
            entries[fm.label] = EmailAddress(label=fm.label, email=value)
        else:
            entries[fm.label] = PhoneNumber(label=fm.label, phone_number=value)
    return list(entries.values()) or None


def fetch_attrs(folder: Folder, columns: Iterable[str]) -> list[str]:
    """exchangelib attributes to fetch for reading these columns."""
    table = MAPPINGS[folder]
    attrs: list[str] = []
    for c in columns:
        fm = table[c]
        if fm.kind == "when":
            attrs += [
                "start",
                "end",
                "is_all_day",
                "_start_timezone",
                "_end_timezone",
                "recurrence",
            ]
        elif fm.kind == "exceptions":
            # The occurrence lists, and the series' values an exception is compared with.
            attrs += ["modified_occurrences", "deleted_occurrences", "subject", "location"]
            attrs += ["body", *fetch_attrs(folder, ["scheduled_start"])]
        elif fm.kind == "completed":
            attrs += [fm.attr, "complete_date"]
        elif fm.kind == "text" and fm.sub:
            attrs += [fm.attr, fm.sub]
        else:
            attrs.append(fm.attr)
    return list(dict.fromkeys(attrs))
