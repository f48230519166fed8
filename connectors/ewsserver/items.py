"""Item property logic of the test server: property paths, Set/Append/DeleteItemField, projection
to an ItemShape, server-computed properties and FindItem restrictions.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from lxml import etree

from . import schema
from .store import TNS, now_utc

T = f"{{{TNS}}}"

INDEXED_CONTAINERS = {
    "contacts:EmailAddress": "EmailAddresses",
    "contacts:PhoneNumber": "PhoneNumbers",
    "contacts:ImAddress": "ImAddresses",
}
PHYSICAL_PREFIX = "contacts:PhysicalAddress:"
ADDRESS_ORDER = ["Street", "City", "State", "CountryOrRegion", "PostalCode"]

# Properties the server computes; a client that sets them gets ErrorInvalidPropertySet.
READ_ONLY = {
    "ItemId",
    "ParentFolderId",
    "DateTimeCreated",
    "LastModifiedTime",
    "Size",
    "DateTimeReceived",
    "HasAttachments",
    "IsAssociated",
    "CompleteName",
    "CalendarItemType",
    "IsRecurring",
    "IsComplete",
    "CompleteDate",
    "EffectiveRights",
    "LastModifiedName",
    "IsMeeting",
    "IsCancelled",
    "MyResponseType",
    "Organizer",
    "AppointmentState",
    "TextBody",
    "ChangeCount",
    "Delegator",
    "Owner",
    "IsAssignmentEditable",
    "IsTeamTask",
    "StatusDescription",
    "AssignedTime",
    "FirstOccurrence",
    "LastOccurrence",
    "ModifiedOccurrences",
    "DeletedOccurrences",
}
ITEM_CLASS = {"Contact": "IPM.Contact", "CalendarItem": "IPM.Appointment", "Task": "IPM.Task"}


class ItemError(Exception):
    """A per-item failure reported in that item's response message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def local(elem: etree._Element) -> str:
    return etree.QName(elem).localname


# -- property paths ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Path:
    """A FieldURI, IndexedFieldURI or ExtendedFieldURI, resolved to where it lives in an item."""

    kind: str  # "field" | "indexed" | "address" | "ext"
    name: str  # element name (container for indexed/address)
    key: str = ""  # entry Key for indexed/address
    sub: str = ""  # sub-element for address
    ext: tuple = ()  # normalised ExtendedFieldURI identity
    uri: etree._Element | None = field(default=None, compare=False, hash=False)

    @property
    def prop_key(self) -> str:
        if self.kind == "ext":
            return "ext:" + ";".join(f"{k}={v}" for k, v in self.ext)
        if self.kind in ("indexed", "address"):
            return f"{self.name}:{self.key}"
        return self.name


def ext_identity(uri: etree._Element) -> tuple:
    attrs = dict(uri.attrib)
    attrs.pop("PropertyType", None)
    if "PropertySetId" in attrs:
        attrs["PropertySetId"] = attrs["PropertySetId"].lower()
    if "PropertyTag" in attrs:
        tag = attrs["PropertyTag"]
        attrs["PropertyTag"] = str(int(tag, 16) if tag.lower().startswith("0x") else int(tag))
    return tuple(sorted(attrs.items()))


def parse_path(elem: etree._Element) -> Path:
    tag = local(elem)
    uri = elem.get("FieldURI", "")
    if tag == "FieldURI":
        return Path("field", uri.split(":", 1)[1])
    if tag == "IndexedFieldURI":
        index = elem.get("FieldIndex", "")
        if uri.startswith(PHYSICAL_PREFIX):
            return Path("address", "PhysicalAddresses", index, uri[len(PHYSICAL_PREFIX) :])
        if uri in INDEXED_CONTAINERS:
            return Path("indexed", INDEXED_CONTAINERS[uri], index)
        raise ItemError(
            "ErrorInvalidIndexedPagingParameters", f"Unsupported indexed property {uri}"
        )
    if tag == "ExtendedFieldURI":
        return Path("ext", "ExtendedProperty", ext=ext_identity(elem), uri=elem)
    raise ItemError("ErrorInvalidPropertyRequest", f"Unsupported property path {tag}")


def find_ext(item_elem: etree._Element, ident: tuple) -> etree._Element | None:
    for prop in item_elem.iterfind(f"{T}ExtendedProperty"):
        uri = prop.find(f"{T}ExtendedFieldURI")
        if uri is not None and ext_identity(uri) == ident:
            return prop
    return None


def find_entry(container: etree._Element | None, key: str) -> etree._Element | None:
    if container is None:
        return None
    for entry in container.iterfind(f"{T}Entry"):
        if entry.get("Key") == key:
            return entry
    return None


