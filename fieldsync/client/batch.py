"""One entity's part of a client's batch: each item created, merged or untracked in the CRM by
the server-side sync's per-field rules, with one result per item (fieldsync.client.push runs it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.services import record_create, record_update
from fieldsync.client.changes import (
    ClientChange,
    ItemInvalid,
    column_outcomes,
    field_values,
    parse_values,
)
from fieldsync.client.common import (
    ClientRules,
    Cursor,
    client_rules,
    record_row,
    sync_scope,
)
from fieldsync.client.records import record_client_run, record_outcomes
from fieldsync.client.sealing import (
    record_digest,
    remember_versions,
    reseal_versions,
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
from fieldsync.models.client import ClientSyncItem, ClientSyncSession
from fieldsync.models.mailboxes import Mailbox
from fieldsync.models.sync import SyncPolicy
from fieldsync.service.rules import engine_policy
from fieldsync.service.values import ONE_WAY, ONE_WAY_WORDS
from security import policy as security

SECURED_REFUSED = "The CRM does not accept this value of a secured field (not repeated here)."


class EntityBatch:
    """One entity's items of a batch, merged into the CRM by the engine's per-field rules,
    under the user's rights and sync scope; conflicts and rejected changes recorded."""

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
            except ItemInvalid as exc:
                result |= {"status": "invalid", "error": {"message": str(exc)}}
                if exc.fields:
                    result["error"]["fields"] = exc.fields
            except ValidationError as exc:
                fields = self._words(exc.message_dict) if hasattr(exc, "error_dict") else {}
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

    def _words(self, fields: dict[str, list[str]]) -> dict[str, list[str]]:
        """The CRM's validation messages per column, a secured column's in our own words: the
        answer is kept for a retry, and such a message may quote the value (a refused choice)."""
        return {c: [SECURED_REFUSED] if c in self.sealing.columns else m for c, m in fields.items()}

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
        columns = parse_values(self.rules, self.sealing, change.values or {})
        if change.crm_id is None:
            return self._create(change, columns)
        return self._update(change, columns)

    def _item_id(self, change: ClientChange) -> str:
        return f"outlook-client:{self.user.pk}:{self.entity}:{change.ref or change.crm_id}"

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
            raise ItemInvalid("A new record needs a ref: the client's own name for the item.")
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
            field_values(self.rules, columns, None),
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
            answer["fields"] = column_outcomes(self.rules, columns, plan, {}, {})
            return answer
        values = self.ef.columns_of(plan.crm_create)
        record = record_create(model=self.model, values={"id": crm_id, **values}, actor=self.user)
        self._record(plan)
        self.counts["created_in_crm"] += 1
        return self._answer(
            record, "created", column_outcomes(self.rules, columns, plan, {}, plan.crm_create)
        )

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
        fields = field_values(self.rules, columns, fill)
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
        return self._answer(
            record, status, column_outcomes(self.rules, columns, plan, refused, plan.crm_update)
        )

    def _delete(self, change: ClientChange) -> dict[str, Any]:
        """Deleted in the client: the CRM record stays (a sync never deletes CRM data); the
        organization's policy either stops syncing it to this client or puts it back."""
        if change.crm_id is None:
            raise ItemInvalid("A deletion needs the record's id.")
        crm_id = str(change.crm_id)
        record = self.scope.filter(pk=crm_id).first()
        if record is None:
            return {"id": crm_id, "status": "not_found"}
        if self.policy_row.remote_delete_policy == RemoteDeletePolicy.RESTORE:
            return self._answer(record, "restored")
        if self.session is None:
            if self.routed:
                plural = self.model._meta.verbose_name_plural
                raise ItemInvalid(
                    f"Send the deletion of one of your {plural} to their own sync "
                    f"(/api/v1/sync/{self.entity}/changes/) with its cursor."
                )
            raise ItemInvalid(
                "Send the cursor with a deletion: the record stops syncing to that client."
            )
        ClientSyncItem.objects.update_or_create(
            session=self.session,
            crm_id=crm_id,
            defaults={"untracked": True, "removed_seq": None},
            create_defaults={"untracked": True, "added_seq": self.session.seq},
        )
        return {"id": crm_id, "status": "untracked", "version": record.change_number}
