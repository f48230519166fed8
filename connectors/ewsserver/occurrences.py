"""Occurrences of a recurring master as Exchange keeps them: expanded from the master's
Recurrence in its StartTimeZone, addressed by OccurrenceItemId (RecurringMasterId and a 1-based
InstanceIndex into the pattern, deleted occurrences included) or by an occurrence's own ItemId,
deleted (the master's DeletedOccurrences) or changed (its ModifiedOccurrences, CalendarItemType
Exception).

An exception keeps only what a client changed in it (its Start and End always): the master's
other properties show through, so a later change of the master's subject reaches every
occurrence whose subject was not changed. A property set back to the master's value is no longer
an override (a simplification: Exchange may keep such an override). Setting the master's
Recurrence, or moving its Start, clears its exceptions, as Exchange does. A change to an
occurrence is a change of the master: one ChangeKey for the master and all its occurrences
(Microsoft's OccurrenceItemId reference), and SyncFolderItems reports the master as updated.

The pattern is read with exchangelib's Recurrence and turned into the CRM's RRULE by
connectors/recurrence.py, then expanded by connectors/rrule.py: the same code the connector
uses to compute an InstanceIndex, so both agree on what the n-th occurrence is.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from exchangelib.recurrence import Recurrence
from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP
from lxml import etree

from .. import recurrence, rrule
from . import items as it
from . import schema
from .items import ItemError, T, local
from .store import Store, StoredItem

_PREFIX = b"OCC\x00"
_LIMIT = 5000  # occurrences looked at, at most (an endless series is cut there)
_MARK = "removed"  # an override that removes the master's value (DeleteItemField)
# What an occurrence never has of its own.
_SERIES_ONLY = {
    "Recurrence",
    "FirstOccurrence",
    "LastOccurrence",
    "ModifiedOccurrences",
    "DeletedOccurrences",
    "CalendarItemType",
    "OriginalStart",
    "RecurrenceId",
}
OUT_OF_RANGE = (
    "ErrorCalendarOccurrenceIndexIsOutOfRecurrenceRange",
    "The occurrence index is out of the recurrence range.",
)
DELETED = (
    "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
    "The occurrence was deleted from the recurrence.",
)


def utc_text(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(it.to_utc(text).replace("Z", "+00:00"))


def occurrence_id(master_id: str, original: str) -> str:
    """An occurrence's own ItemId: opaque to clients, stable for one occurrence of one master."""
    raw = _PREFIX + master_id.encode() + b"\x00" + original.encode()
    return base64.b64encode(raw).decode("ascii")


def parse_occurrence_id(item_id: str) -> tuple[str, str] | None:
    """(master id, original start) of an occurrence id this server issued, else None."""
    try:
        raw = base64.b64decode(item_id, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_PREFIX) or raw.count(b"\x00") < 2:
        return None
    master, _, original = raw[len(_PREFIX) :].rpartition(b"\x00")
    return master.decode(), original.decode()


def is_master(item: StoredItem) -> bool:
    return item.tag == "CalendarItem" and item.elem.find(f"{T}Recurrence") is not None


@dataclass
class Occurrence:
    """One occurrence of a master, by its start as the pattern puts it (UTC text)."""

    master: StoredItem
    original: str

    @property
    def item_id(self) -> str:
        return occurrence_id(self.master.item_id, self.original)

    @property
    def modified(self) -> bool:
        return self.master.occurrences.get(self.original) is not None


# -- the pattern --------------------------------------------------------------------------------
def _zone(master: StoredItem) -> ZoneInfo:
    tz = master.elem.find(f"{T}StartTimeZone")
    name = tz.get("Id", "UTC") if tz is not None else "UTC"
    iana = MS_TIMEZONE_TO_IANA_MAP.get(name, name)
    try:
        return ZoneInfo(iana)
    except (KeyError, ValueError):
        raise ItemError("ErrorCalendarInvalidTimeZone", f"Unknown time zone {name}.") from None


def _start_end(elem: etree._Element) -> tuple[datetime.datetime, datetime.datetime]:
    return parse_utc(elem.findtext(f"{T}Start") or ""), parse_utc(elem.findtext(f"{T}End") or "")