def get_value(item_elem: etree._Element, path: Path) -> etree._Element | None:
    """The element holding a path's value in an item, or None when the property is not set."""
    if path.kind == "ext":
        return find_ext(item_elem, path.ext)
    found = item_elem.find(f"{T}{path.name}")
    if path.kind == "field":
        return found
    entry = find_entry(found, path.key)
    if path.kind == "indexed" or entry is None:
        return entry
    return entry.find(f"{T}{path.sub}")


def insert_ordered(parent: etree._Element, child: etree._Element, order: dict[str, int]) -> None:
    pos = order.get(local(child), 10_000)
    for i, existing in enumerate(parent):
        if order.get(local(existing), 10_000) > pos:
            parent.insert(i, child)
            return
    parent.append(child)


def set_value(item_elem: etree._Element, path: Path, source: etree._Element) -> None:
    """Apply a SetItemField: `source` is the one-property item element the client sent."""
    order = schema.property_order(local(item_elem))
    if path.kind == "ext":
        new = source.find(f"{T}ExtendedProperty")
        if new is None or ext_identity(new.find(f"{T}ExtendedFieldURI")) != path.ext:
            raise ItemError(
                "ErrorInvalidPropertyForOperation", "The extended property does not match its path."
            )
        old = find_ext(item_elem, path.ext)
        if old is not None:
            item_elem.remove(old)
        insert_ordered(item_elem, copy.deepcopy(new), order)
        return
    new = source.find(f"{T}{path.name}")
    if new is None or len(source) != 1:
        raise ItemError(
            "ErrorIncorrectUpdatePropertyCount",
            "An object within a change description must contain one and only one property "
            "to modify.",
        )
    if path.kind == "field":
        old = item_elem.find(f"{T}{path.name}")
        if old is not None:
            item_elem.replace(old, copy.deepcopy(new))
        else:
            insert_ordered(item_elem, copy.deepcopy(new), order)
        return
    new_entry = find_entry(new, path.key)
    if new_entry is None:
        raise ItemError(
            "ErrorInvalidPropertyForOperation", f"No entry with Key {path.key} in {path.name}."
        )
    container = item_elem.find(f"{T}{path.name}")
    if container is None:
        container = etree.Element(f"{T}{path.name}")
        insert_ordered(item_elem, container, order)
    old_entry = find_entry(container, path.key)
    if path.kind == "indexed":
        if old_entry is not None:
            container.replace(old_entry, copy.deepcopy(new_entry))
        else:
            container.append(copy.deepcopy(new_entry))
        return
    if old_entry is None:
        old_entry = etree.SubElement(container, f"{T}Entry", Key=path.key)
    sub_order = {name: i for i, name in enumerate(ADDRESS_ORDER)}
    for sub in new_entry:
        existing = old_entry.find(sub.tag)
        if existing is not None:
            old_entry.replace(existing, copy.deepcopy(sub))
        else:
            insert_ordered(old_entry, copy.deepcopy(sub), sub_order)


def delete_value(item_elem: etree._Element, path: Path) -> None:
    """Apply a DeleteItemField; deleting an unset property is not an error (as in Exchange)."""
    if path.kind == "ext":
        old = find_ext(item_elem, path.ext)
        if old is not None:
            item_elem.remove(old)
        return
    container = item_elem.find(f"{T}{path.name}")
    if container is None:
        return
    if path.kind == "field":
        item_elem.remove(container)
        return
    entry = find_entry(container, path.key)
    if entry is not None:
        if path.kind == "indexed":
            container.remove(entry)
        else:
            sub = entry.find(f"{T}{path.sub}")
            if sub is not None:
                entry.remove(sub)
            if len(entry) == 0:
                container.remove(entry)
    if len(container) == 0:
        item_elem.remove(container)


def append_value(item_elem: etree._Element, path: Path, source: etree._Element) -> None:
    """Apply an AppendToItemField: text is appended to Body, children to list properties."""
    if path.kind != "field":
        raise ItemError("ErrorInvalidPropertyAppend", "Only plain properties can be appended to.")
    new = source.find(f"{T}{path.name}")
    if new is None:
        raise ItemError(
            "ErrorIncorrectUpdatePropertyCount", "The change description has no property."
        )
    old = item_elem.find(f"{T}{path.name}")
    if old is None:
        set_value(item_elem, path, source)
    elif len(new):
        for child in new:
            old.append(copy.deepcopy(child))
    elif path.name == "Body":
        old.text = (old.text or "") + (new.text or "")
    else:
        raise ItemError("ErrorInvalidPropertyAppend", f"Cannot append to {path.name}.")


# -- normalisation and computed properties ----------------------------------------------------
def normalise(item_elem: etree._Element) -> None:
    """Store booleans as true/false and datetimes in UTC, as Exchange returns them."""
    tag = local(item_elem)
    booleans = schema.typed_properties(tag, "xs:boolean")
    datetimes = schema.typed_properties(tag, "xs:dateTime")
    for child in item_elem:
        name = local(child)
        if name in booleans and child.text in ("1", "0"):
            child.text = "true" if child.text == "1" else "false"
        elif name in datetimes and child.text:
            child.text = to_utc(child.text)


