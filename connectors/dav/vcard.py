"""CRM Contact columns <-> vCard 3.0 (RFC 2426) through vobject, editing cards in place so that
properties the CRM does not know (photos, other phones, a client's own X- lines) survive a sync.
"""

# Where vCard has no property of its own we use Microsoft's published vCard mapping for Outlook
# contacts (MS-OXVCARD: X-MS-MANAGER, X-MS-ASSISTANT, X-MS-SPOUSE, X-MS-CHILD, X-MS-ANNIVERSARY)
# and Apple's X-PHONETIC-FIRST-NAME / X-PHONETIC-LAST-NAME, which Apple and Android clients read.

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import vobject

CRM_ID = "X-SYNCADMIN-CRM-ID"
# Marks which CRM column a TEL/EMAIL/URL/ADR line holds, so empty slots (no e-mail 1 but an
# e-mail 2) survive; lines without it (written by other clients) are matched by their TYPEs.
SLOT = "X-SYNCADMIN-SLOT"

UNSUPPORTED: dict[str, str] = {
    "government_id": (
        "vCard has no property for a government ID number; a private X- property would hide it "
        "from every CardDAV client while still copying a sensitive number to the server."
    ),
}

_TEXT: dict[str, tuple[str, ...]] = {
    # column: (property written, other names read and replaced: Evolution's)
    "nickname": ("NICKNAME",),
    "job_title": ("TITLE",),
    "yomi_first_name": ("X-PHONETIC-FIRST-NAME",),
    "yomi_last_name": ("X-PHONETIC-LAST-NAME",),
    "manager": ("X-MS-MANAGER", "X-EVOLUTION-MANAGER"),
    "assistant": ("X-MS-ASSISTANT", "X-EVOLUTION-ASSISTANT"),
    "spouse_partner_name": ("X-MS-SPOUSE", "X-EVOLUTION-SPOUSE"),
    "description": ("NOTE",),
}
_DATES: dict[str, tuple[str, ...]] = {
    "birthday": ("BDAY",),
    "anniversary": ("X-MS-ANNIVERSARY", "ANNIVERSARY", "X-ANNIVERSARY", "X-EVOLUTION-ANNIVERSARY"),
}
_NAME = {"first_name": "given", "middle_name": "additional", "last_name": "family"}
_ORG = {"company_name": 0, "department": 1}
_CHILDREN = "X-MS-CHILD"


@dataclass(frozen=True)
class _Slot:
    """One CRM column held by one line of a repeatable property."""

    match: Callable[[set[str], str], bool]
    types: tuple[str, ...]


_SPECIAL_TEL = {
    "FAX", "PAGER", "CELL", "MAIN", "X-ASSISTANT", "X-EVOLUTION-ASSISTANT", "X-CALLBACK",
    "X-EVOLUTION-CALLBACK", "X-COMPANY", "X-EVOLUTION-COMPANY",
}  # fmt: skip


def _has(*names: str) -> Callable[[set[str], str], bool]:
    return lambda types, _value: bool(types & set(names))


def _plain(kind: str) -> Callable[[set[str], str], bool]:
    return lambda types, _value: kind in types and not types & _SPECIAL_TEL


