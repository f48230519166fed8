"""What the Outlook client path stores, without any secured value in clear: the record values of
each version served to a client (the merge bases, ClientRecordVersion) and the answers kept for
a retry (ClientBatch).

Both outlive the user who could read them: a version is shared by every user it was served to,
and an answer is replayed after the caller's rights may have changed. So the value of every
field under field security, whoever the user, is kept only as a keyed digest salted with the
record (fieldsync.service.values.digest, the server-side sync's own), in the form the
server-side sync's status keeps a field the owner may not read in (`Sealed`, secured). A base
needs equality only: the engine's `unseal` opens a digest against the CRM's current value or
the client's, and a digest neither matches is a value both sides changed. A replayed answer
gets a value back only where the caller may still read it and the record still holds it.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.utils import timezone

from fieldsync.engine import Sealed, Value
from fieldsync.models.client import ClientRecordVersion
from fieldsync.service.values import (
    EntityFields,
    canonical,
    digest,
    entity_fields,
    record_digest,
)
from security import policy as security

# Part of every version's seal fingerprint: a new value seals every stored version again.
_FORMAT = "1"
_RESEAL_CHUNK = 500
_ABSENT = object()
# How long a version served to a client stays its merge base (docs/api.md): a change naming an
# older one has no base, and the conflict policy decides every difference (recorded).
VERSION_LIFETIME = datetime.timedelta(days=30)


def _column_digest(entity: str, crm_id: Any, column: str, value: Any) -> str:
    return digest((entity, str(crm_id), column, value))


def _sealed_json(value: Any) -> bool:
    return isinstance(value, dict) and "#" in value


def values_to_json(values: Mapping[str, Value]) -> dict[str, Any]:
    """Field values as stored: a tuple as a list, a sealed value as {"#": digest}."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, Sealed):
            out[name] = {"#": value.digest}
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def values_from_json(data: Mapping[str, Any]) -> dict[str, Value]:
    """Stored field values back in the engine's form (a digest: a secured `Sealed`)."""
    out: dict[str, Value] = {}
    for name, value in data.items():
        if _sealed_json(value):
            out[name] = Sealed(value["#"], secured=True)
        else:
            out[name] = tuple(value) if isinstance(value, list) else value
    return out


@dataclass(frozen=True)
class Sealing:
    """What one entity's versions seal: the catalog fields with a column under field security
    (whoever asks: `columns` is the same for every user)."""

    entity: str
    ef: EntityFields
    columns: frozenset[str]

    @cached_property
    def fields(self) -> frozenset[str]:
        return frozenset(
            name for name, cols in self.ef.columns.items() if self.columns.intersection(cols)
        )

    @cached_property
    def fingerprint(self) -> str:
        raw = ":".join([_FORMAT, *sorted(self.fields)])
        return hashlib.sha256(raw.encode()).hexdigest()[:16]

    def seal(self, crm_id: Any, values: Mapping[str, Value]) -> dict[str, Value]:
        """The values with each secured field's kept only as its digest."""
        mark = record_digest(self.entity, crm_id)
        return {
            name: Sealed(mark(value), secured=True)
            if name in self.fields and not isinstance(value, Sealed)
            else value
            for name, value in values.items()
        }


def sealing_for(*, user: Any, entity: str) -> Sealing:
    """The sealing of `entity` (which columns are secured is asked of the security policy)."""
    columns = security.field_access(user, entity).secured
    return Sealing(entity, entity_fields(entity), frozenset(columns))


# -- versions ----------------------------------------------------------------------------------


def remember_versions(sealing: Sealing, rows: Iterable[Mapping[str, Any]]) -> None:
    """Keep the merge bases of the versions served (a version already kept keeps its values and
    is dated again: it was served now), and forget the versions last served more than
    VERSION_LIFETIME ago (one query on the indexed date; nothing to delete is cheap)."""
    now = timezone.now()
    kept = {}
    for row in rows:  # one row per version: an upsert may not touch a row twice
        kept[(row["id"], row["change_number"])] = ClientRecordVersion(
            entity=sealing.entity,
            crm_id=row["id"],
            change_number=row["change_number"],
            values=values_to_json(sealing.seal(row["id"], sealing.ef.values(row))),
            sealed=sealing.fingerprint,
            served_on=now,
        )
    if kept:
        ClientRecordVersion.objects.bulk_create(
            list(kept.values()),
            update_conflicts=True,
            unique_fields=["entity", "crm_id", "change_number"],
            update_fields=["served_on"],
        )
    ClientRecordVersion.objects.filter(served_on__lt=now - VERSION_LIFETIME).delete()


