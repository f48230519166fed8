"""GET of the Outlook client path: one page of what changed for a client since its cursor, the
records it must drop (deleted, out of scope, access lost), and the next cursor.

A page holds, in this order: removals (records the client holds that left the scope), records
that entered the scope without changing (a share, a role), then the change stream by (change
number, id). Change numbers become visible in increasing order, so "after the cursor" never
skips a late commit; a record edited between two pages moves to the end of the stream and
comes once more.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.models import Tombstone
from fieldsync.client.common import (
    ClientRules,
    ClientSyncRefused,
    Cursor,
    after,
    check_access,
    client_rules,
    ids,
    row_columns,
    sync_scope,
)
from fieldsync.client.records import record_client_run
from fieldsync.client.sealing import Sealing, remember_versions, reseal_versions, sealing_for
from fieldsync.models.client import ClientSyncItem, ClientSyncSession
from fieldsync.models.mailboxes import Mailbox, SyncRun
from security import policy as security

# A session not seen for this long is forgotten: its cursors then answer 410 (sync again).
SESSION_LIFETIME = datetime.timedelta(days=90)
# Versions served longer ago than this are no longer a merge base (a change based on one is
# merged as if the base were unknown: both sides changed, the conflict policy decides).
MAX_PAGE_SIZE = 1000


@dataclass
class ChangesPage:
    entity: str
    fields: list[dict[str, Any]]
    records: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    next_cursor: str = ""
    has_more: bool = False


def _expired() -> ClientSyncRefused:
    return ClientSyncRefused(
        "This cursor has expired (the server no longer knows what this client holds); "
        "start again without a cursor (initial sync) and replace the local copy.",
        code="cursor_expired",
        status=410,
    )


def _rewind(session: ClientSyncSession, seq: int) -> None:
    """Undo the pages after `seq` (their answers were lost) and settle those up to it."""
    items = ClientSyncItem.objects.filter(session=session)
    items.filter(added_seq__gt=seq).delete()
    items.filter(removed_seq__gt=seq).update(removed_seq=None)
    items.filter(removed_seq__isnull=False).delete()
    session.seq = seq
    session.acked_seq = seq


def client_changes_read(
    *, user: Any, entity: str, cursor: str | None, page_size: int = 100
) -> ChangesPage:
    """One page of changes for the client of `user` (no cursor: an initial sync)."""
    mailbox = check_access(user=user, entity=entity)
    rules = client_rules(user=user, entity=entity)
    sealing = sealing_for(user=user, entity=entity)
    reseal_versions(sealing)
    fingerprint = rules.fingerprint()
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    with transaction.atomic():
        if cursor:
            at = Cursor.decode(cursor, user=user, entity=entity)
            session = (
                ClientSyncSession.objects.select_for_update()
                .filter(pk=at.session, owner=user, entity=entity)
                .first()
            )
            if session is None or at.seq < session.acked_seq:
                raise _expired()
            if at.seq > session.seq:  # signed, so only a server restored from a backup
                raise _expired()
            _rewind(session, at.seq)
            same = at.fingerprint == fingerprint
            position = (at.change_number, at.last_id) if same else (-1, None)
        else:
            ClientSyncSession.objects.filter(
                owner=user, last_seen_on__lt=timezone.now() - SESSION_LIFETIME
            ).delete()
            session = ClientSyncSession.objects.create(owner=user, entity=entity)
            position = (-1, None)
        page = _Page(user, entity, rules, sealing, session, position, page_size).build()
        page.result.next_cursor = Cursor(
            session.id, session.seq, page.position[0], page.position[1], fingerprint
        ).encode(user=user, entity=entity)
        _history(session, mailbox, page)
        session.save()
        return page.result


class _Page:
    def __init__(
        self,
        user: Any,
        entity: str,
        rules: ClientRules,
        sealing: Sealing,
        session: ClientSyncSession,
        position: tuple[int, str | None],
        size: int,
    ) -> None:
        self.user = user
        self.entity = entity
        self.rules = rules
        self.sealing = sealing
        self.session = session
        self.position = position
        self.size = size
        self.seq = session.seq + 1

    def build(self) -> _PageResult:
        scope = sync_scope(user=self.user, entity=self.entity)
        held = ClientSyncItem.objects.filter(session=self.session)
        cn, last_id = self.position
        columns = row_columns(self.entity)
        ordered = ("change_number", "id")
        sources = [
            held.filter(untracked=False)
            .exclude(crm_id__in=scope.values("id"))
            .order_by("crm_id")
            .values_list("crm_id", flat=True),
            # Entered the scope without changing: behind the cursor, not held.
            scope.exclude(id__in=held.values("crm_id"))
            .exclude(after(cn, last_id))
            .order_by(*ordered)
            .values(*columns)
            if cn >= 0
            else None,
            scope.filter(after(cn, last_id))
            .exclude(id__in=held.filter(untracked=True).values("crm_id"))
            .order_by(*ordered)
            .values(*columns),
        ]
        room = self.size
        taken: list[list[Any]] = []
        more = False
        for source in sources:
            if source is None:
                taken.append([])
            elif room:
                rows = list(source[: room + 1])
                more = more or len(rows) > room
                taken.append(rows[:room])
                room -= len(taken[-1])
            else:
                taken.append([])
                more = more or source.exists()
        gone = ids(taken[0])
        entered, stream = taken[1], taken[2]
        position = (stream[-1]["change_number"], str(stream[-1]["id"])) if stream else self.position

        sent = entered + stream
        sent_ids = ids(r["id"] for r in sent)
        known = set(ids(held.filter(crm_id__in=sent_ids).values_list("crm_id", flat=True)))
        ClientSyncItem.objects.bulk_create(
            [
                ClientSyncItem(session=self.session, crm_id=i, added_seq=self.seq)
                for i in dict.fromkeys(sent_ids)
                if i not in known
            ]
        )
        if gone:
            held.filter(crm_id__in=gone).update(removed_seq=self.seq)
        self._remember_versions(sent)
        self.session.seq = self.seq
        result = ChangesPage(
            entity=self.entity,
            fields=self.rules.describe(),
            records=[self.rules.outgoing(r) for r in sent],
            removed=self._removals(gone),
            has_more=more,
        )
        return _PageResult(result, position, len(sent_ids) - len(known), len(known))

    def _removals(self, gone: list[str]) -> list[dict[str, str]]:
        if not gone:
            return []
        model = self.rules.ef.model
        exists = set(ids(model.objects.filter(id__in=gone).values_list("id", flat=True)))
        readable = set(
            ids(
                security.restrict(model.objects.filter(id__in=gone), self.user, "read").values_list(
                    "id", flat=True
                )
            )
        )
        deleted = set(
            ids(
                Tombstone.objects.filter(entity=self.entity, record_id__in=gone).values_list(
                    "record_id", flat=True
                )
            )
        )
        out = []
        for crm_id in gone:
            if crm_id in deleted or crm_id not in exists:
                reason = "deleted"
            elif crm_id not in readable:
                reason = "access_lost"
            else:
                reason = "out_of_scope"
            out.append({"id": crm_id, "reason": reason})
        return out

    def _remember_versions(self, rows: list[dict[str, Any]]) -> None:
        """The merge bases of the changes the client may send about these versions."""
        if not rows:
            return
        remember_versions(self.sealing, rows)


@dataclass
class _PageResult:
    result: ChangesPage
    position: tuple[int, str | None]
    created: int
    updated: int  # records the client held before


def _history(session: ClientSyncSession, mailbox: Mailbox | None, page: _PageResult) -> None:
    """One SyncRun per pass (the pages until has_more is false) in the mailbox's history."""
    removed = len(page.result.removed)
    if mailbox is not None and (page.created or page.updated or removed):
        now = timezone.now()
        counts = {
            "created_in_exchange": page.created,
            "updated_in_exchange": page.updated,
            "deleted_in_exchange": removed,
            "items_seen": page.created + page.updated + removed,
        }
        run_id = session.run_id
        if run_id is None or not SyncRun.objects.filter(pk=run_id).update(
            finished_at=now, **{k: F(k) + v for k, v in counts.items()}
        ):
            run = record_client_run(
                mailbox=mailbox, entity=session.entity, started=now, counts=counts
            )
            run_id = run.pk
        session.run_id = run_id
    if not page.result.has_more:
        session.run_id = None