# Order matters: a line goes to the first column it matches.
_SLOTS: dict[str, dict[str, _Slot]] = {
    "TEL": {
        "fax": _Slot(lambda t, _v: "FAX" in t and "HOME" not in t, ("WORK", "FAX")),
        "pager": _Slot(_has("PAGER"), ("PAGER",)),
        "mobile_phone": _Slot(_has("CELL"), ("CELL", "VOICE")),
        "assistant_phone": _Slot(_has("X-ASSISTANT", "X-EVOLUTION-ASSISTANT"), ("X-ASSISTANT",)),
        "callback_number": _Slot(_has("X-CALLBACK", "X-EVOLUTION-CALLBACK"), ("X-CALLBACK",)),
        "company_phone": _Slot(
            _has("X-COMPANY", "MAIN", "X-EVOLUTION-COMPANY"), ("WORK", "X-COMPANY")
        ),
        "business_phone": _Slot(_plain("WORK"), ("WORK", "VOICE")),
        "business_phone_2": _Slot(_plain("WORK"), ("WORK", "VOICE")),
        "home_phone": _Slot(_plain("HOME"), ("HOME", "VOICE")),
        "home_phone_2": _Slot(_plain("HOME"), ("HOME", "VOICE")),
        "telephone_3": _Slot(
            lambda t, _v: not t & (_SPECIAL_TEL | {"WORK", "HOME", "CAR", "ISDN"}), ("VOICE",)
        ),
    },
    "EMAIL": {
        "email": _Slot(lambda _t, _v: True, ("INTERNET",)),
        "email_address_2": _Slot(lambda _t, _v: True, ("INTERNET",)),
        "email_address_3": _Slot(lambda _t, _v: True, ("INTERNET",)),
    },
    "URL": {
        "ftp_site": _Slot(lambda t, v: "X-FTP" in t or v.lower().startswith("ftp:"), ("X-FTP",)),
        "website": _Slot(lambda t, _v: "X-FTP" not in t, ("WORK",)),
    },
    "ADR": {
        "address1": _Slot(_has("WORK"), ("WORK",)),
        "address2": _Slot(lambda t, _v: "HOME" in t and "WORK" not in t, ("HOME",)),
        "address3": _Slot(lambda t, _v: not t & {"WORK", "HOME"}, ("OTHER",)),
    },
}
_ADDRESS_PARTS = {
    "street": "street",
    "city": "city",
    "state_or_province": "region",
    "postal_code": "code",
    "country": "country",
}
_SLOT_PROP = {column: prop for prop, slots in _SLOTS.items() for column in slots}


def _address_column(column: str) -> tuple[str, str] | None:
    prefix, _, part = column.partition("_")
    if prefix in _SLOTS["ADR"] and part in _ADDRESS_PARTS:
        return prefix, _ADDRESS_PARTS[part]
    return None


COLUMNS: tuple[str, ...] = (
    *_NAME,
    *_TEXT,
    *_DATES,
    *_ORG,
    "childrens_names",
    *(c for prop, slots in _SLOTS.items() if prop != "ADR" for c in slots),
    *(f"{prefix}_{part}" for prefix in _SLOTS["ADR"] for part in _ADDRESS_PARTS),
)
_DATE_COLUMNS = set(_DATES)


@dataclass(frozen=True)
class Card:
    crm_id: str | None
    categories: tuple[str, ...]
    fields: dict[str, object]
    modified: datetime.datetime | None = None  # REV, when the card has one (latest_wins)


# -- small helpers -------------------------------------------------------------------------------
def _lines(card: vobject.base.Component, name: str) -> list:
    return list(card.contents.get(name.lower(), []))


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _types(line: object) -> set[str]:
    found: set[str] = set()
    for value in line.params.get("TYPE", []):  # type: ignore[attr-defined]
        found.update(v.strip().upper() for v in str(value).split(",") if v.strip())
    found.update(str(v).upper() for v in getattr(line, "singletonparams", []))
    return found


def _slot_of(line: object) -> str | None:
    values = line.params.get(SLOT)  # type: ignore[attr-defined]
    return str(values[0]) if values else None


def _parse_date(text: str) -> datetime.date | None:
    """vCard dates: 1980-02-29, 19800229, or with a time; a date without a year is dropped."""
    match = re.match(r"^(\d{4})-?(\d{2})-?(\d{2})", text.strip())
    if not match:
        return None
    try:
        return datetime.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def _assign(card: vobject.base.Component, prop: str) -> dict[str, object]:
    """Which line of `prop` holds which CRM column: tagged lines first, then by TYPE in order."""
    lines = _lines(card, prop)
    slots = _SLOTS[prop]
    taken: dict[str, object] = {}
    used: set[int] = set()
    for line in lines:
        slot = _slot_of(line)
        if slot in slots and slot not in taken:
            taken[slot] = line
            used.add(id(line))
    for column, spec in slots.items():
        if column in taken:
            continue
        for line in lines:
            if id(line) not in used and spec.match(_types(line), _text(line.value)):
                taken[column] = line
                used.add(id(line))
                break
    return taken


# -- reading -----------------------------------------------------------------------------------
def read(text: str, columns: Iterable[str]) -> Card:
    card = vobject.readOne(text)
    crm = _lines(card, CRM_ID)
    categories: list[str] = []
    for line in _lines(card, "CATEGORIES"):
        value = line.value
        categories += [str(v) for v in (value if isinstance(value, list) else [value]) if v]
    return Card(
        crm_id=(_text(crm[0].value) or None) if crm else None,
        categories=tuple(categories),
        fields=read_fields(card, columns),
        modified=_parse_rev(_lines(card, "REV")),
    )


