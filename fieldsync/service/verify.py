"""*Verify*: read both sides of a mailbox and compare every synced field (fieldsync.engine.verify
decides what explains a difference). Writes nothing but its report, a VerifyReport per entity.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from connectors.base import Connector, ConnectorError
from crm.models import Tombstone
from fieldsync.engine import LinkState
from fieldsync.engine.verify import Pair, Verdict, compare
from fieldsync.models.mailboxes import RunTrigger, VerifyReport
from fieldsync.models.sync import MailboxSyncState, RejectedChange, SyncLink, SyncPolicy
from fieldsync.service.apply import server_normalized
from fieldsync.service.crm_side import uuid_or_none
from fieldsync.service.rules import ENTITIES, entity_rules, rules_fingerprint
from fieldsync.service.status import links_of
from fieldsync.service.sync import _EntityRun
from fieldsync.service.values import json_value


def _key(value: Any) -> str:
    return json.dumps(json_value(value), sort_keys=True, default=str)


class _Check:
    """One entity's check: what each side holds now, and what the next run would still do."""

    def __init__(self, owner: Any, connector: Connector, entity: str) -> None:
        self.owner, self.entity = owner, entity
        self.run = _EntityRun(
            owner=owner,
            connector=connector,
            entity=entity,
            policy_row=SyncPolicy.current(),
            dry_run=True,
            batch_size=100,
            progress=None,
        )
        self.state = MailboxSyncState.objects.filter(owner=owner, entity=entity).first()
        self.rules = entity_rules(
            owner=owner, entity=entity, held=self.run.held, exceptions=self.run.exceptions
        )

    def verdict(self) -> Verdict:
        run = self.run
        scope = run.crm.sync_scope()
        crm = run.crm.load(scope)
        links = list(
            SyncLink.objects.filter(owner=self.owner, entity=self.entity).values_list(
                "crm_id", "item_id", "change_key", "state"
            )
        )
        listing = run.exchange.read_pages(None)
        # A calendar window leaves out linked items: those are read by id.
        run.exchange.unlisted(listing, [i for _, i, _, s in links if i and s == LinkState.ACTIVE])
        remote = {i.item_id: run.exchange.remote(i) for i in listing.items}
        pending_crm, pending_items, everything = self._pending(links)
        writable = set(run.crm.writable(list(crm)))
        linked = {str(c) for c, _, _, _ in links}
        pairs = []
        for crm_id, item_id, _, link_state in links:
            if link_state != LinkState.ACTIVE:
                continue  # untracked or kept unsynced: no longer expected to agree
            crm_id = str(crm_id)
            side = crm.get(crm_id)
            pending = everything or crm_id in pending_crm or item_id in pending_items
            pairs.append(
                Pair(
                    crm_id,
                    item_id,
                    side.values if side is not None else None,
                    remote[item_id].values if item_id in remote else None,
                    pending=pending or (side is None and crm_id in self._out_of_scope([crm_id])),
                    writable=crm_id in writable,
                )
            )
        for crm_id, side in crm.items():
            if crm_id not in linked:  # in scope, never synced: the next run creates it
                pending = everything or crm_id in pending_crm
                pairs.append(Pair(crm_id, "", side.values, None, pending=pending))
        refused = {
            (str(item_id), field, _key(value))
            for item_id, field, value in RejectedChange.objects.filter(
                owner=self.owner, entity=self.entity
            ).values_list("item_id", "field", "offered_value")
        }
        return compare(
            pairs,
            self.rules,
            not_held=len(run.ef.columns) - len(self.rules.fields),
            rejected=lambda p, name, value: (p.item_id, name, _key(value)) in refused,
        )

    def _pending(self, links: list[tuple]) -> tuple[set[str], set[str], bool]:
        """CRM ids and item ids the next run would still act on; True: everything (no run
        yet, a guard stop, or directions and rights changed since the last run)."""
        state = self.state
        if state is None or not state.last_run_on or state.guard_reason:
            return set(), set(), True
        if rules_fingerprint(self.rules) != state.rules_fingerprint:
            return set(), set(), True
        cursor = state.crm_change_number
        crm_ids = {i for i, n in self.run.crm.change_numbers.items() if n > cursor}
        crm_ids.update(
            str(i)
            for i in Tombstone.objects.filter(
                entity=self.entity, change_number__gt=cursor
            ).values_list("record_id", flat=True)
        )
        crm_ids.update(i for i in state.retry_ids if uuid_or_none(i))
        items = {i.removeprefix("item:") for i in state.retry_ids if i.startswith("item:")}
        keys = {item_id: key for _, item_id, key, _ in links}
        try:
            listing = self.run.exchange.read_pages(state.remote_sync_state or None)
        except ConnectorError:
            return crm_ids, items, True  # the server forgot the sync state: the next run lists all
        if listing.full:
            return crm_ids, items, True
        items.update(i.item_id for i in listing.items if keys.get(i.item_id) != i.change_key)
        items.update(listing.deleted)
        items.update(self._normalized(listing.items, links, keys))
        return crm_ids, items, False

    def _normalized(self, listed: list[Any], links: list[tuple], keys: dict[str, str]) -> set[str]:
        """Our last writes the server did not keep as written: the next run's change list
        brings them back, records the difference as a conflict and decides it (a pending run,
        not drift)."""
        echoes = {i.item_id: i for i in listed if keys.get(i.item_id) == i.change_key}
        crm_ids = {str(c) for c, item_id, _, _ in links if item_id in echoes}
        ef, read = self.run.ef, self.run.exchange.remote
        return {
            link.item_id
            for link in links_of(owner=self.owner, ef=ef, entity=self.entity, crm_ids=crm_ids)
            if server_normalized(link, read(echoes[link.item_id]), self.rules)
        }

    def _out_of_scope(self, ids: list[str]) -> set[str]:
        """Records that exist but left the owner's scope: the next run removes their copies."""
        return {
            str(i) for i in self.run.model.objects.filter(id__in=ids).values_list("id", flat=True)
        }


def verify_mailbox(
    *,
    owner: Any,
    connector: Connector,
    entities: Iterable[str] | None = None,
    mailbox: Any = None,
    trigger: str = RunTrigger.MANUAL,
) -> list[VerifyReport]:
    """Check each entity (all four by default) and keep a report of each."""
    reports = []
    for entity in entities or ENTITIES:
        report = VerifyReport(
            owner=owner, mailbox=mailbox, entity=entity, trigger=trigger, started_at=timezone.now()
        )
        try:
            verdict = _Check(owner, connector, entity).verdict()
        except ConnectorError as exc:
            report.error = f"The mailbox could not be read: {exc}"
        else:
            report.records = verdict.records
            report.fields_compared = verdict.fields
            report.explained = {k: v for k, v in verdict.explained.items() if v}
            report.drift = [
                {
                    "crm_id": d.crm_id,
                    "item_id": d.item_id,
                    "field": d.field,
                    "crm_value": json_value(d.crm_value),
                    "exchange_value": json_value(d.remote_value),
                }
                for d in verdict.drift
            ]
            report.drift_count = len(verdict.drift)
        report.finished_at = timezone.now()
        report.save()
        reports.append(report)
    return reports
