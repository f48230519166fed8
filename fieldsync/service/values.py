"""Field values between the CRM, the connectors and the engine: one canonical, JSON-safe,
hashable form per catalog field (a scalar, or a tuple for a field that covers several columns).

Both sides are compared in this form, so a date read back from Exchange equals the CRM's date,
and statuses and conflicts store it as JSON without losing what the value was.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import validators
from django.core.exceptions import ValidationError
from django.db import models

from connectors import rrule
from connectors.base import ACTIVITY_TYPE, ACTIVITY_TYPES
from crm.models import CRM_MODELS
from fieldsync.catalog import get_catalog
from fieldsync.engine import UNKNOWN, FieldBase, Sealed, Value

# The calendar folder holds appointments, series masters (an item with a recurrence) and service
# activities; the tasks folder tasks, phone calls, letters and faxes. Within a folder, the item's
# activity type (connectors.base.ACTIVITY_TYPE) tells the entities apart.
FOLDERS = {
    "contact": "contacts",
    "appointment": "calendar",
    "recurring_appointment": "calendar",
    "service_activity": "calendar",
    "task": "tasks",
    "phone_call": "tasks",
    "letter": "tasks",
    "fax": "tasks",
}
# The activity type an entity's items carry ("": none, a plain task or appointment).
ACTIVITY_TYPE_OF = {e: e for e in ACTIVITY_TYPES}
# Entities written to the mailbox only, never read back into the CRM (catalog: every field
# CRM to Outlook): an item in the mailbox never creates or changes such a record.
ONE_WAY = frozenset({"service_activity"})
# Why a one-way entity's item made in Outlook (or pushed by an Outlook client) is not brought
# into the CRM, in the user's words: not a missing right, so never a rejected change.
ONE_WAY_WORDS = {
    "service_activity": "Service activities go from the CRM to Outlook only: one made or "
    "changed in Outlook is not brought into the CRM and stays in Outlook as it is. Create and "
    "change service activities in the CRM.",
}

# Fields Exchange sets itself: read from Exchange, never written to it.
EXCHANGE_SETS = {
    ("appointment", "organizer"),
    ("recurring_appointment", "organizer"),
    ("service_activity", "organizer"),
}


def item_entity(folder: str, fields: Mapping[str, Any]) -> str:
    """The entity an item of `folder` stands for: by its activity type, else (an item that
    says nothing, or names a type the folder does not hold) a plain task, appointment or
    series master."""
    kind = str(fields.get(ACTIVITY_TYPE) or "").strip().lower()
    if kind in ACTIVITY_TYPE_OF and FOLDERS[kind] == folder:
        return kind
    if folder == "calendar":
        return "recurring_appointment" if fields.get("recurrence_pattern") else "appointment"
    return {"contacts": "contact", "tasks": "task"}[folder]


# A series' changed and cancelled occurrences (crm.AppointmentException), synchronized with the
# series as one more field of the recurring appointment: a connector that holds them says so
# (`holds_exceptions`), and its items carry them under this column as a list of dicts
# {original_start, cancelled, start, end, subject, location, description} (None: as the series).
EXCEPTIONS = "exceptions"
EXCEPTION_KEYS = (
    "original_start",
    "cancelled",
    "start",
    "end",
    "subject",
    "location",
    "description",
)
_OVERRIDE_OF = {"subject": "subject", "location": "location", "description": "description"}
# The series' columns an exception overrides: the `exceptions` field is readable (updatable)
# only where all of them are (fieldsync.service.rules, unreadable_fields).
EXCEPTION_COLUMNS = ("scheduled_start", "scheduled_end", "subject", "location", "description")


class ExceptionsColumn(models.JSONField):
    """The stand-in model field of the `exceptions` column (no such database column)."""

    def get_default(self) -> list:
        return []


_EXCEPTIONS_FIELD = ExceptionsColumn(name=EXCEPTIONS)


def _instant(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).replace(microsecond=0).isoformat()


def _exceptions_canonical(value: Any) -> tuple:
    """Exceptions in the engine's form: a tuple, by original start, of (original start,
    cancelled, start, end, subject, location, description); a cancelled one carries nothing
    else. Accepts the connectors' dicts and the engine's own tuples."""
    out = []
    for entry in value or ():
        if isinstance(entry, Mapping):
            entry = tuple(entry.get(k) for k in EXCEPTION_KEYS)
        original, cancelled, start, end, subject, location, description = entry
        if cancelled:
            out.append((_instant(original), True, None, None, None, None, None))
        else:
            out.append(
                (_instant(original), False, _instant(start), _instant(end), subject, location,
                 description)
            )  # fmt: skip
    return tuple(sorted(out, key=lambda e: e[0] or ""))


def normalize_exceptions(exceptions: tuple, row: Mapping[str, Any]) -> tuple:
    """Overrides that equal what the series gives the occurrence are no overrides: a client
    that writes every property of an edited occurrence and one that writes only the change
    say the same (compared in the engine's form, against the row's own values). An occurrence
    left with no override and not cancelled is no exception at all: both sides agree on it
    whether one of them keeps an empty exception (CalDAV, the CRM) or none (Exchange)."""
    start, end = _instant(row.get("scheduled_start")), _instant(row.get("scheduled_end"))
    duration = None
    if start and end:
        duration = datetime.datetime.fromisoformat(end) - datetime.datetime.fromisoformat(start)
    out = []
    for original, cancelled, new_start, new_end, *texts in exceptions:
        if cancelled:
            out.append((original, True, None, None, None, None, None))
            continue
        if new_start == original:
            new_start = None
        if duration is not None and new_end is not None:
            natural = datetime.datetime.fromisoformat(new_start or original) + duration
            if new_end == natural.isoformat():
                new_end = None
        kept = []
        for column, text in zip(_OVERRIDE_OF, texts, strict=True):
            series_value = row.get(column)
            kept.append(None if series_value is not None and text == series_value else text)
        if new_start is None and new_end is None and all(t is None for t in kept):
            continue  # an occurrence as the series gives it: no exception (Exchange keeps none)
        out.append((original, False, new_start, new_end, *kept))
    return tuple(out)


def exceptions_python(value: Any) -> list[dict[str, Any]]:
    """Back from the engine's form to the connectors' and the CRM's dicts."""
    out = []
    for entry in _exceptions_canonical(value):
        row = dict(zip(EXCEPTION_KEYS, entry, strict=True))
        for key in ("original_start", "start", "end"):
            if row[key] is not None:
                row[key] = datetime.datetime.fromisoformat(row[key])
        out.append(row)
    return out