def _parse_rev(lines: list) -> datetime.datetime | None:
    """REV as an aware UTC time: 2026-11-26T21:00:00Z, 20261126T210000Z, or a date (midnight
    UTC); a time without a zone is taken as UTC, anything unreadable as unknown."""
    if not lines:
        return None
    text = re.sub(r"[-:]", "", _text(lines[0].value).strip())
    match = re.match(r"^(\d{8})(?:T(\d{6}))?(Z|[+]\d{4})?", text)
    if not match:
        return None
    day, time, zone = match.groups()
    try:
        stamp = datetime.datetime.strptime(day + (time or "000000"), "%Y%m%d%H%M%S")
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        return (stamp - sign * offset).replace(tzinfo=datetime.UTC)
    return stamp.replace(tzinfo=datetime.UTC)


def read_fields(card: vobject.base.Component, columns: Iterable[str]) -> dict[str, object]:
    assigned: dict[str, dict[str, object]] = {}

    def slots(prop: str) -> dict[str, object]:
        if prop not in assigned:
            assigned[prop] = _assign(card, prop)
        return assigned[prop]

    out: dict[str, object] = {}
    for column in columns:
        if column in _NAME:
            names = _lines(card, "N")
            out[column] = _text(getattr(names[0].value, _NAME[column], "")) if names else ""
        elif column in _TEXT:
            found = next((ln for name in _TEXT[column] for ln in _lines(card, name)), None)
            out[column] = _text(found.value) if found is not None else ""
        elif column in _DATES:
            found = next((ln for name in _DATES[column] for ln in _lines(card, name)), None)
            out[column] = _parse_date(_text(found.value)) if found is not None else None
        elif column in _ORG:
            orgs = _lines(card, "ORG")
            parts = orgs[0].value if orgs else []
            parts = parts if isinstance(parts, list) else [parts]
            out[column] = _text(parts[_ORG[column]]) if len(parts) > _ORG[column] else ""
        elif column == "childrens_names":
            out[column] = ", ".join(_text(ln.value) for ln in _lines(card, _CHILDREN) if ln.value)
        elif column in _SLOT_PROP:
            line = slots(_SLOT_PROP[column]).get(column)
            out[column] = _text(line.value) if line is not None else ""  # type: ignore[attr-defined]
        elif (address := _address_column(column)) is not None:
            line = slots("ADR").get(address[0])
            value = getattr(line.value, address[1], "") if line is not None else ""  # type: ignore[attr-defined]
            out[column] = _text(value)
        else:
            raise ValueError(f"No vCard mapping for contact column {column!r}")
    return out


# -- writing -----------------------------------------------------------------------------------
def new(uid: str, crm_id: str, fields: Mapping[str, object], categories: Iterable[str]) -> str:
    card = vobject.vCard()
    card.add("version").value = "3.0"
    card.add("prodid").value = "-//syncadmin//dav connector//EN"
    card.add("uid").value = uid
    card.add(CRM_ID.lower()).value = crm_id
    cats = [c for c in categories if c]
    if cats:
        card.add("categories").value = cats
    values = {c: "" for c in _NAME} | dict(fields)
    write_fields(card, values)
    return card.serialize()


def update(text: str, fields: Mapping[str, object], crm_id: str | None) -> tuple[str, str | None]:
    """The card with `fields` written (and the CRM id, if given); also the card's CRM id."""
    card = vobject.readOne(text)
    if crm_id is not None:
        for line in _lines(card, CRM_ID):
            card.remove(line)
        card.add(CRM_ID.lower()).value = crm_id
    write_fields(card, fields)
    ids = _lines(card, CRM_ID)
    return card.serialize(), (_text(ids[0].value) or None) if ids else None


def _set_single(card: vobject.base.Component, names: tuple[str, ...], value: str) -> None:
    """Write one value to the first of `names` the card already has (else the first name)."""
    existing = [ln for name in names for ln in _lines(card, name)]
    keep = existing[0] if existing else None
    for line in existing[1:]:
        card.remove(line)
    if not value:
        if keep is not None:
            card.remove(keep)
        return
    if keep is None:
        keep = card.add(names[0].lower())
    keep.value = value


