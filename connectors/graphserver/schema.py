"""Checks JSON bodies against the committed v1.0 CSDL extract (csdl/v1.0-extract.json).

An unknown property, a value of the wrong type, an enum value the type does not list or a null
where the CSDL says Nullable="false" is an error. Keys starting with "@" are annotations
(`@odata.etag`, `@odata.type`, `@removed`) and are not properties.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

EXTRACT = Path(__file__).resolve().parent / "csdl" / "v1.0-extract.json"
NS = "microsoft.graph"

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class Schema:
    """The types of the extract; `errors(type, value)` lists what breaks them."""

    def __init__(self, data: dict) -> None:
        self.entities: dict[str, dict] = data["entityTypes"]
        self.complex: dict[str, dict] = data["complexTypes"]
        self.enums: dict[str, dict] = data["enumTypes"]
        self._props: dict[str, dict[str, dict]] = {}

    def properties(self, type_name: str) -> dict[str, dict]:
        """Every property of a structured type, its base types' included."""
        if type_name not in self._props:
            node = self.entities.get(type_name) or self.complex.get(type_name)
            if node is None:
                raise KeyError(f"{NS}.{type_name} is not in the extract")
            base = node.get("baseType")
            props = dict(self.properties(base)) if base else {}
            props.update(node["properties"])
            self._props[type_name] = props
        return self._props[type_name]

    def errors(self, type_name: str, value: object, *, path: str = "") -> list[str]:
        out: list[str] = []
        self._object(type_name, value, path or type_name, out)
        return out

    def _object(self, type_name: str, value: object, path: str, out: list[str]) -> None:
        if not isinstance(value, dict):
            out.append(f"{path}: expected an object of type {NS}.{type_name}")
            return
        props = self.properties(type_name)
        for key, item in value.items():
            if key.startswith("@") or "@odata." in key:
                continue
            prop = props.get(key)
            if prop is None:
                out.append(
                    f"The property '{key}' does not exist on type '{NS}.{type_name}'. Make sure "
                    "to only use property names that are defined by the type."
                )
                continue
            self._value(prop, item, f"{path}.{key}", out)

    def _value(self, prop: dict, value: object, path: str, out: list[str]) -> None:
        if value is None:
            if not prop["nullable"] or prop["collection"]:
                out.append(f"{path}: null is not allowed")
            return
        if prop["collection"]:
            if not isinstance(value, list):
                out.append(f"{path}: expected a collection")
                return
            for i, item in enumerate(value):
                if item is None:
                    out.append(f"{path}[{i}]: null is not allowed")
                else:
                    self._single(prop["type"], item, f"{path}[{i}]", out)
            return
        self._single(prop["type"], value, path, out)

    def _single(self, type_name: str, value: object, path: str, out: list[str]) -> None:
        if type_name.startswith("Edm."):
            problem = _primitive(type_name, value)
            if problem:
                out.append(f"{path}: {problem}")
        elif type_name in self.enums:
            members = self.enums[type_name]["members"]
            names = str(value).split(",") if self.enums[type_name]["isFlags"] else [value]
            if not isinstance(value, str) or any(n.strip() not in members for n in names):
                out.append(
                    f"{path}: the value {value!r} is not a valid {NS}.{type_name} "
                    f"(one of {', '.join(members)})"
                )
        else:
            self._object(type_name, value, path, out)


def _primitive(type_name: str, value: object) -> str | None:
    ok: bool
    if type_name in ("Edm.String",):
        ok = isinstance(value, str)
    elif type_name == "Edm.Boolean":
        ok = isinstance(value, bool)
    elif type_name in ("Edm.Int32", "Edm.Int64", "Edm.Int16", "Edm.Byte"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif type_name == "Edm.DateTimeOffset":
        ok = isinstance(value, str) and bool(_DATETIME.match(value))
    elif type_name == "Edm.Date":
        ok = isinstance(value, str) and bool(_DATE.match(value))
    elif type_name == "Edm.Guid":
        ok = isinstance(value, str) and bool(_GUID.match(value))
    else:  # Edm.Binary, Edm.Duration, Edm.TimeOfDay, Edm.Stream: strings on the wire
        ok = isinstance(value, str)
    return None if ok else f"cannot convert {value!r} to {type_name}"


@cache
def load() -> Schema:
    return Schema(json.loads(EXTRACT.read_text(encoding="utf-8")))
