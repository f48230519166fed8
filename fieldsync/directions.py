"""The four sync directions: the one enum used by the database, the API, the UI and the engine.

Pure Python (no Django), so the sync engine and the connectors can use it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Direction(StrEnum):
    BOTH = "both"
    TO_OUTLOOK = "to_outlook"
    TO_CRM = "to_crm"
    NONE = "none"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def sends_to_outlook(self) -> bool:
        """CRM values of a field with this direction are written to Exchange/Outlook."""
        return self in (Direction.BOTH, Direction.TO_OUTLOOK)

    @property
    def accepts_from_outlook(self) -> bool:
        """Exchange/Outlook values of a field with this direction are written to the CRM."""
        return self in (Direction.BOTH, Direction.TO_CRM)


_LABELS = {
    Direction.BOTH: "Synchronize both ways",
    Direction.TO_OUTLOOK: "Synchronize to Exchange/Outlook only",
    Direction.TO_CRM: "Synchronize to the CRM only",
    Direction.NONE: "Don't synchronize",
}

# The order an arrow click cycles through.
CYCLE: tuple[Direction, ...] = (
    Direction.BOTH,
    Direction.TO_OUTLOOK,
    Direction.TO_CRM,
    Direction.NONE,
)


def next_direction(current: Direction | str, allowed: Iterable[Direction | str]) -> Direction:
    """The direction one click on the arrow moves to: the next allowed one in CYCLE order."""
    current = Direction(current)
    allowed_set = {Direction(a) for a in allowed}
    if not allowed_set:
        raise ValueError("a field must allow at least one direction")
    start = CYCLE.index(current)
    for step in range(1, len(CYCLE) + 1):
        candidate = CYCLE[(start + step) % len(CYCLE)]
        if candidate in allowed_set:
            return candidate
    raise AssertionError("unreachable")  # pragma: no cover


def parse_direction(value: str) -> Direction:
    """A Direction from its value, with an error message that lists the valid ones."""
    try:
        return Direction(value)
    except ValueError:
        valid = ", ".join(d.value for d in CYCLE)
        raise ValueError(f"Unknown direction {value!r} (valid: {valid})") from None