# A series' pattern is compared in its canonical text (connectors.rrule.canonical): a weekly rule
# without BYDAY equals the same rule with BYDAY = its first occurrence's weekday in the series'
# zone (the mailbox's, where Outlook expands it), as Exchange and Graph store it.
PATTERN, PATTERN_START = "recurrence_pattern", "scheduled_start"


@lru_cache(maxsize=4096)
def canonical_pattern(pattern: str, start: str | None, zone: str) -> str:
    """The canonical text of a series' RRULE; `start` is its first start (canonical, UTC)."""
    if not pattern or not start:
        return pattern
    first = datetime.datetime.fromisoformat(start).astimezone(ZoneInfo(zone))
    return rrule.canonical(pattern, first.date())


def _text_like(field: models.Field) -> bool:
    return isinstance(field, models.CharField | models.TextField) and not field.null


def canonical(field: models.Field, value: Any) -> Value:
    """A column value in the engine's form. Datetimes are UTC to the second (Exchange keeps
    no fractions), dates ISO strings, empty text ""."""
    if isinstance(field, ExceptionsColumn):
        return _exceptions_canonical(value)
    if value is None:
        return "" if _text_like(field) else None
    if isinstance(field, models.DateTimeField):
        if isinstance(value, str):
            value = field.to_python(value)
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.UTC)
            value = value.astimezone(datetime.UTC).replace(microsecond=0)
            return value.isoformat()
        return None
    if isinstance(field, models.DateField):
        if isinstance(value, datetime.datetime):
            value = value.date()
        return value.isoformat() if isinstance(value, datetime.date) else str(value)
    if isinstance(field, models.BooleanField):
        return bool(value)
    if isinstance(field, models.IntegerField):
        return int(value)
    if isinstance(value, Decimal):
        return str(value)
    if _text_like(field) or isinstance(field, models.CharField | models.TextField):
        return str(value)
    return value


def converter(field: models.Field) -> Callable[[Any], Value]:
    """`canonical` for one column, with the type dispatch done once (it runs per value)."""
    if _text_like(field):
        return lambda v: "" if v is None else str(v)
    if isinstance(field, models.BooleanField) and not field.null:
        return lambda v: False if v is None else bool(v)
    if isinstance(field, models.IntegerField):
        return lambda v: None if v is None else int(v)
    return lambda v: canonical(field, v)


