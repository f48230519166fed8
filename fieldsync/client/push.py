"""POST of the Outlook client path: a batch of client changes merged into the CRM by the sync
engine's own per-field rules, with conflicts and rejected changes recorded as server-side sync
records them, one result per item, and an idempotency key that makes a retry change nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.services import record_create, record_update
from fieldsync.client.common import (
    ClientRules,
    ClientSyncRefused,
    Cursor,
    check_access,
    client_rules,
    column_type,
    record_row,
    routed_entity,
    sync_scope,
)
from fieldsync.client.records import record_client_run, record_outcomes
from fieldsync.client.sealing import (
    open_answer,
    record_digest,
    remember_versions,
    reseal_versions,
    seal_answer,
    sealing_for,
    version_values,
)
from fieldsync.directions import Direction
from fieldsync.engine import (
    UNKNOWN,
    Absence,
    CrmSide,
    FieldBase,
    Link,
    Outcome,
    Policy,
    RecordEvent,
    RecordInput,
    RecordPlan,
    Rejected,
    RejectReason,
    Remote,
    RemoteDeletePolicy,
    Sealed,
    Value,
    crm_id_for_item,
    decide_record,
    unseal,
)
from fieldsync.models.client import ClientBatch, ClientSyncItem, ClientSyncSession
from fieldsync.models.mailboxes import Mailbox
from fieldsync.models.sync import SyncPolicy, keyed_digest
from fieldsync.service.rules import engine_policy
from fieldsync.service.values import ONE_WAY, ONE_WAY_WORDS, canonical, python
from security import policy as security

BATCH_LIFETIME = datetime.timedelta(days=7)
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


def request_hash(entity: str, body: Any) -> str:
    """What tells a retry from another batch under the same key. Keyed (HMAC with the secret
    key): the body holds the values sent, secured ones too, and a plain hash of it beside the
    stored answer would let a short value be guessed."""
    return keyed_digest("client-batch", entity, body)


def legacy_request_hash(entity: str, body: Any) -> str:
    """The plain hash stored by batches posted before request_hash was keyed: a retry of one
    is still recognized (batches are kept BATCH_LIFETIME)."""
    raw = json.dumps([entity, body], sort_keys=True, cls=DjangoJSONEncoder)
    return hashlib.sha256(raw.encode()).hexdigest()


def _reused_key() -> ClientSyncRefused:
    return ClientSyncRefused(
        "This Idempotency-Key was already used for a different batch; use a new key for "
        "new changes (the same key only for an exact retry).",
        code="idempotency_key_reused",
        status=422,
    )


def client_changes_apply(
    *,
    user: Any,
    entity: str,
    changes: Sequence[ClientChange],
    cursor: str | None,
    key: str,
    body_hash: str,
    legacy_hash: str = "",
) -> tuple[dict[str, Any], bool]:
    """Apply a batch once: (the answer, whether it is the stored answer of an earlier post).
    `legacy_hash`: the batch's hash as stored before request_hash was keyed."""
    mailbox = check_access(user=user, entity=entity)
    hashes = {body_hash, legacy_hash} - {""}
    try:
        with transaction.atomic():
            done = ClientBatch.objects.filter(owner=user, key=key).first()
            if done is not None:
                return _replayed(user, done, hashes), True
            ClientBatch.objects.filter(
                owner=user, created_on__lt=timezone.now() - BATCH_LIFETIME
            ).delete()
            # Inserted first: a concurrent post of the same key waits on it, then replays.
            batch = ClientBatch.objects.create(owner=user, key=key, request_hash=body_hash)
            answer = _Routed(user=user, endpoint=entity, cursor=cursor, mailbox=mailbox).run(
                changes
            )
            batch.response = seal_answer(user=user, answer=answer)
            batch.save(update_fields=["response"])
            return answer, False
    except IntegrityError:
        done = ClientBatch.objects.filter(owner=user, key=key).first()
        if done is None or done.response is None:
            raise
        return _replayed(user, done, hashes), True


def _replayed(user: Any, done: ClientBatch, hashes: set[str]) -> dict[str, Any]:
    """The stored answer of an earlier post of the same batch, with the values of secured
    columns the caller may still read and the record still holds."""
    if done.request_hash not in hashes:
        raise _reused_key()
    if done.response is None:
        return done.response
    sealed = seal_answer(user=user, answer=done.response)
    if sealed != done.response:  # stored in clear by an earlier release: sealed from now on
        ClientBatch.objects.filter(pk=done.pk).update(response=sealed)
    return open_answer(user=user, answer=sealed)


class _ItemInvalid(Exception):
    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


def _field_status(status: str, reason: str = "", conflict: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status}
    if reason:
        out["reason"] = reason
    if conflict:
        out["conflict"] = True
    return out