def write_fields(card: vobject.base.Component, fields: Mapping[str, object]) -> None:
    touched_props: set[str] = set()
    addresses: dict[str, dict[str, str]] = {}
    for column, value in fields.items():
        if column in _TEXT:
            _set_single(card, _TEXT[column], _text(value))
        elif column in _DATES:
            if value is not None and not isinstance(value, datetime.date):
                raise ValueError(f"{column} must be a date, not {value!r}")
            _set_single(card, _DATES[column], value.isoformat() if value else "")
        elif column == "childrens_names":
            for line in _lines(card, _CHILDREN):
                card.remove(line)
            if _text(value):
                card.add(_CHILDREN.lower()).value = _text(value)
        elif column in _SLOT_PROP or _address_column(column) is not None:
            prop = _SLOT_PROP.get(column, "ADR")
            touched_props.add(prop)
            if prop == "ADR":
                prefix, part = _address_column(column)  # type: ignore[misc]
                addresses.setdefault(prefix, {})[part] = _text(value)
        elif column not in _NAME and column not in _ORG:
            raise ValueError(f"No vCard mapping for contact column {column!r}")
    for prop in sorted(touched_props):
        _write_slots(card, prop, fields, addresses)
    if any(c in fields for c in _ORG):
        _write_org(card, fields)
    if any(c in fields for c in _NAME):
        _write_name(card, fields)


def _write_slots(
    card: vobject.base.Component,
    prop: str,
    fields: Mapping[str, object],
    addresses: dict[str, dict[str, str]],
) -> None:
    taken = _assign(card, prop)
    # Freeze today's assignment, so removing one line does not shift the others' meaning.
    for column, line in taken.items():
        line.params[SLOT] = [column]  # type: ignore[attr-defined]
    for column, spec in _SLOTS[prop].items():
        line = taken.get(column)
        if prop == "ADR":
            if column not in addresses:
                continue
            current = line.value if line is not None else vobject.vcard.Address()  # type: ignore[attr-defined]
            parts = {
                attr: _text(getattr(current, attr, ""))
                for attr in ("box", "extended", "street", "city", "region", "code", "country")
            }
            parts.update(addresses[column])
            value: object = vobject.vcard.Address(**parts) if any(parts.values()) else None
        else:
            if column not in fields:
                continue
            value = _text(fields[column]) or None
        if value is None:
            if line is not None:
                card.remove(line)
            continue
        if line is None:
            line = card.add(prop.lower())
            line.params["TYPE"] = list(spec.types)  # type: ignore[attr-defined]
            line.params[SLOT] = [column]  # type: ignore[attr-defined]
        line.value = value  # type: ignore[attr-defined]


def _write_org(card: vobject.base.Component, fields: Mapping[str, object]) -> None:
    orgs = _lines(card, "ORG")
    parts = list(orgs[0].value) if orgs and isinstance(orgs[0].value, list) else []
    if orgs and not isinstance(orgs[0].value, list):
        parts = [_text(orgs[0].value)]
    while len(parts) < 2:
        parts.append("")
    for column, index in _ORG.items():
        if column in fields:
            parts[index] = _text(fields[column])
    while len(parts) > 1 and not parts[-1]:
        parts.pop()
    for line in orgs:
        card.remove(line)
    if any(parts):
        card.add("org").value = parts


def _write_name(card: vobject.base.Component, fields: Mapping[str, object]) -> None:
    names = _lines(card, "N")
    current = names[0].value if names else vobject.vcard.Name()
    parts = {
        attr: _text(getattr(current, attr, ""))
        for attr in ("family", "given", "additional", "prefix", "suffix")
    }
    for column, attr in _NAME.items():
        if column in fields:
            parts[attr] = _text(fields[column])
    for line in names:
        card.remove(line)
    card.add("n").value = vobject.vcard.Name(**parts)
    # FN is required; it follows the name, as Outlook's display name does.
    full = " ".join(p for p in (parts["given"], parts["additional"], parts["family"]) if p)
    if not full:
        orgs = _lines(card, "ORG")
        org = orgs[0].value if orgs else ""
        emails = _lines(card, "EMAIL")
        full = (
            _text(org[0] if isinstance(org, list) and org else org)
            or (_text(emails[0].value) if emails else "")
            or "(no name)"
        )
    for line in _lines(card, "FN"):
        card.remove(line)
    card.add("fn").value = full
