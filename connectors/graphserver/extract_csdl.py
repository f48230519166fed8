"""Extract the part of Microsoft Graph's v1.0 CSDL the Graph test server checks bodies against.

Run: python -m connectors.graphserver.extract_csdl /path/to/v1.0-Prod.csdl
(the file is Microsoft's published metadata, https://graph.microsoft.com/v1.0/$metadata, also in
the microsoftgraph/msgraph-metadata repository, MIT licence). It writes csdl/v1.0-extract.json
beside this module: the root types below, their base types and every type reachable from them
through structural properties and the navigation properties in FOLLOW.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from xml.etree import ElementTree

EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NS = "graph."
OUT = Path(__file__).resolve().parent / "csdl" / "v1.0-extract.json"

ROOTS = (
    "contact",
    "contactFolder",
    "event",
    "calendar",
    "todoTask",
    "todoTaskList",
    "linkedResource",
    "singleValueLegacyExtendedProperty",
    "multiValueLegacyExtendedProperty",
    "outlookCategory",
    "mailboxSettings",
)
# Navigation properties the server serves (inline in bodies); the rest are dropped.
FOLLOW = {
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
    "linkedResources",
    "exceptionOccurrences",  # a series master's changed occurrences, on $expand
}


def _strip(type_name: str) -> tuple[str, bool]:
    collection = type_name.startswith("Collection(")
    inner = type_name[len("Collection(") : -1] if collection else type_name
    return (inner[len(NS) :] if inner.startswith(NS) else inner), collection


def extract(csdl: Path) -> dict:
    root = ElementTree.parse(csdl).getroot()  # noqa: S314 (Microsoft's own metadata file)
    schema = next(s for s in root.iter(f"{EDM}Schema") if s.get("Namespace") == "microsoft.graph")
    nodes: dict[str, ElementTree.Element] = {}
    for el in schema:
        tag = el.tag.removeprefix(EDM)
        if tag in ("EntityType", "ComplexType", "EnumType"):
            nodes[el.get("Name", "")] = el
    out: dict[str, dict] = {"entityTypes": {}, "complexTypes": {}, "enumTypes": {}}
    todo = list(ROOTS)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name.startswith("Edm."):
            continue
        seen.add(name)
        el = nodes[name]
        tag = el.tag.removeprefix(EDM)
        if tag == "EnumType":
            out["enumTypes"][name] = {
                "members": [m.get("Name") for m in el.iter(f"{EDM}Member")],
                "isFlags": el.get("IsFlags") == "true",
            }
            continue
        entry: dict = {"properties": {}}
        if el.get("BaseType"):
            entry["baseType"] = _strip(el.get("BaseType", ""))[0]
            todo.append(entry["baseType"])
        if el.get("Abstract") == "true":
            entry["abstract"] = True
        for prop in el:
            ptag = prop.tag.removeprefix(EDM)
            if ptag not in ("Property", "NavigationProperty"):
                continue
            pname = prop.get("Name", "")
            if ptag == "NavigationProperty" and pname not in FOLLOW:
                continue
            ptype, collection = _strip(prop.get("Type", ""))
            entry["properties"][pname] = {
                "type": ptype,
                "collection": collection,
                "nullable": prop.get("Nullable") != "false",
                "navigation": ptag == "NavigationProperty",
            }
            todo.append(ptype)
        kind = "entityTypes" if tag == "EntityType" else "complexTypes"
        out[kind][name] = entry
    for kind in out:
        out[kind] = dict(sorted(out[kind].items()))
    return {
        "source": "Microsoft Graph v1.0 metadata, https://graph.microsoft.com/v1.0/$metadata "
        "(microsoftgraph/msgraph-metadata, MIT licence: see LICENSE beside this file)",
        "namespace": "microsoft.graph",
        "roots": list(ROOTS),
        **out,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csdl", type=Path, help="Microsoft's v1.0-Prod.csdl")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    data = extract(args.csdl)
    args.out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    counts = {k: len(v) for k, v in data.items() if isinstance(v, dict)}
    print(f"wrote {args.out} {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
