"""The Graph connector's mapping: CRM column -> Graph property (or MAPI extended property where
v1.0 has none), with conversions both ways.

The CRM id rides in the named property the EWS connector writes (PS_PUBLIC_STRINGS, name
SyncAdminCrmId), so an item tagged through EWS is found again through Graph.
"""

from __future__ import annotations

import datetime
import html
import re
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..base import Folder
from . import recurrence

PS_PUBLIC_STRINGS = "00020329-0000-0000-C000-000000000046"


def named(name: str) -> str:
    return f"String {{{PS_PUBLIC_STRINGS}}} Name {name}"


def tagged(tag: int, kind: str = "String") -> str:
    return f"{kind} 0x{tag:04X}"


CRM_ID = named("SyncAdminCrmId")
REGARDING = named("SyncAdminRegarding")
LINK_APP = "SyncAdmin"  # linkedResource.applicationName of a To Do task's CRM id
# Which CRM activity an item is (connectors.base.ACTIVITY_TYPE): on events the named property
# the EWS connector writes; To Do tasks have no extended properties, so the CRM link's display
# name says it (To Do shows it as the link's text; a user's edit of the task leaves it alone).
ACTIVITY_TYPE = named("SyncAdminActivityType")
LINK_NAMES = {
    "": "CRM record",
    "phone_call": "CRM phone call",
    "letter": "CRM letter",
    "fax": "CRM fax",
}
LINK_TYPES = {v: k for k, v in LINK_NAMES.items()}


@dataclass(frozen=True)
class FieldMap:
    column: str
    prop: str  # Graph property, or the extended property id for kind "ext"/"ext_date"
    kind: str = "text"
    sub: str = ""
    index: int = 0
    writable: bool = True


def _m(column: str, prop: str, kind: str = "text", **kw: object) -> FieldMap:
    return FieldMap(column, prop, kind, **kw)  # type: ignore[arg-type]


_ADDRESS = {"address1": "businessAddress", "address2": "homeAddress", "address3": "otherAddress"}
_ADDRESS_SUBS = {
    "street": "street",
    "city": "city",
    "state_or_province": "state",
    "postal_code": "postalCode",
    "country": "countryOrRegion",
}

CONTACT_FIELDS: list[FieldMap] = [
    _m("first_name", "givenName", "name"),
    _m("middle_name", "middleName", "name"),
    _m("last_name", "surname", "name"),
    _m("nickname", "nickName"),
    _m("yomi_first_name", "yomiGivenName"),
    _m("yomi_last_name", "yomiSurname"),
    _m("job_title", "jobTitle"),
    _m("company_name", "companyName"),
    _m("department", "department"),
    _m("manager", "manager"),
    _m("assistant", "assistantName"),
    _m("spouse_partner_name", "spouseName"),
    _m("childrens_names", "children", "list1"),
    _m("email", "primaryEmailAddress", "email"),
    _m("email_address_2", "secondaryEmailAddress", "email"),
    _m("email_address_3", "tertiaryEmailAddress", "email"),
    _m("business_phone", "businessPhones", "phones", index=0),
    _m("business_phone_2", "businessPhones", "phones", index=1),
    _m("home_phone", "homePhones", "phones", index=0),
    _m("home_phone_2", "homePhones", "phones", index=1),
    _m("mobile_phone", "mobilePhone"),
    _m("website", "businessHomePage"),
    _m("birthday", "birthday", "date"),
    _m("description", "personalNotes", "notes"),
    *(
        _m(f"{prefix}_{sub}", prop, "address", sub=attr)
        for prefix, prop in _ADDRESS.items()
        for sub, attr in _ADDRESS_SUBS.items()
    ),
    # No v1.0 property: MAPI properties, the ones Outlook itself shows.
    _m("government_id", tagged(0x3A07), "ext"),  # PidTagGovernmentIdNumber
    _m("ftp_site", tagged(0x3A4C), "ext"),  # PidTagFtpSite
    _m("company_phone", tagged(0x3A57), "ext"),  # PidTagCompanyMainTelephoneNumber
    _m("telephone_3", tagged(0x3A1F), "ext"),  # PidTagOtherTelephoneNumber
    _m("assistant_phone", tagged(0x3A2E), "ext"),  # PidTagAssistantTelephoneNumber
    _m("callback_number", tagged(0x3A02), "ext"),  # PidTagCallbackTelephoneNumber
    _m("pager", tagged(0x3A21), "ext"),  # PidTagPagerTelephoneNumber
    _m("fax", tagged(0x3A24), "ext"),  # PidTagBusinessFaxNumber
    _m("anniversary", tagged(0x3A41, "SystemTime"), "ext_date"),  # PidTagWeddingAnniversary
]

