"""Reading side of the test server's items: ItemShape projection (with HTML/text body
conversion) and the FindItem restriction evaluator.
"""

from __future__ import annotations

import copy
import html
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from lxml import etree

from . import schema
from .items import Path, T, find_entry, find_ext, get_value, local, parse_path
from .store import StoredItem


# -- shapes -----------------------------------------------------------------------------------
@dataclass
class Shape:
    base: str = "IdOnly"
    body_type: str = "Best"
    paths: list[Path] = field(default_factory=list)
    # Elements a base shape leaves out (a listing's: listings.LEFT_OUT).
    leave_out: frozenset[str] = frozenset()


def parse_shape(shape_elem: etree._Element | None) -> Shape:
    shape = Shape()
    if shape_elem is None:
        return shape
    base = shape_elem.find(f"{T}BaseShape")
    if base is not None and base.text:
        shape.base = base.text
    body = shape_elem.find(f"{T}BodyType")
    if body is not None and body.text:
        shape.body_type = body.text
    additional = shape_elem.find(f"{T}AdditionalProperties")
    if additional is not None:
        shape.paths = [parse_path(p) for p in additional]
    return shape


def html_to_text(markup: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", "", markup)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text).strip()


def text_to_html(text: str) -> str:
    escaped = html.escape(text).replace("\n", "<br>")
    return f"<html><body>{escaped}</body></html>"


def _body_as(body: etree._Element, body_type: str) -> etree._Element:
    out = copy.deepcopy(body)
    stored = body.get("BodyType", "Text")
    if body_type == "Text" and stored == "HTML":
        out.set("BodyType", "Text")
        out.text = html_to_text(body.text or "")
    elif body_type == "HTML" and stored == "Text":
        out.set("BodyType", "HTML")
        out.text = text_to_html(body.text or "")
    return out


def project(item: StoredItem, shape: Shape, parent_folder: tuple[str, str]) -> etree._Element:
    """The item as a GetItem/SyncFolderItems/FindItem answer for the shape asked."""
    src = item.elem
    out = etree.Element(src.tag)
    etree.SubElement(out, f"{T}ItemId", Id=item.item_id, ChangeKey=item.change_key)
    chosen = _base_properties(src, shape, parent_folder)
    indexed = _add_requested(src, shape, chosen)
    for name, entries in indexed.items():
        container = etree.Element(f"{T}{name}")
        for entry in entries:
            container.append(copy.deepcopy(entry))
        chosen.append(container)
    order = schema.property_order(local(src))
    chosen.sort(key=lambda c: order.get(local(c), 10_000))
    for child in chosen:
        if local(child) == "Body":
            out.append(_body_as(child, shape.body_type))
        elif child.getparent() is None and local(child) in indexed:
            out.append(child)
        else:
            out.append(copy.deepcopy(child))
    # A master's occurrences share its ChangeKey (it changes with any of them).
    for occurrence_id in out.iterfind(f"{T}ModifiedOccurrences/{T}Occurrence/{T}ItemId"):
        occurrence_id.set("ChangeKey", item.change_key)
    return out


def _base_properties(
    src: etree._Element, shape: Shape, parent_folder: tuple[str, str]
) -> list[etree._Element]:
    """What the base shape returns, plus ParentFolderId when asked for."""
    chosen: list[etree._Element] = []
    if shape.base in ("Default", "AllProperties"):
        chosen.extend(
            c for c in src if local(c) != "ExtendedProperty" and local(c) not in shape.leave_out
        )
    wanted_fields = {p.name for p in shape.paths if p.kind == "field"}
    if "ParentFolderId" in wanted_fields or shape.base == "AllProperties":
        pf = etree.Element(f"{T}ParentFolderId", Id=parent_folder[0], ChangeKey=parent_folder[1])
        chosen.append(pf)
    return chosen


def _add_requested(
    src: etree._Element, shape: Shape, chosen: list[etree._Element]
) -> dict[str, list[etree._Element]]:
    """Append the additional properties asked for; return the indexed entries by container."""
    seen = {id(c) for c in chosen}
    indexed: dict[str, list[etree._Element]] = {}

    def add(found: etree._Element | None) -> None:
        if found is not None and id(found) not in seen:
            chosen.append(found)
            seen.add(id(found))

    for path in shape.paths:
        if path.kind == "field" and path.name == "TextBody":
            body = src.find(f"{T}Body")
            if body is not None:
                tb = etree.Element(f"{T}TextBody", BodyType="Text")
                tb.text = _body_as(body, "Text").text
                chosen.append(tb)
        elif path.kind == "field":
            add(src.find(f"{T}{path.name}"))
        elif path.kind == "ext":
            add(find_ext(src, path.ext))
        else:
            container = src.find(f"{T}{path.name}")
            if container is not None and id(container) not in seen:
                entry = find_entry(container, path.key)
                if entry is not None and all(e is not entry for e in indexed.get(path.name, [])):
                    indexed.setdefault(path.name, []).append(entry)
    return indexed


# -- restrictions -----------------------------------------------------------------------------
def _value_text(item_elem: etree._Element, path: Path) -> str | None:
    found = get_value(item_elem, path)
    if found is None:
        return None
    if path.kind == "ext":
        value = found.find(f"{T}Value")
        return None if value is None else (value.text or "")
    return found.text or ""


def _constant(expr: etree._Element) -> str:
    holder = expr.find(f"{T}FieldURIOrConstant")
    constant = holder.find(f"{T}Constant") if holder is not None else expr.find(f"{T}Constant")
    return "" if constant is None else constant.get("Value", "")


def _compare(op: str, left: str, right: str) -> bool:
    try:
        a, b = Decimal(left), Decimal(right)
    except InvalidOperation:
        a, b = left, right  # type: ignore[assignment]
    if op == "IsEqualTo":
        return a == b
    if op == "IsNotEqualTo":
        return a != b
    if op == "IsGreaterThan":
        return a > b
    if op == "IsGreaterThanOrEqualTo":
        return a >= b
    if op == "IsLessThan":
        return a < b
    return a <= b


def matches(item_elem: etree._Element, expr: etree._Element) -> bool:
    """Evaluate one SearchExpression (And/Or/Not/Exists/Contains/IsEqualTo...) on an item."""
    op = local(expr)
    if op == "And":
        return all(matches(item_elem, e) for e in expr)
    if op == "Or":
        return any(matches(item_elem, e) for e in expr)
    if op == "Not":
        return not matches(item_elem, expr[0])
    path = parse_path(expr[0])
    value = _value_text(item_elem, path)
    if op == "Exists":
        return value is not None
    if op == "Contains":
        constant = expr.find(f"{T}Constant")
        needle = constant.get("Value", "") if constant is not None else ""
        hay = value or ""
        if "Ignore" in expr.get("ContainmentComparison", ""):
            hay, needle = hay.lower(), needle.lower()
        mode = expr.get("ContainmentMode", "Substring")
        if mode == "FullString":
            return hay == needle
        if mode == "Prefixed":
            return hay.startswith(needle)
        return needle in hay
    if value is None:
        return op == "IsNotEqualTo"
    return _compare(op, value, _constant(expr))