def version_values(sealing: Sealing, crm_id: Any, change_number: int) -> dict[str, Value] | None:
    """The field values kept of a version (secured ones sealed), or None when not kept or last
    served more than VERSION_LIFETIME ago: the change then has no base."""
    stored = (
        ClientRecordVersion.objects.filter(
            entity=sealing.entity,
            crm_id=crm_id,
            change_number=change_number,
            served_on__gte=timezone.now() - VERSION_LIFETIME,
        )
        .values_list("values", flat=True)
        .first()
    )
    return values_from_json(stored) if stored is not None else None


def reseal_versions(sealing: Sealing) -> int:
    """Seal the versions kept before a field was secured (or before this version of the
    product kept any sealed): rows whose fingerprint is not the current one. One indexed query
    when there are none; returns how many were sealed again."""
    stale = ClientRecordVersion.objects.filter(entity=sealing.entity).exclude(
        sealed=sealing.fingerprint
    )
    done = 0
    while True:
        rows = list(stale.order_by("pk").only("pk", "crm_id", "values")[:_RESEAL_CHUNK])
        if not rows:
            return done
        for row in rows:
            values = sealing.seal(row.crm_id, values_from_json(row.values))
            row.values = values_to_json(values)
            row.sealed = sealing.fingerprint
        ClientRecordVersion.objects.bulk_update(rows, ["values", "sealed"])
        done += len(rows)


# -- answers kept for a retry ------------------------------------------------------------------


def _answer_results(answer: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(entity, result) of each result of a batch's answer that carries a record."""
    for result in answer.get("results", ()):
        record = result.get("record")
        if isinstance(record, dict) and isinstance(record.get("values"), dict):
            yield result.get("entity") or answer.get("entity", ""), result


def _answer_records(answer: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    """(entity, record) of each result of a batch's answer that carries a record."""
    for entity, result in _answer_results(answer):
        yield entity, result["record"]


def seal_answer(*, user: Any, answer: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a batch's answer to store: the records' values of secured columns as keyed
    digests (salted with the record and column; a value already sealed stays as it is)."""
    stored = copy.deepcopy(dict(answer))
    secured: dict[str, frozenset[str]] = {}
    for entity, record in _answer_records(stored):
        if entity not in secured:
            secured[entity] = frozenset(security.field_access(user, entity).secured)
        values = record["values"]
        for column in secured[entity].intersection(values):
            if not _sealed_json(values[column]):
                values[column] = {"#": _column_digest(entity, record["id"], column, values[column])}
    return stored


def open_answer(*, user: Any, answer: Mapping[str, Any]) -> dict[str, Any]:
    """A stored answer as replayed. A record the caller may no longer read (reassigned,
    unshared, deleted since) is withheld: its result keeps the status and the per-column
    outcomes, not the record. A sealed value comes back where the caller may read the column
    and the record still holds that value; otherwise it is left out (absent, as a column not
    sent: the record's next version brings it)."""
    replay = copy.deepcopy(dict(answer))
    wanted: dict[str, list[dict[str, Any]]] = {}
    for entity, result in _answer_results(replay):
        wanted.setdefault(entity, []).append(result)
    for entity, results in wanted.items():
        _open_records(user, entity, results)
    return replay


def _open_records(user: Any, entity: str, results: list[dict[str, Any]]) -> None:
    ef = entity_fields(entity)
    access = security.field_access(user, entity)
    records = [r["record"] for r in results]
    columns = {c for r in records for c, v in r["values"].items() if _sealed_json(v)}
    readable = sorted(c for c in columns if access.can_read(c))
    ids = {r["id"] for r in records}
    current = {
        str(row["id"]): row
        for row in security.restrict(ef.model.objects.filter(id__in=ids), user).values(
            "id", *readable
        )
    }
    for result in results:
        record = result["record"]
        row = current.get(str(record["id"]))
        if row is None:  # no longer the caller's to read: the next GET removes it
            del result["record"]
            result["record_withheld"] = True
            continue
        values = record["values"]
        for column in [c for c, v in values.items() if _sealed_json(v)]:
            now: Any = _ABSENT
            if column in readable:
                now = canonical(ef.model_field(column), row[column])
            if now is not _ABSENT and values[column]["#"] == _column_digest(
                entity, record["id"], column, now
            ):
                values[column] = now
            else:
                del values[column]