def to_utc(text: str) -> str:
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_writable(item_elem: etree._Element) -> None:
    for child in item_elem:
        if local(child) in READ_ONLY:
            raise ItemError(
                "ErrorInvalidPropertySet", f"Set action is invalid for property {local(child)}."
            )


def _set_text(item_elem: etree._Element, name: str, text: str) -> None:
    found = item_elem.find(f"{T}{name}")
    if found is None:
        found = etree.Element(f"{T}{name}")
        insert_ordered(item_elem, found, schema.property_order(local(item_elem)))
    found.text = text


def _remove(item_elem: etree._Element, name: str) -> None:
    found = item_elem.find(f"{T}{name}")
    if found is not None:
        item_elem.remove(found)


def _text(item_elem: etree._Element, name: str) -> str | None:
    found = item_elem.find(f"{T}{name}")
    return None if found is None else (found.text or "")


def validate_and_compute(item_elem: etree._Element, *, created: bool, owner: str = "") -> None:
    """Check cross-property rules and fill the properties Exchange computes."""
    tag = local(item_elem)
    normalise(item_elem)
    stamp = now_utc()
    if created:
        if item_elem.find(f"{T}ItemClass") is None and tag in ITEM_CLASS:
            _set_text(item_elem, "ItemClass", ITEM_CLASS[tag])
        _set_text(item_elem, "DateTimeCreated", stamp)
        _set_text(item_elem, "HasAttachments", "false")
    _set_text(item_elem, "LastModifiedTime", stamp)
    if tag == "CalendarItem":
        start, end = _text(item_elem, "Start"), _text(item_elem, "End")
        if start is None or end is None:
            raise ItemError("ErrorInvalidPropertySet", "A calendar item needs Start and End.")
        if end < start:
            raise ItemError(
                "ErrorCalendarEndDateIsEarlierThanStartDate",
                "EndDate is earlier than StartDate",
            )
        if created and item_elem.find(f"{T}UID") is None:
            _set_text(item_elem, "UID", uuid.uuid4().hex.upper())
        recurring = item_elem.find(f"{T}Recurrence") is not None
        _set_text(item_elem, "CalendarItemType", "RecurringMaster" if recurring else "Single")
        attendees = any(
            item_elem.find(f"{T}{n}") is not None
            for n in ("RequiredAttendees", "OptionalAttendees")
        )
        _set_text(item_elem, "IsMeeting", "true" if attendees else "false")
        if created and owner:
            # Exchange makes the mailbox owner the organizer; clients cannot set it.
            organizer = etree.Element(f"{T}Organizer")
            box = etree.SubElement(organizer, f"{T}Mailbox")
            etree.SubElement(box, f"{T}Name").text = owner.split("@")[0]
            etree.SubElement(box, f"{T}EmailAddress").text = owner
            etree.SubElement(box, f"{T}RoutingType").text = "SMTP"
            etree.SubElement(box, f"{T}MailboxType").text = "Mailbox"
            insert_ordered(item_elem, organizer, schema.property_order(tag))
        _set_text(item_elem, "IsCancelled", "false")
        _set_text(item_elem, "MyResponseType", "Organizer")
    elif tag == "Task":
        _compute_task(item_elem)


def _compute_task(item_elem: etree._Element) -> None:
    raw = _text(item_elem, "PercentComplete")
    try:
        percent = Decimal(raw) if raw else Decimal(0)
    except InvalidOperation:
        raise ItemError(
            "ErrorInvalidPercentCompleteValue", "PercentComplete must be a number."
        ) from None
    if not Decimal(0) <= percent <= Decimal(100):
        raise ItemError(
            "ErrorInvalidPercentCompleteValue", "PercentComplete must be between 0 and 100."
        )
    status = _text(item_elem, "Status") or "NotStarted"
    # Outlook keeps status and percent consistent: Completed means 100, 100 means Completed,
    # and a task not started is 0 % done (Exchange resets the percent it was given).
    if status == "Completed":
        percent = Decimal(100)
    elif percent == 100:
        status = "Completed"
    elif status == "NotStarted":
        percent = Decimal(0)
    _set_text(item_elem, "Status", status)
    _set_text(item_elem, "PercentComplete", format(percent.normalize(), "f"))
    complete = status == "Completed"
    _set_text(item_elem, "IsComplete", "true" if complete else "false")
    if complete:
        if item_elem.find(f"{T}CompleteDate") is None:
            _set_text(item_elem, "CompleteDate", now_utc())
    else:
        _remove(item_elem, "CompleteDate")
    _set_text(
        item_elem,
        "IsRecurring",
        "true" if item_elem.find(f"{T}Recurrence") is not None else "false",
    )
