"""Parse the reduced Microsoft field-sync table fixture into catalog-shaped rows.
Pure Python (no Django); decodes arrow image names into sync directions on its own."""

from __future__ import annotations

import re
from pathlib import Path

# Outlook fields are on the LEFT of the table, CRM fields on the RIGHT, so an
# arrow pointing right is Outlook -> CRM and one pointing left is CRM -> Outlook.
ARROW_DIRECTIONS: dict[str, str] = {
    "two-way-sync-arrow.png": "both",
    "one-way-sync-arrow-left.png": "to_outlook",
    "one-way-sync-arrow-right.png": "to_crm",
    "no-sync-arrow.png": "none",
}
DIRECTION_ORDER: tuple[str, ...] = ("both", "to_outlook", "to_crm", "none")

# How an arrow image that appears inside a Notes cell is rendered as text.
_NOTE_IMAGE_TEXT = {"two-way-sync-arrow.png": "two-way sync"}
_INCLUDE_TEXT = {"pn_Outlook_short": "Outlook", "pn_Exchange": "Exchange"}
_INCLUDE_RE = re.compile(r"\[!INCLUDE\[(\w+)\]\([^)]*\)\]")
# Outlook field names that contain "/" but are one field, not alternatives.
_UNSPLIT_OUTLOOK = frozenset({"Spouse/Partner"})

_HEADING_RE = re.compile(r"^## Entity: (.+?)\s*$")


def _entity_key(label: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", label.lower()).strip("_")


def _direction(image: str) -> str:
    try:
        return ARROW_DIRECTIONS[image.strip()]
    except KeyError:
        raise ValueError(f"unknown arrow image {image!r}") from None


def _clean_note(text: str) -> str:
    def include(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in _INCLUDE_TEXT:
            raise ValueError(f"unknown INCLUDE token {name!r}")
        return _INCLUDE_TEXT[name]

    text = _INCLUDE_RE.sub(include, text)
    for image, words in _NOTE_IMAGE_TEXT.items():
        text = text.replace(image, words)
    if ".png" in text:
        raise ValueError(f"undecoded image in note {text!r}")
    return text.strip()


def _outlook_fields(cell: str) -> list[str]:
    if cell in _UNSPLIT_OUTLOOK:
        return [cell]
    return [part.strip() for part in cell.split("/") if part.strip()]


def _row(cells: list[str]) -> dict:
    outlook, default_cell, settable, crm_label, note = cells
    default = _direction(default_cell)
    computed = settable == "Computed"
    allowed = {default}
    if settable and not computed:
        allowed.update(_direction(name) for name in settable.split(","))
    return {
        "crm_label": crm_label,
        "outlook_fields": _outlook_fields(outlook),
        "default_direction": default,
        "allowed_directions": [d for d in DIRECTION_ORDER if d in allowed],
        "computed": computed,
        "note": _clean_note(note),
    }


def parse_reference_table(path: str | Path) -> dict[str, list[dict]]:
    """Return entity key -> table rows (in table order) parsed from the fixture."""
    text = Path(path).read_text(encoding="utf-8")
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    entities: dict[str, list[dict]] = {}
    current: list[dict] | None = None
    for line in text.splitlines():
        line = line.strip()
        heading = _HEADING_RE.match(line)
        if heading:
            key = _entity_key(heading.group(1))
            if key in entities:
                raise ValueError(f"duplicate entity {key!r}")
            current = entities[key] = []
            continue
        if not line.startswith("|") or current is None:
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != 5:
            raise ValueError(f"expected 5 cells, got {len(cells)}: {line!r}")
        if cells[0] == "Outlook fields" or set("".join(cells)) <= set("-: "):
            continue  # header or separator row
        current.append(_row(cells))
    return entities