@dataclass
class _Routed:
    """A batch's items by the entity each stands for (its activity type, see routed_entity),
    each group merged by that entity's rules, scope and rights; results in the batch's order."""

    user: Any
    endpoint: str
    cursor: str | None
    mailbox: Mailbox | None

    def run(self, changes: Sequence[ClientChange]) -> dict[str, Any]:
        groups: dict[str, list[tuple[int, ClientChange]]] = {}
        for index, change in enumerate(changes):
            entity = routed_entity(self.endpoint, change.activity_type)
            groups.setdefault(entity, []).append((index, change))
        results: list[dict[str, Any]] = []
        for entity, items in groups.items():
            results += self._group(entity, items)
        results.sort(key=lambda r: r["index"])
        return {"entity": self.endpoint, "results": results}

    def _group(self, entity: str, items: list[tuple[int, ClientChange]]) -> list[dict[str, Any]]:
        if entity != self.endpoint:
            try:  # the Sync privilege and the mailbox's path of the entity the item is
                check_access(user=self.user, entity=entity)
            except ClientSyncRefused as exc:
                return [
                    {"index": i, "ref": c.ref, "entity": entity, "status": "refused"}
                    | {"error": {"message": str(exc)}}
                    for i, c in items
                ]
        cursor = self.cursor if entity == self.endpoint else None
        batch = _Batch(
            user=self.user,
            entity=entity,
            cursor=cursor,
            mailbox=self.mailbox,
            routed=entity != self.endpoint,
        )
        return batch.run(items)


