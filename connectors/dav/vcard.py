"""CRM Contact columns <-> vCard 3.0 (RFC 2426) and 4.0 (RFC 6350) through vobject, editing cards
in place so that properties the CRM does not know (photos, other phones, a client's own X- lines)
survive a sync. A card keeps its version: values are written in the form it declares.
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


# -- parsing: lines the connector does not map pass through untouched ---------------------------
def _mapped_names() -> frozenset[str]:
    names = {"BEGIN", "END", "VERSION", "UID", "PRODID", "REV", "FN", "N", "ORG", "CATEGORIES"}
    names |= {CRM_ID, _CHILDREN, *_SLOTS}
    names |= {n for group in (*_TEXT.values(), *_DATES.values()) for n in group}
    return frozenset(names)


_PROP_NAME = re.compile(r"^(?:[A-Za-z0-9-]+\.)?([A-Za-z0-9-]+)")


def _parse(text: str) -> tuple[vobject.base.Component, list[str]]:
    """The card vobject reads, and the (folded) lines of properties the connector does not map,
    kept as they came: vobject would rewrite some (a vCard 4.0 PHOTO data: URI loses all after
    its first comma)."""
    mapped = _MAPPED
    kept: list[str] = []
    raw: list[str] = []
    physical = re.split(r"\r\n|\n|\r", text)
    logical: list[list[str]] = []
    for line in physical:
        if line[:1] in (" ", "\t") and logical:
            logical[-1].append(line)
        elif line:
            logical.append([line])
    for parts in logical:
        match = _PROP_NAME.match(parts[0])
        name = match.group(1).upper() if match else ""
        (kept if name in mapped else raw).append("\r\n".join(parts))
    return vobject.readOne("\r\n".join(kept) + "\r\n"), raw


def _serialize(card: vobject.base.Component, raw: list[str]) -> str:
    text = card.serialize()
    if not raw:
        return text
    end = text.rfind("END:VCARD")
    return text[:end] + "".join(line + "\r\n" for line in raw) + text[end:]


def _version(card: vobject.base.Component) -> str:
    lines = _lines(card, "VERSION")
    return _text(lines[0].value).strip() if lines else "3.0"


def _set_rev(card: vobject.base.Component, version: str) -> None:
    """REV: when the card last changed (clients and latest_wins compare it)."""
    now = datetime.datetime.now(datetime.UTC)
    for line in _lines(card, "REV"):
        card.remove(line)
    stamp = f"{now:%Y%m%dT%H%M%SZ}" if version.startswith("4") else f"{now:%Y-%m-%dT%H:%M:%SZ}"
    card.add("rev").value = stamp


# -- reading -------------------------------------------------------------------------------------
def read(text: str, columns: Iterable[str]) -> Card:
    card, _ = _parse(text)
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


class _Reading:
    """One card being read: the slot assignment of each repeatable property, made once."""

    def __init__(self, card: vobject.base.Component) -> None:
        self.card = card
        self.assigned: dict[str, dict[str, object]] = {}

    def slots(self, prop: str) -> dict[str, object]:
        if prop not in self.assigned:
            self.assigned[prop] = _assign(self.card, prop)
        return self.assigned[prop]

    def name(self, column: str) -> object:
        names = _lines(self.card, "N")
        return _text(getattr(names[0].value, _NAME[column], "")) if names else ""

    def text(self, column: str) -> object:
        found = next((ln for name in _TEXT[column] for ln in _lines(self.card, name)), None)
        return _text(found.value) if found is not None else ""

    def date(self, column: str) -> object:
        found = next((ln for name in _DATES[column] for ln in _lines(self.card, name)), None)
        return _parse_date(_text(found.value)) if found is not None else None

    def org(self, column: str) -> object:
        orgs = _lines(self.card, "ORG")
        parts = orgs[0].value if orgs else []
        parts = parts if isinstance(parts, list) else [parts]
        return _text(parts[_ORG[column]]) if len(parts) > _ORG[column] else ""

    def children(self, column: str) -> object:
        return ", ".join(_text(ln.value) for ln in _lines(self.card, _CHILDREN) if ln.value)

    def slot(self, column: str) -> object:
        line = self.slots(_SLOT_PROP[column]).get(column)
        return _line_text(line) if line is not None else ""

    def address(self, column: str) -> object:
        prefix, part = _address_column(column)  # type: ignore[misc]
        line = self.slots("ADR").get(prefix)
        return _text(getattr(line.value, part, "")) if line is not None else ""  # type: ignore[attr-defined]


def _line_text(line: object) -> str:
    """A TEL written as a tel: URI (vCard 4.0, VALUE=uri) reads as the number."""
    text = _text(line.value)  # type: ignore[attr-defined]
    return text[4:] if text[:4].lower() == "tel:" else text


def _column_kinds() -> dict[str, str]:
    kinds = dict.fromkeys(_NAME, "name") | dict.fromkeys(_TEXT, "text")
    kinds |= dict.fromkeys(_DATES, "date") | dict.fromkeys(_ORG, "org")
    kinds |= {"childrens_names": "children"} | dict.fromkeys(_SLOT_PROP, "slot")
    kinds |= {c: "address" for c in COLUMNS if _address_column(c) is not None}
    return kinds


def read_fields(card: vobject.base.Component, columns: Iterable[str]) -> dict[str, object]:
    reading = _Reading(card)
    out: dict[str, object] = {}
    for column in columns:
        kind = _KINDS.get(column)
        if kind is None:
            raise ValueError(f"No vCard mapping for contact column {column!r}")
        out[column] = getattr(reading, kind)(column)
    return out


# -- writing -------------------------------------------------------------------------------------
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
    _set_rev(card, "3.0")
    return card.serialize()


def update(text: str, fields: Mapping[str, object], crm_id: str | None) -> tuple[str, str | None]:
    """The card with `fields` written (and the CRM id, if given); also the card's CRM id."""
    card, raw = _parse(text)
    if crm_id is not None:
        for line in _lines(card, CRM_ID):
            card.remove(line)
        card.add(CRM_ID.lower()).value = crm_id
    write_fields(card, fields)
    _set_rev(card, _version(card))
    ids = _lines(card, CRM_ID)
    return _serialize(card, raw), (_text(ids[0].value) or None) if ids else None


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