def starts(master: StoredItem) -> Iterator[datetime.datetime]:
    """The occurrences' starts as the pattern puts them (aware, in the master's zone)."""
    tz = _zone(master)
    start = _start_end(master.elem)[0].astimezone(tz)
    all_day = master.elem.findtext(f"{T}IsAllDayEvent") == "true"
    try:
        # A copy: exchangelib's from_xml empties the element it reads.
        rec = Recurrence.from_xml(copy.deepcopy(master.elem.find(f"{T}Recurrence")), account=None)
        rule = recurrence.to_rrule(rec, start, tz, all_day=all_day)
    except (ValueError, TypeError, AttributeError) as e:
        raise ItemError("ErrorCalendarInvalidRecurrence", f"Unsupported recurrence: {e}") from e
    first_day = rec.boundary.start
    first = datetime.datetime.combine(
        datetime.date(first_day.year, first_day.month, first_day.day), start.time(), tz
    )
    return rrule.occurrence_starts(rule, first, limit=_LIMIT)


def at_index(master: StoredItem, index: int) -> Occurrence:
    """The occurrence an InstanceIndex names; out of range and deleted ones are refused."""
    if index >= 1:
        for position, moment in enumerate(starts(master), start=1):
            if position == index:
                occ = Occurrence(master, utc_text(moment))
                if occ.original in master.occurrences and not occ.modified:
                    raise ItemError(*DELETED)
                return occ
    raise ItemError(*OUT_OF_RANGE)


def by_original(master: StoredItem, original: str) -> Occurrence:
    """The occurrence an occurrence id names (one the pattern no longer has is not found)."""
    wanted = parse_utc(original)
    for moment in starts(master):
        if moment == wanted:
            occ = Occurrence(master, original)
            if original in master.occurrences and not occ.modified:
                raise ItemError(*DELETED)
            return occ
        if moment > wanted:
            break
    raise ItemError("ErrorItemNotFound", "The specified object was not found in the store.")


# -- what the master shows ------------------------------------------------------------------------
def refresh(master: StoredItem) -> None:
    """Rebuild the master's ModifiedOccurrences and DeletedOccurrences from its exceptions."""
    for name in ("ModifiedOccurrences", "DeletedOccurrences"):
        old = master.elem.find(f"{T}{name}")
        if old is not None:
            master.elem.remove(old)
    order = schema.property_order("CalendarItem")
    modified = sorted((k, v) for k, v in master.occurrences.items() if v is not None)
    deleted = sorted(k for k, v in master.occurrences.items() if v is None)
    if modified:
        container = etree.Element(f"{T}ModifiedOccurrences")
        for original, overrides in modified:
            entry = etree.SubElement(container, f"{T}Occurrence")
            etree.SubElement(entry, f"{T}ItemId", Id=occurrence_id(master.item_id, original))
            for name in ("Start", "End"):
                etree.SubElement(entry, f"{T}{name}").text = overrides.findtext(f"{T}{name}")
            etree.SubElement(entry, f"{T}OriginalStart").text = original
        it.insert_ordered(master.elem, container, order)
    if deleted:
        container = etree.Element(f"{T}DeletedOccurrences")
        for original in deleted:
            entry = etree.SubElement(container, f"{T}DeletedOccurrence")
            etree.SubElement(entry, f"{T}Start").text = original
        it.insert_ordered(master.elem, container, order)


def clear(master: StoredItem) -> None:
    """Forget every exception (the master's pattern or start was set)."""
    master.occurrences.clear()
    refresh(master)


def _key(elem: etree._Element) -> object:
    if local(elem) == "ExtendedProperty":
        return ("ext", it.ext_identity(elem.find(f"{T}ExtendedFieldURI")))
    return local(elem)


def view(occ: Occurrence) -> StoredItem:
    """The occurrence as an item: the master's properties, its own times and overrides."""
    master = occ.master
    elem = etree.Element(master.elem.tag)
    for child in master.elem:
        if local(child) not in _SERIES_ONLY:
            elem.append(copy.deepcopy(child))
    start, end = _start_end(master.elem)
    original = parse_utc(occ.original)
    order = schema.property_order("CalendarItem")
    times = {"Start": occ.original, "End": utc_text(original + (end - start))}
    for name, text in times.items():
        it.delete_value(elem, it.Path("field", name))
        it.insert_ordered(elem, _text_elem(name, text), order)
    overrides = master.occurrences.get(occ.original)
    for override in overrides if overrides is not None else ():
        for old in [c for c in elem if _key(c) == _key(override)]:
            elem.remove(old)
        if override.get(_MARK) is None:
            it.insert_ordered(elem, copy.deepcopy(override), order)
    kind = "Exception" if overrides is not None else "Occurrence"
    for name, text in (
        ("CalendarItemType", kind),
        ("OriginalStart", occ.original),
        ("RecurrenceId", occ.original),
    ):
        it.insert_ordered(elem, _text_elem(name, text), order)
    return StoredItem(
        item_id=occ.item_id,
        mailbox=master.mailbox,
        folder=master.folder,
        elem=elem,
        version=master.version,
        salt=master.salt,
    )