CALENDAR_FIELDS: list[FieldMap] = [
    _m("subject", "subject"),
    _m("description", "body", "body"),
    _m("priority", "importance", "importance"),
    _m("regarding", REGARDING, "ext"),
    _m("location", "location", "location"),
    _m("organizer", "organizer", "organizer", writable=False),
    _m("required_attendees", "attendees", "attendees", sub="required"),
    _m("optional_attendees", "attendees", "attendees", sub="optional"),
    _m("appointment_status", "showAs", "show_as"),
    _m("scheduled_start", "start", "when"),
    _m("scheduled_end", "end", "when"),
    _m("is_all_day_event", "isAllDay", "when"),
    _m("recurrence_pattern", "recurrence", "when"),
    _m("activity_type", ACTIVITY_TYPE, "ext"),
]

TASK_FIELDS: list[FieldMap] = [
    _m("subject", "title"),
    _m("description", "body", "body"),
    _m("priority", "importance", "importance"),
    _m("status", "status", "task_status"),
    _m("start_date", "startDateTime", "task_date"),
    _m("due_date", "dueDateTime", "task_date"),
    _m("actual_end", "completedDateTime", "completed"),
    # Written with the CRM link when the task is created (GraphConnector._link).
    _m("activity_type", "linkedResources", "link_type", writable=False),
]

MAPPINGS: dict[str, dict[str, FieldMap]] = {
    "contacts": {f.column: f for f in CONTACT_FIELDS},
    "calendar": {f.column: f for f in CALENDAR_FIELDS},
    "tasks": {f.column: f for f in TASK_FIELDS},
}

# What Microsoft To Do cannot hold (shown on the mailbox and Synchronized fields pages).
UNSUPPORTED: dict[str, dict[str, str]] = {
    "contact": {},
    "appointment": {},
    "recurring_appointment": {},
    "task": {
        "percent_complete": "Microsoft To Do has no percent complete.",
        "regarding": "Microsoft To Do tasks have no extended properties to hold the regarding "
        "record.",
    },
    **{
        e: {
            "regarding": "Microsoft To Do tasks have no extended properties to hold the "
            "regarding record."
        }
        for e in ("phone_call", "letter", "fax")
    },
    "service_activity": {},
}

# Columns a write must send together: a partial update is completed from the current item.
GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "contacts": {
        "name": ("first_name", "middle_name", "last_name"),
        "businessPhones": ("business_phone", "business_phone_2"),
        "homePhones": ("home_phone", "home_phone_2"),
        **{
            prop: tuple(f"{prefix}_{sub}" for sub in _ADDRESS_SUBS)
            for prefix, prop in _ADDRESS.items()
        },
    },
    "calendar": {
        "attendees": ("required_attendees", "optional_attendees"),
        "when": ("scheduled_start", "scheduled_end", "is_all_day_event", "recurrence_pattern"),
    },
    "tasks": {},
}