class _Writing:
    """One card being written: single values at once, repeatable and structured ones after."""

    def __init__(self, card: vobject.base.Component, fields: Mapping[str, object]) -> None:
        self.card = card
        self.fields = fields
        self.v4 = _version(card).startswith("4")
        self.touched: set[str] = set()
        self.addresses: dict[str, dict[str, str]] = {}

    def text(self, column: str, value: object) -> None:
        _set_single(self.card, _TEXT[column], _text(value))

    def date(self, column: str, value: object) -> None:
        if value is not None and not isinstance(value, datetime.date):
            raise ValueError(f"{column} must be a date, not {value!r}")
        names = _DATES[column]
        if self.v4 and "ANNIVERSARY" in names:  # vCard 4.0 has a property of its own
            names = ("ANNIVERSARY", *(n for n in names if n != "ANNIVERSARY"))
        # vCard 4.0 dates are ISO 8601 basic (19800229); 3.0 writes 1980-02-29.
        form = "%Y%m%d" if self.v4 else "%Y-%m-%d"
        _set_single(self.card, names, value.strftime(form) if value else "")

    def children(self, column: str, value: object) -> None:
        for line in _lines(self.card, _CHILDREN):
            self.card.remove(line)
        if _text(value):
            self.card.add(_CHILDREN.lower()).value = _text(value)

    def slot(self, column: str, value: object) -> None:
        self.touched.add(_SLOT_PROP[column])

    def address(self, column: str, value: object) -> None:
        self.touched.add("ADR")
        prefix, part = _address_column(column)  # type: ignore[misc]
        self.addresses.setdefault(prefix, {})[part] = _text(value)

    def name(self, column: str, value: object) -> None:
        """Written with the others of N (and FN) once all are known."""

    org = name

    def finish(self) -> None:
        for prop in sorted(self.touched):
            _write_slots(self.card, prop, self.fields, self.addresses, v4=self.v4)
        if any(c in self.fields for c in _ORG):
            _write_org(self.card, self.fields)
        if any(c in self.fields for c in _NAME):
            _write_name(self.card, self.fields)


def write_fields(card: vobject.base.Component, fields: Mapping[str, object]) -> None:
    writing = _Writing(card, fields)
    for column, value in fields.items():
        kind = _KINDS.get(column)
        if kind is None:
            raise ValueError(f"No vCard mapping for contact column {column!r}")
        getattr(writing, kind)(column, value)
    writing.finish()


def _slot_value(
    prop: str, column: str, line: object, fields: Mapping[str, object], addresses: dict
) -> object:
    """The value a slot line gets (None: remove the line); _SKIP: leave it alone."""
    if prop != "ADR":
        return _text(fields[column]) or None if column in fields else _SKIP
    if column not in addresses:
        return _SKIP
    current = line.value if line is not None else vobject.vcard.Address()  # type: ignore[attr-defined]
    parts = {
        attr: _text(getattr(current, attr, ""))
        for attr in ("box", "extended", "street", "city", "region", "code", "country")
    }
    parts.update(addresses[column])
    return vobject.vcard.Address(**parts) if any(parts.values()) else None


def _write_slots(
    card: vobject.base.Component,
    prop: str,
    fields: Mapping[str, object],
    addresses: dict[str, dict[str, str]],
    *,
    v4: bool = False,
) -> None:
    taken = _assign(card, prop)
    # Freeze today's assignment, so removing one line does not shift the others' meaning.
    for column, line in taken.items():
        line.params[SLOT] = [column]  # type: ignore[attr-defined]
    for column, spec in _SLOTS[prop].items():
        line = taken.get(column)
        value = _slot_value(prop, column, line, fields, addresses)
        if value is _SKIP:
            continue
        if value is None:
            if line is not None:
                card.remove(line)
            continue
        if line is None:
            line = _new_line(card, prop, column, spec, v4)
        if prop == "TEL":
            value = _tel_value(line, str(value))
        line.value = value  # type: ignore[attr-defined]


def _new_line(
    card: vobject.base.Component, prop: str, column: str, spec: _Slot, v4: bool
) -> object:
    line = card.add(prop.lower())
    types = [t for t in spec.types if not (v4 and t == "INTERNET")]  # not a 4.0 type
    if types:
        line.params["TYPE"] = types
    line.params[SLOT] = [column]
    if v4 and prop == "TEL":
        line.params["VALUE"] = ["uri"]  # RFC 6350's form: tel:+1-555-0100
    return line


_SKIP = object()
_TEL_URI = re.compile(r"\+?[0-9().-]+")


def _tel_value(line: object, number: str) -> str:
    """A TEL declared VALUE=uri holds a tel: URI (RFC 3966); a number a URI cannot hold (it has
    spaces or letters) is written as text, the line's VALUE=uri dropped."""
    params = line.params  # type: ignore[attr-defined]
    if [v.lower() for v in params.get("VALUE", [])] != ["uri"]:
        return number
    if _TEL_URI.fullmatch(number):
        return f"tel:{number}"
    params.pop("VALUE", None)
    return number


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


_MAPPED = _mapped_names()
_KINDS = _column_kinds()