def _text_elem(name: str, text: str) -> etree._Element:
    made = etree.Element(f"{T}{name}")
    made.text = text
    return made


# -- changing an occurrence -----------------------------------------------------------------------
def delete(store: Store, occ: Occurrence) -> None:
    occ.master.occurrences[occ.original] = None
    refresh(occ.master)
    store.touch(occ.master, {"ModifiedOccurrences", "DeletedOccurrences"})


def update(store: Store, occ: Occurrence, updates: etree._Element) -> None:
    """Apply an ItemChange's updates to an occurrence, which makes it (or keeps it) an exception."""
    work = view(occ).elem
    touched: dict[object, it.Path] = {}
    for upd in updates:
        path = it.parse_path(upd[0])
        if path.kind == "field" and (path.name in it.READ_ONLY or path.name in ("UID",)):
            raise ItemError(
                "ErrorInvalidPropertySet", f"Set action is invalid for property {path.name}."
            )
        if path.kind == "field" and path.name == "Recurrence":
            raise ItemError(
                "ErrorInvalidPropertySet",
                "An occurrence has no recurrence of its own: set it on the recurring master.",
            )
        if local(upd) == "SetItemField":
            it.set_value(work, path, upd[1])
        elif local(upd) == "AppendToItemField":
            it.append_value(work, path, upd[1])
        else:
            it.delete_value(work, path)
        touched[("ext", path.ext) if path.kind == "ext" else path.name] = path
    it.normalise(work)
    new_start, new_end = _start_end(work)
    if new_end < new_start:
        raise ItemError(
            "ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate"
        )
    _check_boundaries(occ, new_start)
    occ.master.occurrences[occ.original] = _overrides(occ, work, touched)
    refresh(occ.master)
    store.touch(occ.master, {"ModifiedOccurrences"})


def _overrides(
    occ: Occurrence, work: etree._Element, touched: dict[object, it.Path]
) -> etree._Element:
    """The exception's overrides after a change: what it had, with the touched properties taken
    from `work` (a removed one marked), less those equal to the master's; Start and End always."""
    old = occ.master.occurrences.get(occ.original)
    kept = {_key(c): c for c in (old if old is not None else ())}
    current = {_key(c): c for c in work}
    for key in [*touched, "Start", "End"]:
        if key in current:
            kept[key] = copy.deepcopy(current[key])
        else:
            kept[key] = _marker(touched[key])
    series = {_key(c): c for c in occ.master.elem}
    out = etree.Element(f"{T}CalendarItem")
    for key, value in kept.items():
        if key not in ("Start", "End") and _same(value, series.get(key)):
            continue
        out.append(value)
    return out


def _marker(path: it.Path) -> etree._Element:
    """An override that removes the master's value of `path`."""
    marker = etree.Element(f"{T}{path.name}", {_MARK: "1"})
    if path.kind == "ext" and path.uri is not None:
        marker.append(copy.deepcopy(path.uri))
    return marker


def _same(override: etree._Element, series: etree._Element | None) -> bool:
    if override.get(_MARK) is not None or series is None:
        return override.get(_MARK) is not None and series is None
    return _canon(override) == _canon(series)


def _canon(elem: etree._Element) -> tuple:
    """An element's content, whatever prefixes its namespaces were written with."""
    return (
        elem.tag,
        elem.text or "",
        tuple(sorted(elem.attrib.items())),
        tuple(_canon(child) for child in elem),
    )


def _check_boundaries(occ: Occurrence, new_start: datetime.datetime) -> None:
    """An occurrence cannot move to or past the day of the occurrence before or after it (the
    ones that take place, where they take place), as Outlook and Exchange refuse."""
    tz = _zone(occ.master)
    original = parse_utc(occ.original)
    before: datetime.date | None = None
    after: datetime.date | None = None
    for moment in starts(occ.master):
        key = utc_text(moment)
        if key in occ.master.occurrences and occ.master.occurrences[key] is None:
            continue  # deleted: takes place nowhere
        if moment < original:
            before = _actual(occ.master, key).astimezone(tz).date()
        elif moment > original:
            after = _actual(occ.master, key).astimezone(tz).date()
            break
    day = new_start.astimezone(tz).date()
    if (before is not None and day <= before) or (after is not None and day >= after):
        raise ItemError(
            "ErrorOccurrenceCrossingBoundary",
            "An occurrence cannot be moved to or past the day of an adjacent occurrence.",
        )


def _actual(master: StoredItem, original: str) -> datetime.datetime:
    overrides = master.occurrences.get(original)
    text = overrides.findtext(f"{T}Start") if overrides is not None else None
    return parse_utc(text or original)