def python(field: models.Field, value: Value) -> Any:
    """Back from the engine's form to the column's Python type."""
    if isinstance(field, ExceptionsColumn):
        return exceptions_python(value)
    if value is None or value == "":
        return "" if _text_like(field) else None
    return field.to_python(value)


@dataclass(frozen=True)
class EntityFields:
    """The synchronized catalog fields of one entity and the model columns behind them."""

    entity: str
    model: type[models.Model]
    columns: Mapping[str, tuple[str, ...]]  # catalog field -> columns
    zone: str = "UTC"  # the mailbox's: a series repeats on its weekdays there
    _readers: list = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, cols in self.columns.items():
            convert = [converter(self.model_field(c)) for c in cols]
            self._readers.append((name, cols, convert))

    @property
    def all_columns(self) -> list[str]:
        return [c for cols in self.columns.values() for c in cols]

    def model_field(self, column: str) -> models.Field:
        if column == EXCEPTIONS:
            return _EXCEPTIONS_FIELD
        return self.model._meta.get_field(column)  # type: ignore[return-value]

    @property
    def model_columns(self) -> list[str]:
        """The columns that are the model's own (the exceptions live in a table of theirs)."""
        return [c for c in self.all_columns if c != EXCEPTIONS]

    def _combine(self, name: str, parts: list[Value]) -> Value:
        return parts[0] if len(self.columns[name]) == 1 else tuple(parts)

    def values(self, row: Mapping[str, Any]) -> dict[str, Value]:
        """Catalog field values from CRM column values (a model row or a connector's fields).
        A field with a column the row lacks is left out: that side said nothing about it."""
        out: dict[str, Value] = {}
        for name, cols, convert in self._readers:
            if len(cols) == 1:
                if cols[0] in row:
                    out[name] = convert[0](row[cols[0]])
            elif all(c in row for c in cols):
                out[name] = tuple(f(row[c]) for c, f in zip(cols, convert, strict=True))
                if cols[:2] == (PATTERN, PATTERN_START):
                    out[name] = self._canonical_pattern(out[name])  # type: ignore[arg-type]
        if EXCEPTIONS in out:
            out[EXCEPTIONS] = normalize_exceptions(out[EXCEPTIONS], row)  # type: ignore[arg-type]
        return out

    def _canonical_pattern(self, value: tuple) -> tuple:
        return (canonical_pattern(value[0], value[1], self.zone), *value[1:])

    def columns_of(self, values: Mapping[str, Value]) -> dict[str, Any]:
        """CRM-typed column values from catalog field values."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            cols = self.columns[name]
            parts = (value,) if len(cols) == 1 else tuple(value)  # type: ignore[arg-type]
            for column, part in zip(cols, parts, strict=True):
                out[column] = python(self.model_field(column), part)
        return out

    @property
    def blanks(self) -> dict[str, Value]:
        return {name: self.blank(name) for name in self.columns}

    def blank(self, name: str) -> Value:
        return self._combine(
            name, [canonical(self.model_field(c), None) for c in self.columns[name]]
        )

    def check(self, name: str) -> Callable[[Value], str] | None:
        """The CRM's own validation of a field's value, as its API runs it on a user's input
        (an e-mail column refuses an Exchange legacy address): why it refuses, or "". None when
        the columns check nothing beyond their length (the sink checks that per record)."""
        cols = self.columns[name]
        checked = [
            (i, self.model_field(c))
            for i, c in enumerate(cols)
            if any(
                not isinstance(v, validators.MaxLengthValidator)
                for v in self.model_field(c).validators
            )
        ]
        if not checked:
            return None

        def check(value: Value) -> str:
            parts = (value,) if len(cols) == 1 else tuple(value)  # type: ignore[arg-type]
            for i, f in checked:
                part = parts[i]
                if part is None or part == "":
                    continue
                try:
                    f.run_validators(python(f, part))
                except ValidationError as e:
                    return " ".join(str(m) for m in e.messages)
            return ""

        return check

    def crm_default(self, name: str) -> Value:
        parts = []
        for column in self.columns[name]:
            field = self.model_field(column)
            parts.append(canonical(field, field.get_default()))
        return self._combine(name, parts)


@cache
def entity_fields(entity: str, *, exceptions: bool = False, zone: str = "UTC") -> EntityFields:
    """The catalog fields of an entity; with `exceptions`, a recurring appointment also has the
    field `exceptions` (its changed and cancelled occurrences), which follows the recurrence
    pattern's direction. `zone` is the mailbox's time zone (a series' pattern is compared in
    it)."""
    catalog_entity = get_catalog().entity(entity)
    model = CRM_MODELS[entity]
    columns = {f.crm_field: f.crm_columns for f in catalog_entity.fields if f.crm_columns}
    if exceptions and entity == "recurring_appointment":
        columns[EXCEPTIONS] = (EXCEPTIONS,)
    return EntityFields(entity, model, columns, zone)


# -- statuses in JSON ------------------------------------------------------------------------------

_UNKNOWN_JSON = {"?": 1}


def digest(value: Value) -> str:
    """A keyed digest for a sealed (private) value: it tells a change, it does not tell the
    value, and without the secret key a short value cannot be guessed from it either."""
    raw = json.dumps(_to_json(value), sort_keys=True, default=str).encode()
    return hmac.new(settings.SECRET_KEY.encode(), raw, hashlib.sha256).hexdigest()


def record_digest(entity: str, record: Any) -> Callable[[Value], str]:
    """The keyed digest of one record's values (`record`: its CRM id, or the item's id when it
    has none), salted with the record: equal values of two records (two blanks, a shared code)
    do not show as equal digests. What the sync stores of a value its owner may not read is
    this digest (the status, conflicts and rejected changes; the Outlook client's versions)."""
    salt = (entity, str(record))
    return lambda value: digest((*salt, value))


def _to_json(value: Value) -> Any:
    if value is UNKNOWN:
        return _UNKNOWN_JSON
    if isinstance(value, Sealed):
        # "s": sealed because the owner may not read the field (see fieldsync.engine.unseal).
        return {"#": value.digest, "s": 1} if value.secured else {"#": value.digest}
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def _from_json(value: Any) -> Value:
    if value == _UNKNOWN_JSON:
        return UNKNOWN
    if isinstance(value, dict) and "#" in value:
        return Sealed(value["#"], secured=bool(value.get("s")))
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


def encode_base(base: Mapping[str, FieldBase], blanks: Mapping[str, Value]) -> dict[str, list]:
    """A status as JSON: a field blank on both sides and agreed is left out (most are);
    [value] when both sides hold the agreed value; else [agreed, crm, exchange]."""
    out = {}
    for name, fb in base.items():
        if fb.agreed == fb.crm == fb.remote and fb.agreed is not UNKNOWN:
            if name in blanks and fb.agreed == blanks[name]:
                continue
            out[name] = [_to_json(fb.agreed)]
        else:
            out[name] = [_to_json(fb.agreed), _to_json(fb.crm), _to_json(fb.remote)]
    return out


def decode_base(data: Mapping[str, list], blanks: Mapping[str, Value]) -> dict[str, FieldBase]:
    out = {name: FieldBase.same(blank) for name, blank in blanks.items()}
    for name, parts in data.items():
        if len(parts) == 1:
            out[name] = FieldBase.same(_from_json(parts[0]))
        else:
            out[name] = FieldBase(*(_from_json(p) for p in parts))
    return out


def json_value(value: Value) -> Any:
    """A value for a conflict or rejected-change column (an unknown base is stored as null, a
    sealed one as its digest alone)."""
    if isinstance(value, Sealed):
        return {"#": value.digest}
    return None if value is UNKNOWN else _to_json(value)


def sealed_json_value(value: Value, readable: bool, *, entity: str, record: Any) -> Any:
    """json_value, or only its keyed digest ({"#": ...}, salted with the record: see
    record_digest) for a field the mailbox owner may not read: such a value never rests in
    clear in a conflict or rejected change."""
    if readable or value is UNKNOWN or value is None:
        return json_value(value)
    if isinstance(value, Sealed):
        return {"#": value.digest}
    return {"#": record_digest(entity, record)(value)}


def unreadable_fields(owner: Any, entity: str) -> frozenset[str]:
    """The catalog fields of `entity` with a column the owner may not read; a recurring
    appointment's `exceptions` too, where the owner may not read a column they override."""
    from security import policy

    access = policy.field_access(owner, entity)
    hidden = access.hidden()
    if not hidden:
        return frozenset()
    columns = dict(entity_fields(entity, exceptions=True).columns)
    if EXCEPTIONS in columns:
        columns[EXCEPTIONS] = EXCEPTION_COLUMNS
    return frozenset(name for name, cols in columns.items() if hidden.intersection(cols))