_IMPORTANCE = {0: "low", 1: "normal", 2: "high"}
_IMPORTANCE_BACK = {v: k for k, v in _IMPORTANCE.items()}
_SHOW_AS = {"free": "free", "tentative": "tentative", "busy": "busy", "out_of_office": "oof"}
_SHOW_AS_BACK = {v: k for k, v in _SHOW_AS.items()} | {
    "workingElsewhere": "busy",
    "unknown": "busy",
}
_TASK_STATUS = {
    "not_started": "notStarted",
    "in_progress": "inProgress",
    "waiting": "waitingOnOthers",
    "completed": "completed",
    "deferred": "deferred",
}
_TASK_STATUS_BACK = {v: k for k, v in _TASK_STATUS.items()}


def mapping(folder: Folder) -> dict[str, FieldMap]:
    return MAPPINGS[folder]


def ext_ids(folder: Folder) -> list[str]:
    """The extended properties to $expand when reading an item of this folder."""
    if folder == "tasks":
        return []
    return [CRM_ID, *(f.prop for f in MAPPINGS[folder].values() if f.kind.startswith("ext"))]


def html_to_text(markup: str) -> str:
    text = re.sub(r"(?is)<(script|style|head).*?</\1>", "", markup)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text).replace("\r\n", "\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def extended(item: dict) -> dict[str, str]:
    """An item's expanded single-value extended properties, by lower-cased id."""
    return {
        str(e.get("id", "")).lower(): e.get("value") or ""
        for e in item.get("singleValueExtendedProperties") or []
        if isinstance(e, dict)
    }


def _utc(value: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")[:26].rstrip("Z"))


def parse_dtz(value: dict | None) -> datetime.datetime | None:
    """A dateTimeTimeZone (UTC or a named zone) as an aware datetime."""
    if not value or not value.get("dateTime"):
        return None
    naive = datetime.datetime.fromisoformat(value["dateTime"][:26])
    tz_name = value.get("timeZone") or "UTC"
    try:
        tz = zoneinfo.ZoneInfo("UTC" if tz_name in ("UTC", "tzone://Microsoft/Utc") else tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = zoneinfo.ZoneInfo("UTC")
    return naive.replace(tzinfo=tz)


class Codec:
    """Converts between CRM values and Graph JSON in one time zone (dates, all-day events)."""

    def __init__(self, tz: zoneinfo.ZoneInfo) -> None:
        self.tz = tz

    # -- reading -------------------------------------------------------------------------------
    def read(self, folder: Folder, item: dict, columns: Iterable[str]) -> dict[str, object]:
        table = MAPPINGS[folder]
        ext = extended(item)
        return {c: self._value(table[c], item, ext) for c in columns}

    def _value(self, fm: FieldMap, item: dict, ext: dict[str, str]) -> object:
        handler = _READERS.get(fm.kind)
        if handler is None:
            raise ValueError(f"unknown conversion {fm.kind}")
        return handler(self, fm, item, item.get(fm.prop), ext)

    def _text(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return "" if raw is None else str(raw).replace("\r\n", "\n")

    def _ext(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return ext.get(fm.prop.lower(), "")

    def _link_type(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        link = next((r for r in raw or [] if r.get("applicationName") == LINK_APP), None)
        return LINK_TYPES.get(str((link or {}).get("displayName") or ""), "")

    def _ext_date(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        value = ext.get(fm.prop.lower())
        return _utc(value).date() if value else None

    def _list1(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return ", ".join(raw) if raw else ""

    def _email(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return (raw or {}).get("address") or ""

    def _phones(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        values = raw or []
        return values[fm.index] if fm.index < len(values) else ""

    def _address(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return (raw or {}).get(fm.sub) or ""

    def _date(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return _utc(raw).date() if raw else None

    def _body(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        if not raw:
            return ""
        content = raw.get("content") or ""
        if (raw.get("contentType") or "").lower() == "html":
            return html_to_text(content)
        return content.replace("\r\n", "\n")

    def _importance(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return _IMPORTANCE_BACK.get(raw or "normal", 1)

    def _location(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return (raw or {}).get("displayName") or ""

    def _organizer(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return ((raw or {}).get("emailAddress") or {}).get("address") or ""

    def _attendees(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return "; ".join(
            (a.get("emailAddress") or {}).get("address") or ""
            for a in raw or []
            if (a.get("type") or "required") == fm.sub
        )

    def _show_as(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return _SHOW_AS_BACK.get(raw or "busy", "busy")

    def _task_status(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return _TASK_STATUS_BACK.get(raw or "notStarted", "not_started")

    def _task_date(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        moment = parse_dtz(raw)
        return moment.astimezone(self.tz).date() if moment else None

    def _completed(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        moment = parse_dtz(raw)
        return moment.astimezone(datetime.UTC) if moment else None

    def _when_value(self, fm: FieldMap, item: dict, raw: Any, ext: dict[str, str]) -> object:
        return self._when(fm.column, item)

    def _when(self, column: str, item: dict) -> object:
        all_day = bool(item.get("isAllDay"))
        if column == "is_all_day_event":
            return all_day
        if column == "recurrence_pattern":
            rec = item.get("recurrence")
            if not rec:
                return ""
            start = parse_dtz(item.get("start"))
            return recurrence.to_rrule(rec, start, self.tz, all_day=all_day)
        value = item.get("start" if column == "scheduled_start" else "end")
        if not value:
            return None
        if all_day:  # a floating date: midnight in the mailbox's zone, end exclusive
            day = datetime.date.fromisoformat(value["dateTime"][:10])
            return datetime.datetime(day.year, day.month, day.day, tzinfo=self.tz)
        moment = parse_dtz(value)
        return moment.astimezone(datetime.UTC) if moment else None

    # -- writing -------------------------------------------------------------------------------
    def write(self, folder: Folder, values: dict[str, object]) -> dict:
        """The Graph body (a POST or PATCH) setting exactly these columns."""
        table = MAPPINGS[folder]
        body: dict = {}
        ext: list[dict] = []
        for column, value in values.items():
            fm = table[column]
            if not fm.writable or fm.kind in ("when", "attendees", "phones", "address"):
                continue
            if fm.kind == "ext":
                ext.append({"id": fm.prop, "value": _text(value) or ""})
            elif fm.kind == "ext_date":
                day = value
                ext.append(
                    {"id": fm.prop, "value": f"{day:%Y-%m-%d}T00:00:00Z" if day else ""}  # type: ignore[str-format]
                )
            else:
                body[fm.prop] = self._convert(fm, value)
        for fm in table.values():
            if fm.column not in values:
                continue
            if fm.kind == "phones":
                group = [f for f in table.values() if f.prop == fm.prop]
                phones = [_text(values.get(f.column)) or "" for f in group]
                while phones and not phones[-1]:
                    phones.pop()
                body[fm.prop] = phones
            elif fm.kind == "address":
                group = [f for f in table.values() if f.prop == fm.prop]
                address = {f.sub: _text(values.get(f.column)) for f in group}
                body[fm.prop] = (
                    {k: v for k, v in address.items() if v} if any(address.values()) else None
                )
            elif fm.kind == "attendees":
                body["attendees"] = [
                    {"emailAddress": {"address": e}, "type": f.sub}
                    for f in table.values()
                    if f.kind == "attendees"
                    for e in _emails(values.get(f.column))
                ]
        if any(table[c].kind == "name" for c in values):
            names = [_text(values.get(c)) for c in ("first_name", "middle_name", "last_name")]
            body["displayName"] = " ".join(n for n in names if n) or None
        if any(table[c].kind == "when" for c in values):
            body.update(self._write_when(values))
        if ext:
            body["singleValueExtendedProperties"] = ext
        return body

    def _convert(self, fm: FieldMap, value: object) -> object:
        kind = fm.kind
        if kind in ("text", "name", "notes"):
            return _text(value)
        if kind == "list1":
            return [str(value)] if value else []
        if kind == "email":
            return {"address": str(value), "name": str(value)} if value else None
        if kind == "date":
            return f"{value:%Y-%m-%d}T00:00:00Z" if value else None  # type: ignore[str-format]
        if kind == "body":
            return {"contentType": "text", "content": str(value or "")}
        if kind == "importance":
            return _IMPORTANCE.get(int(value) if value is not None else 1, "normal")  # type: ignore[call-overload]
        if kind == "location":
            return {"displayName": str(value or "")}
        if kind == "show_as":
            return _SHOW_AS.get(str(value or "busy"), "busy")
        if kind == "task_status":
            return _TASK_STATUS.get(str(value or "not_started"), "notStarted")
        if kind == "task_date":
            if not value:
                return None
            return {"dateTime": f"{value:%Y-%m-%d}T00:00:00.0000000", "timeZone": self.tz.key}  # type: ignore[str-format]
        if kind == "completed":
            if not value:
                return None
            moment = value.astimezone(datetime.UTC)  # type: ignore[attr-defined]
            return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}
        raise ValueError(f"unknown conversion {kind}")

    def _write_when(self, values: dict[str, object]) -> dict:
        start, end = values.get("scheduled_start"), values.get("scheduled_end")
        if not isinstance(start, datetime.datetime) or not isinstance(end, datetime.datetime):
            raise ValueError("An appointment needs scheduled_start and scheduled_end")
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("scheduled_start and scheduled_end must be timezone-aware")
        if end < start:
            raise ValueError(f"scheduled_end {end} is before scheduled_start {start}")
        all_day = bool(values.get("is_all_day_event"))
        local_start = start.astimezone(self.tz)
        tz_name = self.tz.key
        body: dict = {"isAllDay": all_day}
        if all_day:
            first = local_start.date()
            last = max(end.astimezone(self.tz).date(), first + datetime.timedelta(days=1))
            body["start"] = {"dateTime": f"{first:%Y-%m-%d}T00:00:00.0000000", "timeZone": tz_name}
            body["end"] = {"dateTime": f"{last:%Y-%m-%d}T00:00:00.0000000", "timeZone": tz_name}
        else:
            local_end = end.astimezone(self.tz)
            body["start"] = {
                "dateTime": local_start.strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                "timeZone": tz_name,
            }
            body["end"] = {
                "dateTime": local_end.strftime("%Y-%m-%dT%H:%M:%S.0000000"),
                "timeZone": tz_name,
            }
        if "recurrence_pattern" in values:
            rrule = values.get("recurrence_pattern") or ""
            body["recurrence"] = (
                recurrence.to_graph(str(rrule), local_start.date(), tz_name, self.tz)
                if rrule
                else None
            )
        return body


# One reader per field kind: (codec, field map, item, the item's property, its extended
# properties) -> CRM value.
_READERS: dict[str, Callable[[Codec, FieldMap, dict, Any, dict[str, str]], object]] = {
    "text": Codec._text,
    "name": Codec._text,
    "notes": Codec._text,
    "ext": Codec._ext,
    "link_type": Codec._link_type,
    "ext_date": Codec._ext_date,
    "list1": Codec._list1,
    "email": Codec._email,
    "phones": Codec._phones,
    "address": Codec._address,
    "date": Codec._date,
    "body": Codec._body,
    "importance": Codec._importance,
    "location": Codec._location,
    "organizer": Codec._organizer,
    "attendees": Codec._attendees,
    "show_as": Codec._show_as,
    "task_status": Codec._task_status,
    "task_date": Codec._task_date,
    "completed": Codec._completed,
    "when": Codec._when_value,
}


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _emails(value: object) -> list[str]:
    return [e.strip() for e in re.split(r"[;,]", str(value or "")) if e.strip()]


def missing_for(folder: Folder, columns: Iterable[str]) -> list[str]:
    """Columns to read from the current item so a partial write of a group is complete."""
    given = set(columns)
    out: list[str] = []
    for group in GROUPS[folder].values():
        if given & set(group):
            out += [c for c in group if c not in given]
    return out
