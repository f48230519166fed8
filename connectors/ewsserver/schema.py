"""Loads Microsoft's EWS schema once per process and validates request bodies against it.

Also derives, from types.xsd, the order and the XSD types of an item's properties. The schema
ships with the project (``xsd/``, see its README); ``$EWS_SCHEMA_DIR`` may point at another copy.
The server's behaviour never depends on whether it validates: property order and types always
come from types.xsd, and a missing schema is an error, not a silent fallback.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from lxml import etree

log = logging.getLogger(__name__)

XS = "http://www.w3.org/2001/XMLSchema"
BUNDLED = Path(__file__).resolve().parent / "xsd"

_lock = threading.Lock()
_cache: dict[str, object] = {}


class SchemaMissingError(RuntimeError):
    """The EWS schema files are not where the server was told to find them."""


def schema_dir() -> Path:
    """The folder holding messages.xsd and types.xsd: $EWS_SCHEMA_DIR, else the bundled copy."""
    env = os.environ.get("EWS_SCHEMA_DIR")
    return Path(env) if env else BUNDLED


def _require(name: str) -> Path:
    path = schema_dir() / name
    if not path.is_file():
        raise SchemaMissingError(
            f"The EWS schema file {path} does not exist. Unset EWS_SCHEMA_DIR to use the copy "
            f"bundled with the project ({BUNDLED}), or point it at a folder holding "
            "messages.xsd, types.xsd and xml.xsd."
        )
    return path


class SchemaValidator:
    """Validates the first child of soap:Body against messages.xsd."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or schema_dir()
        messages = self.directory / "messages.xsd"
        if not messages.is_file():
            raise SchemaMissingError(f"The EWS schema file {messages} does not exist.")
        self.schema = etree.XMLSchema(etree.parse(str(messages)))

    @property
    def enabled(self) -> bool:
        return True

    def errors(self, element: etree._Element) -> list[str]:
        """Return the schema violations of one operation element (empty when valid)."""
        if self.schema.validate(element):
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


def _types_doc() -> etree._ElementTree:
    return etree.parse(str(_require("types.xsd")))


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


def _item_sequence(item_tag: str) -> list[tuple[str, str]]:
    key = f"seq:{schema_dir()}:{item_tag}"
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached  # type: ignore[return-value]
    type_name = {
        "Contact": "ContactItemType",
        "CalendarItem": "CalendarItemType",
        "Task": "TaskType",
    }.get(item_tag, "ItemType")
    key_doc = f"types:{schema_dir()}"
    with _lock:
        doc = _cache.get(key_doc)
    if doc is None:
        doc = _types_doc()
        with _lock:
            _cache[key_doc] = doc
    pairs = _sequence(doc, type_name)  # type: ignore[arg-type]
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