class _Batch:
    def __init__(
        self,
        *,
        user: Any,
        entity: str,
        cursor: str | None,
        mailbox: Mailbox | None,
        routed: bool = False,
    ):
        self.user = user
        self.entity = entity
        self.mailbox = mailbox
        self.routed = routed
        self.rules: ClientRules = client_rules(user=user, entity=entity)
        self.ef = self.rules.ef
        self.model = self.ef.model
        self.policy_row = SyncPolicy.current()
        policy = engine_policy(self.policy_row)
        # A client's new record is always meant for the CRM: no category decides it.
        self.policy: Policy = replace(policy, tracked_category=policy.tracked_category or "client")
        self.scope = sync_scope(user=user, entity=entity, policy_row=self.policy_row)
        self.sealing = sealing_for(user=user, entity=entity)
        reseal_versions(self.sealing)
        self.session: ClientSyncSession | None = None
        if cursor:
            at = Cursor.decode(cursor, user=user, entity=entity)
            self.session = ClientSyncSession.objects.filter(
                pk=at.session, owner=user, entity=entity
            ).first()
        self.counts = {"created_in_crm": 0, "updated_in_crm": 0, "conflicts": 0, "rejected": 0}

    def run(self, changes: Sequence[tuple[int, ClientChange]]) -> list[dict[str, Any]]:
        started = timezone.now()
        results = []
        for index, change in changes:
            result = {"index": index, "ref": change.ref, "entity": self.entity}
            try:
                with transaction.atomic():
                    result |= self._item(change)
            except _ItemInvalid as exc:
                result |= {"status": "invalid", "error": {"message": str(exc)}}
                if exc.fields:
                    result["error"]["fields"] = exc.fields
            except ValidationError as exc:
                fields = exc.message_dict if hasattr(exc, "error_dict") else {}
                message = "; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items())
                result |= {"status": "invalid", "error": {"message": message or str(exc)}}
                if fields:
                    result["error"]["fields"] = fields
            except PermissionDenied as exc:
                result |= {"status": "refused", "error": {"message": str(exc)}}
            except IntegrityError as exc:
                result |= {"status": "invalid", "error": {"message": f"Not saved: {exc}"}}
            results.append(result)
        if self.mailbox is not None and changes:
            record_client_run(
                mailbox=self.mailbox,
                entity=self.entity,
                started=started,
                counts=self.counts | {"items_seen": len(changes)},
            )
        return results

    # -- one item -------------------------------------------------------------------------------
    def _record(self, plan: RecordPlan, refused: Iterable[Rejected] = ()) -> None:
        # A base kept only as a digest (a secured field's version) is no value to show or to
        # apply: the conflict records the base as unknown.
        conflicts = [
            replace(c, base=UNKNOWN) if isinstance(c.base, Sealed) else c for c in plan.conflicts
        ]
        rejected = [*plan.rejected, *refused]
        record_outcomes(owner=self.user, entity=self.entity, conflicts=conflicts, rejected=rejected)
        self.counts["conflicts"] += len(conflicts)
        self.counts["rejected"] += len(rejected)

    def _item(self, change: ClientChange) -> dict[str, Any]:
        if change.deleted:
            return self._delete(change)
        if self.entity in ONE_WAY:
            # Never written into the CRM, and no right is missing: nothing to record.
            return {
                "id": str(change.crm_id) if change.crm_id else None,
                "status": "refused",
                "error": {"message": ONE_WAY_WORDS[self.entity]},
            }
        columns = self._parse(change.values or {})
        if change.crm_id is None:
            return self._create(change, columns)
        return self._update(change, columns)

    def _item_id(self, change: ClientChange) -> str:
        return f"outlook-client:{self.user.pk}:{self.entity}:{change.ref or change.crm_id}"

    def _parse(self, values: Mapping[str, Any]) -> dict[str, Value]:
        """Column values in the engine's form; every problem named by its column."""
        out: dict[str, Value] = {}
        errors: dict[str, list[str]] = {}
        for column, raw in values.items():
            if column not in self.rules.field_of:
                known = ", ".join(self.rules.field_of)
                errors[column] = [f"Not a synchronized {self.entity} column (known: {known})."]
                continue
            field = self.ef.model_field(column)
            if isinstance(raw, list | dict) or (isinstance(raw, int) and abs(raw) >= _INT_LIMIT):
                errors[column] = ["Expected a single value."]
                continue
            if isinstance(raw, str) and "\x00" in raw:
                errors[column] = ["Null characters are not allowed."]
                continue
            try:
                out[column] = canonical(field, python(field, raw))
            except (ValidationError, TypeError, ValueError, OverflowError) as exc:
                errors[column] = [self._invalid(column, raw, exc)]
        if errors:
            raise _ItemInvalid("Some values are invalid: " + ", ".join(errors), errors)
        return out

    def _invalid(self, column: str, raw: Any, exc: Exception) -> str:
        if column in self.sealing.columns:
            # The answer is kept for a retry: no value of a secured column is repeated in it,
            # nor a message that may quote one.
            kind = column_type(self.ef.model_field(column))
            return f"Invalid value for this secured field (not repeated here): expected a {kind}."
        message = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
        return f"Invalid value {raw!r}: {' '.join(message)}"

    def _field_values(
        self, columns: Mapping[str, Value], fill: Mapping[str, Value] | None
    ) -> dict[str, Value]:
        """Catalog field values from the columns sent; a field's other columns come from
        `fill` (what the client last had), or are blank for a new record."""
        out: dict[str, Value] = {}
        for name in dict.fromkeys(self.rules.field_of[c] for c in columns):
            cols = self.ef.columns[name]
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
                    parts.append(canonical(self.ef.model_field(column), None))
            out[name] = parts[0] if len(cols) == 1 else tuple(parts)
        return out

    def _report(
        self,
        columns: Mapping[str, Value],
        plan: RecordPlan | None,
        refused: Mapping[str, Rejected],
        written: Mapping[str, Value],
    ) -> dict[str, dict[str, Any]]:
        conflicts = {c.field: c for c in plan.conflicts} if plan else {}
        rejected = {r.field: r for r in plan.rejected} if plan else {}
        rejected.update(refused)
        out = {}
        for column in columns:
            name = self.rules.field_of[column]
            rule = self.rules.rule(name)
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

    def _answer(self, record: Any, status: str, fields: dict | None = None) -> dict[str, Any]:
        row = record_row(record, self.entity)
        self._remember(row)
        out = self.rules.outgoing(row)
        answer: dict[str, Any] = {"id": out["id"], "status": status, "version": out["version"]}
        if fields is not None:
            answer["fields"] = fields
        answer["record"] = out
        return answer

    def _remember(self, row: Mapping[str, Any]) -> None:
        remember_versions(self.sealing, [row])

    def _base(self, crm_id: str, version: int | None, record: Any) -> dict[str, Value] | None:
        """The field values the client's version had (a secured field's as a digest, `Sealed`,
        unless it is the current version), or None when unknown."""
        if version is None:
            return None
        if version == record.change_number:
            return self.ef.values(record_row(record, self.entity))
        return version_values(self.sealing, crm_id, version)

    def _unreadable(
        self, item_id: str, crm_id: str | None, fields: Mapping[str, Value]
    ) -> dict[str, Rejected]:
        """Fields the user may not read: refused whatever the value, so that the answer
        never tells whether a guess matched the hidden value."""
        out = {}
        for name, value in fields.items():
            rule = self.rules.rule(name)
            if rule.accepts and not rule.can_read:
                reason = RejectReason.NO_UPDATE.value
                out[name] = Rejected(crm_id, item_id, name, value, reason)
        return out

    def _create(self, change: ClientChange, columns: Mapping[str, Value]) -> dict[str, Any]:
        if not change.ref:
            raise _ItemInvalid("A new record needs a ref: the client's own name for the item.")
        item_id = self._item_id(change)
        crm_id = crm_id_for_item(item_id)
        existing = self.scope.filter(pk=crm_id).first()
        if existing is not None:  # created by an earlier batch whose answer was lost
            return self._answer(existing, "exists")
        # The engine's create rule: accepted, non-blank values; the whole create is refused
        # when the user may not create the entity or one of the fields offered.
        remote = Remote(
            item_id,
            "",
            None,
            self._field_values(columns, None),
            (self.policy.tracked_category,),
        )
        plan = decide_record(
            RecordInput(None, None, Absence.MISSING, remote), self.rules.rules, self.policy
        )
        if plan.event != RecordEvent.CREATED_IN_CRM or plan.crm_create is None:
            self._record(plan)
            answer: dict[str, Any] = {"id": None, "status": "refused"}
            if any(r.field == "*" for r in plan.rejected):
                answer["error"] = {
                    "message": f"You may not create {self.model._meta.verbose_name_plural}."
                }
            else:
                answer["error"] = {
                    "message": "Field security does not let you set some of these fields on "
                    "a new record; nothing was created."
                }
            answer["fields"] = self._report(columns, plan, {}, {})
            return answer
        values = self.ef.columns_of(plan.crm_create)
        record = record_create(model=self.model, values={"id": crm_id, **values}, actor=self.user)
        self._record(plan)
        self.counts["created_in_crm"] += 1
        return self._answer(record, "created", self._report(columns, plan, {}, plan.crm_create))

    def _update(self, change: ClientChange, columns: Mapping[str, Value]) -> dict[str, Any]:
        crm_id = str(change.crm_id)
        record = self.scope.select_for_update().filter(pk=crm_id).first()
        if record is None:
            return {"id": crm_id, "status": "not_found"}
        item_id = self._item_id(change)
        crm_values = self.ef.values(record_row(record, self.entity))
        base = self._base(crm_id, change.version, record)
        # A field's columns the client did not send are its version's; a sealed version's, the
        # CRM's (the same, unless the CRM changed that field since: then both sides did).
        fill = crm_values
        if base is not None:
            fill = {k: crm_values[k] if isinstance(v, Sealed) else v for k, v in base.items()}
        fields = self._field_values(columns, fill)
        refused = self._unreadable(item_id, crm_id, fields)
        offered = {
            k: v
            for k, v in fields.items()
            if k not in refused and self.rules.rule(k).direction != Direction.NONE
        }
        link = Link(
            crm_id,
            item_id,
            "",
            base={k: FieldBase.same(base[k]) for k in offered} if base is not None else {},
        )
        when = change.modified_on or timezone.now()
        observed = RecordInput(
            crm_id,
            link,
            CrmSide(
                {k: crm_values[k] for k in offered},
                record.modified_on.timestamp(),
                security.can(self.user, security.Action.WRITE, record),
            ),
            Remote(item_id, "", crm_id, offered, modified=when.timestamp()),
        )
        # A sealed base opens where the CRM or the client still holds that value.
        observed = unseal(observed, record_digest(self.entity, record.pk))
        plan = decide_record(observed, self.rules.rules, self.policy)
        status = "unchanged"
        if plan.crm_update:
            values = self.ef.columns_of(plan.crm_update)
            record = record_update(record=record, values=values, actor=self.user)
            self.counts["updated_in_crm"] += 1
            status = "updated"
        self._record(plan, refused.values())
        return self._answer(record, status, self._report(columns, plan, refused, plan.crm_update))

    def _delete(self, change: ClientChange) -> dict[str, Any]:
        """Deleted in the client: the CRM record stays (a sync never deletes CRM data); the
        organization's policy either stops syncing it to this client or puts it back."""
        if change.crm_id is None:
            raise _ItemInvalid("A deletion needs the record's id.")
        crm_id = str(change.crm_id)
        record = self.scope.filter(pk=crm_id).first()
        if record is None:
            return {"id": crm_id, "status": "not_found"}
        if self.policy_row.remote_delete_policy == RemoteDeletePolicy.RESTORE:
            return self._answer(record, "restored")
        if self.session is None:
            if self.routed:
                plural = self.model._meta.verbose_name_plural
                raise _ItemInvalid(
                    f"Send the deletion of one of your {plural} to their own sync "
                    f"(/api/v1/sync/{self.entity}/changes/) with its cursor."
                )
            raise _ItemInvalid(
                "Send the cursor with a deletion: the record stops syncing to that client."
            )
        ClientSyncItem.objects.update_or_create(
            session=self.session,
            crm_id=crm_id,
            defaults={"untracked": True, "removed_seq": None},
            create_defaults={"untracked": True, "added_seq": self.session.seq},
        )
        return {"id": crm_id, "status": "untracked", "version": record.change_number}
