"""Loads Microsoft's EWS schema once per process and validates request bodies against it.

Also derives, from types.xsd, the order in which an item's properties must appear.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from lxml import etree

log = logging.getLogger(__name__)

XS = "http://www.w3.org/2001/XMLSchema"
REPO_ROOT = Path(__file__).resolve().parents[2]

_lock = threading.Lock()
_cache: dict[str, object] = {}


def schema_dir() -> Path:
    """The folder holding messages.xsd: $EWS_SCHEMA_DIR or ../shared/ews-schema beside the repo."""
    env = os.environ.get("EWS_SCHEMA_DIR")
    if env:
        return Path(env)
    return (REPO_ROOT.parent / "shared" / "ews-schema").resolve()


class SchemaValidator:
    """Validates the first child of soap:Body; a no-op (one warning) when the schema is missing."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or schema_dir()
        self.schema: etree.XMLSchema | None = None
        messages = self.directory / "messages.xsd"
        if messages.exists():
            self.schema = etree.XMLSchema(etree.parse(str(messages)))
        else:
            log.warning("EWS schema not found at %s: request validation is OFF", messages)

    @property
    def enabled(self) -> bool:
        return self.schema is not None

    def errors(self, element: etree._Element) -> list[str]:
        """Return the schema violations of one operation element (empty when valid)."""
        if self.schema is None or self.schema.validate(element):
            return []
        return [f"line {e.line}: {e.message}" for e in self.schema.error_log]


def validator() -> SchemaValidator:
    """The process-wide validator (the schema takes ~0.2 s to compile, so it is built once)."""
    key = str(schema_dir())
    with _lock:
        found = _cache.get(key)
        if found is None:
            found = SchemaValidator(Path(key))
            _cache[key] = found
    return found  # type: ignore[return-value]


def _types_doc() -> etree._ElementTree | None:
    path = schema_dir() / "types.xsd"
    if not path.exists():
        return None
    return etree.parse(str(path))


def _sequence(doc: etree._ElementTree, type_name: str) -> list[tuple[str, str]]:
    """(element name, type) pairs of a complex type's sequence, base types first."""
    found = doc.getroot().find(f"{{{XS}}}complexType[@name='{type_name}']")
    if found is None:
        return []
    pairs: list[tuple[str, str]] = []
    ext = found.find(f"{{{XS}}}complexContent/{{{XS}}}extension")
    container = found
    if ext is not None:
        pairs.extend(_sequence(doc, ext.get("base", "").split(":")[-1]))
        container = ext
    seq = container.find(f"{{{XS}}}sequence")
    if seq is not None:
        for el in seq.iter(f"{{{XS}}}element"):
            if el.get("name"):
                pairs.append((el.get("name"), el.get("type", "")))
            elif el.get("ref"):
                pairs.append((el.get("ref").split(":")[-1], ""))
    return pairs


_FALLBACK_ORDER = {
    "Item": [
        "MimeContent",
        "ItemId",
        "ParentFolderId",
        "ItemClass",
        "Subject",
        "Sensitivity",
        "Body",
        "Attachments",
        "DateTimeReceived",
        "Size",
        "Categories",
        "Importance",
        "InReplyTo",
        "IsSubmitted",
        "IsDraft",
        "IsFromMe",
        "IsResend",
        "IsUnmodified",
        "InternetMessageHeaders",
        "DateTimeSent",
        "DateTimeCreated",
        "ResponseObjects",
        "ReminderDueBy",
        "ReminderIsSet",
        "ReminderNextTime",
        "ReminderMinutesBeforeStart",
        "DisplayCc",
        "DisplayTo",
        "HasAttachments",
        "ExtendedProperty",
        "Culture",
        "EffectiveRights",
        "LastModifiedName",
        "LastModifiedTime",
    ],
}


def _item_sequence(item_tag: str) -> list[tuple[str, str]]:
    key = f"seq:{item_tag}"
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached  # type: ignore[return-value]
    type_name = {
        "Contact": "ContactItemType",
        "CalendarItem": "CalendarItemType",
        "Task": "TaskType",
    }.get(item_tag, "ItemType")
    doc = _types_doc()
    if doc is not None:
        pairs = _sequence(doc, type_name)
    else:
        pairs = [(name, "") for name in _FALLBACK_ORDER["Item"]]
    with _lock:
        _cache[key] = pairs
    return pairs


def property_order(item_tag: str) -> dict[str, int]:
    """Map property element name -> position for an item type (Contact, CalendarItem, Task)."""
    names = [name for name, _ in _item_sequence(item_tag)]
    return {name: i for i, name in enumerate(dict.fromkeys(names))}


def typed_properties(item_tag: str, xsd_type: str) -> frozenset[str]:
    """Names of an item type's properties declared with one XSD type (e.g. xs:boolean)."""
    return frozenset(name for name, typ in _item_sequence(item_tag) if typ == xsd_type)
