"""POST of the Outlook client path: a batch applied once under its idempotency key (a retry gets
the stored answer), its items routed to the entity each stands for and merged there (batch.py).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from fieldsync.client.batch import EntityBatch
from fieldsync.client.changes import ClientChange
from fieldsync.client.common import ClientSyncRefused, check_access, routed_entity
from fieldsync.client.sealing import open_answer, seal_answer
from fieldsync.models.client import ClientBatch
from fieldsync.models.mailboxes import Mailbox
from fieldsync.models.sync import keyed_digest

BATCH_LIFETIME = datetime.timedelta(days=7)


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
        batch = EntityBatch(
            user=self.user,
            entity=entity,
            cursor=cursor,
            mailbox=self.mailbox,
            routed=entity != self.endpoint,
        )
        return batch.run(items)
