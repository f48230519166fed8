"""One item of a client's batch as the server reads it (ClientChange): its column values parsed
into the engine's form, and the outcome of each column sent, as the answer reports it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from fieldsync.client.common import ClientRules, column_type
from fieldsync.client.sealing import Sealing
from fieldsync.engine import Outcome, RecordPlan, Rejected, Value
from fieldsync.service.values import canonical, python

_INT_LIMIT = 2**63


@dataclass(frozen=True)
class ClientChange:
    """One item of a batch: a new record (no id), a change to one, or its deletion."""

    ref: str = ""  # the client's own name for the item, echoed in the result
    crm_id: str | None = None
    version: int | None = None  # the change number the client last saw
    values: Mapping[str, Any] | None = None  # column -> value, only the columns changed
    deleted: bool = False
    modified_on: datetime.datetime | None = None  # the local edit's time (latest_wins)
    # The activity type the Outlook item carries (connectors.base.ACTIVITY_TYPE); None: not
    # sent, the item is the endpoint's entity.
    activity_type: str | None = None


class ItemInvalid(Exception):
    """An item the batch cannot take as sent: its result is `invalid`, with the message (and
    the problem of each column named) in the user's words."""

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


def parse_values(
    rules: ClientRules, sealing: Sealing, values: Mapping[str, Any]
) -> dict[str, Value]:
    """Column values in the engine's form; every problem named by its column."""
    ef = rules.ef
    out: dict[str, Value] = {}
    errors: dict[str, list[str]] = {}
    for column, raw in values.items():
        if column not in rules.field_of:
            known = ", ".join(rules.field_of)
            errors[column] = [f"Not a synchronized {rules.entity} column (known: {known})."]
            continue
        field = ef.model_field(column)
        if isinstance(raw, list | dict) or (isinstance(raw, int) and abs(raw) >= _INT_LIMIT):
            errors[column] = ["Expected a single value."]
            continue
        if isinstance(raw, str) and "\x00" in raw:
            errors[column] = ["Null characters are not allowed."]
            continue
        try:
            out[column] = canonical(field, python(field, raw))
        except (ValidationError, TypeError, ValueError, OverflowError) as exc:
            errors[column] = [_invalid(rules, sealing, column, raw, exc)]
    if errors:
        raise ItemInvalid("Some values are invalid: " + ", ".join(errors), errors)
    return out


def _invalid(rules: ClientRules, sealing: Sealing, column: str, raw: Any, exc: Exception) -> str:
    if column in sealing.columns:
        # The answer is kept for a retry: no value of a secured column is repeated in it,
        # nor a message that may quote one.
        kind = column_type(rules.ef.model_field(column))
        return f"Invalid value for this secured field (not repeated here): expected a {kind}."
    message = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
    return f"Invalid value {raw!r}: {' '.join(message)}"


def field_values(
    rules: ClientRules, columns: Mapping[str, Value], fill: Mapping[str, Value] | None
) -> dict[str, Value]:
    """Catalog field values from the columns sent; a field's other columns come from
    `fill` (what the client last had), or are blank for a new record."""
    ef = rules.ef
    out: dict[str, Value] = {}
    for name in dict.fromkeys(rules.field_of[c] for c in columns):
        cols = ef.columns[name]
        have: tuple = ()
        if fill is not None and name in fill:
            have = fill[name] if len(cols) > 1 else (fill[name],)  # type: ignore[assignment]
        parts = []
        for i, column in enumerate(cols):
            if column in columns:
                parts.append(columns[column])
            elif have:
                parts.append(have[i])
            else:
                parts.append(canonical(ef.model_field(column), None))
        out[name] = parts[0] if len(cols) == 1 else tuple(parts)
    return out


def _field_status(status: str, reason: str = "", conflict: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status}
    if reason:
        out["reason"] = reason
    if conflict:
        out["conflict"] = True
    return out


def column_outcomes(
    rules: ClientRules,
    columns: Mapping[str, Value],
    plan: RecordPlan | None,
    refused: Mapping[str, Rejected],
    written: Mapping[str, Value],
) -> dict[str, dict[str, Any]]:
    """What became of each column sent: applied, unchanged, not_synced, not_permitted or
    conflict_lost (with the reason, and whether a conflict was recorded)."""
    conflicts = {c.field: c for c in plan.conflicts} if plan else {}
    rejected = {r.field: r for r in plan.rejected} if plan else {}
    rejected.update(refused)
    out = {}
    for column in columns:
        name = rules.field_of[column]
        rule = rules.rule(name)
        conflict = conflicts.get(name)
        if not rule.accepts:
            out[column] = _field_status(
                "not_synced", f"direction_{rule.direction.value}", conflict is not None
            )
        elif name in rejected:
            out[column] = _field_status("not_permitted", rejected[name].reason)
        elif name in written:
            reason = str(conflict.reason) if conflict else ""
            out[column] = _field_status("applied", reason, conflict is not None)
        elif conflict is not None and conflict.outcome == Outcome.CRM:
            out[column] = _field_status("conflict_lost", str(conflict.reason), True)
        else:
            out[column] = _field_status("unchanged")
    return out
