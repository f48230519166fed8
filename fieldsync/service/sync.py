"""One sync of one mailbox: read what changed on each side since the last run, let the pure
engine decide, apply the plan in batches through the CRM and the connector, save where it left off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.base import Connector
from crm.models import ChangeCounter
from fieldsync.engine import (
    Absence,
    Conflict,
    CrmSide,
    LinkState,
    Plan,
    RecordEvent,
    RecordInput,
    RecordPlan,
    Rules,
    apply_plan,
    gather,
    needs_reading,
    plan_sync,
    sealed_crm,
    unseal,
)
from fieldsync.models.sync import MailboxSyncState, SyncLink, SyncPolicy
from fieldsync.service.apply import DjangoSink, server_normalized
from fieldsync.service.crm_side import CrmReader, uuid_or_none
from fieldsync.service.exchange_side import ITEM, ExchangeReader, Seen
from fieldsync.service.rules import (
    ENTITIES,
    engine_policy,
    entity_rules,
    held_columns,
    holds_exceptions,
    rules_fingerprint,
    series_zone,
)
from fieldsync.service.status import links_of, links_reseal
from fieldsync.service.values import (
    EXCEPTIONS,
    FOLDERS,
    ONE_WAY_WORDS,
    EntityFields,
    digest,
    entity_fields,
    record_digest,
)

# progress(entity, records done, records in the plan)
Progress = Callable[[str, int, int], None]


@dataclass
class EntityReport:
    """What one entity's run did (or, dry, would do)."""

    entity: str
    counts: dict[str, int] = field(default_factory=dict)
    guard: str = ""
    failed: list[str] = field(default_factory=list)
    plan: Plan | None = None

    def count(self) -> dict[str, int]:
        return dict(self.counts)

    @property
    def notes(self) -> list[str]:
        """What the run left alone on purpose, in the user's words (nothing to resolve)."""
        if self.plan is None:
            return []
        kept = sum(p.event == RecordEvent.NOT_IMPORTED for p in self.plan.records)
        if not kept:
            return []
        items = "1 item" if kept == 1 else f"{kept} items"
        return [f"Not brought into the CRM: {items} made in Outlook. {ONE_WAY_WORDS[self.entity]}"]


@dataclass
class SyncReport:
    owner: str
    dry_run: bool
    entities: dict[str, EntityReport] = field(default_factory=dict)

    def count(self) -> dict[str, int]:
        """Figures summed over the entities (the keys of fieldsync.mailboxes.run.FIGURES)."""
        total: dict[str, int] = {}
        for report in self.entities.values():
            for key, value in report.counts.items():
                total[key] = total.get(key, 0) + value
        return total


def sync_mailbox(
    *,
    owner: Any,
    connector: Connector,
    entities: Iterable[str] | None = None,
    dry_run: bool = False,
    batch_size: int = 100,
    progress: Progress | None = None,
) -> SyncReport:
    """Sync `owner`'s mailbox for each entity (all four by default). With `dry_run`, read both
    sides and plan, but write nothing and save no state."""
    report = SyncReport(owner=str(owner), dry_run=dry_run)
    policy_row = SyncPolicy.current()
    for entity in entities or ENTITIES:
        report.entities[entity] = _EntityRun(
            owner=owner,
            connector=connector,
            entity=entity,
            policy_row=policy_row,
            dry_run=dry_run,
            batch_size=batch_size,
            progress=progress,
        ).run()
    return report


def confirm_mass_change(*, owner: Any, entity: str) -> None:
    """An administrator's go-ahead for a run the mass-change guard stopped."""
    MailboxSyncState.objects.filter(owner=owner, entity=entity).update(guard_confirmed=True)


class _EntityRun:
    """One entity's run: the CRM side (`crm`) and the Exchange side (`exchange`) read, the
    records to decide gathered, the plan applied and the state saved."""

    def __init__(
        self,
        *,
        owner: Any,
        connector: Connector,
        entity: str,
        policy_row: SyncPolicy,
        dry_run: bool,
        batch_size: int,
        progress: Progress | None,
    ) -> None:
        self.owner = owner
        self.connector = connector
        self.entity = entity
        self.exceptions = holds_exceptions(connector)
        self.ef: EntityFields = entity_fields(
            entity, exceptions=self.exceptions, zone=series_zone(connector)
        )
        self.folder = FOLDERS[entity]
        self.policy_row = policy_row
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.progress = progress
        self.model = self.ef.model
        self.held = held_columns(connector, self.folder)
        self.columns = [
            c for c in self.ef.all_columns if self.held is None or c in self.held or c == EXCEPTIONS
        ]
        self.failed_items: list[str] = []
        self.crm = CrmReader(owner=owner, entity=entity, ef=self.ef, policy_row=policy_row)
        self.exchange = ExchangeReader(
            owner=owner,
            entity=entity,
            connector=connector,
            folder=self.folder,
            ef=self.ef,
            columns=self.columns,
        )

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> EntityReport:
        report = EntityReport(self.entity)
        state, _ = MailboxSyncState.objects.get_or_create(owner=self.owner, entity=self.entity)
        rules = entity_rules(
            owner=self.owner, entity=self.entity, held=self.held, exceptions=self.exceptions
        )
        fingerprint = rules_fingerprint(rules)
        cursor = state.crm_change_number
        mark = ChangeCounter.objects.values_list("value", flat=True).first() or 0
        self.crm.scope = self.crm.sync_scope()
        light = {
            str(crm_id): (pk, item_id, change_key, link_state)
            for pk, crm_id, item_id, change_key, link_state in SyncLink.objects.filter(
                owner=self.owner, entity=self.entity
            ).values_list("pk", "crm_id", "item_id", "change_key", "state")
        }
        by_item = {v[1]: k for k, v in light.items()}
        self.crm.linked = set(light)
        crm = self.crm.changed(state, cursor, light)
        seen = self.exchange.changed(state, light, by_item)
        normalizations = self._own_writes(seen, by_item, rules)
        self.exchange.reread_failed(state, light, seen)
        revisit = bool(light) and fingerprint != state.rules_fingerprint
        records = self._records(light, by_item, crm, seen, rules, revisit)
        if revisit and not self.dry_run:
            # Before planning: a run the guard stops must not leave values in clear either.
            links_reseal(owner=self.owner, ef=self.ef, entity=self.entity, rules=rules)
        active = sum(1 for v in light.values() if v[3] == LinkState.ACTIVE)
        plan = plan_sync(
            records,
            rules,
            engine_policy(self.policy_row),
            synced_items=active,
            confirmed=state.guard_confirmed,
            writable=self.crm.writable,
        )
        plan = _with_conflicts(plan, normalizations)
        report.plan = plan
        report.counts = plan.count() | {
            "items_seen": len(seen.items) + len(seen.deleted) + len(crm)
        }
        if plan.guard is not None:
            report.guard = plan.guard.reason
            if not self.dry_run:
                state.guard_reason = plan.guard.reason
                state.guard_tripped_on = timezone.now()
                state.save(update_fields=["guard_reason", "guard_tripped_on"])
            return report
        if self.dry_run:
            return report
        sink, failed = self._apply(plan, rules, light, cursor, report)
        self._save_state(
            state, seen, sink, failed, cursor=max(mark, cursor), fingerprint=fingerprint
        )
        return report

    def _own_writes(
        self, seen: Seen, by_item: dict[str, str], rules: Rules
    ) -> dict[str, list[Conflict]]:
        """The last run's writes as the server stored them: each one it did not keep as written
        is decided in this run from what the server holds, with its server_normalized
        conflicts (by CRM id). Our writes the server kept need nothing."""
        if not seen.echoes:
            return {}
        echoes = {r.item_id: r for r in seen.echoes}
        crm_ids = {by_item[i] for i in echoes}
        found: dict[str, list[Conflict]] = {}
        for link in links_of(owner=self.owner, ef=self.ef, entity=self.entity, crm_ids=crm_ids):
            remote = echoes.get(link.item_id)
            if remote is not None and (conflicts := server_normalized(link, remote, rules)):
                found[link.crm_id] = conflicts
                seen.remote.append(remote)
        return found

    def _records(
        self,
        light: dict[str, tuple],
        by_item: dict[str, str],
        crm: dict[str, CrmSide | Absence],
        seen: Seen,
        rules: Rules,
        revisit: bool,
    ) -> list[RecordInput]:
        """The records to decide: those either side touched, or every link when revisiting."""
        if revisit:
            touched = set(light)
        else:
            touched = set(crm)
            touched.update(by_item[r.item_id] for r in seen.remote if r.item_id in by_item)
            touched.update(r.crm_id for r in seen.remote if r.crm_id)
            touched.update(by_item[i] for i in seen.deleted + seen.vanished if i in by_item)
        links = links_of(
            owner=self.owner, ef=self.ef, entity=self.entity, crm_ids=touched & set(light)
        )
        if revisit:
            # Private values are kept as digests: a field that stops being `none` needs the item,
            # and so does one the owner may read again (its Outlook value was sealed too).
            present = {r.item_id for r in seen.remote}
            need = {link.item_id for link in links if needs_reading(link, rules)} - present
            seen.remote += [self.exchange.remote(i) for i in seen.items if i.item_id in need]
            need -= {i.item_id for i in seen.items}
            got, gone = self.exchange.read(sorted(need))
            seen.remote += got
            seen.deleted += gone
            # CRM values sealed while the owner could not read them: read the records again.
            again = {link.crm_id for link in links if sealed_crm(link, rules)} - set(crm)
            if again:
                crm.update(self.crm.load(self.crm.scope.filter(id__in=sorted(again))))
        records = gather(
            links=links,
            crm=crm,
            remote_changed=seen.remote,
            remote_deleted=seen.deleted,
            unconfirmed=seen.vanished,
            revisit=revisit,
            lookup=self.crm.lookup,
        )
        return [self._unseal(r) for r in records]

    def _unseal(self, record: RecordInput) -> RecordInput:
        """The record with its status's sealed values opened where a side still holds them:
        digests salted with the record, then (a status sealed before they were salted) plain
        keyed ones, which the run's status then keeps salted."""
        if record.link is None:
            return record
        return unseal(unseal(record, record_digest(self.entity, record.link.crm_id)), digest)

    def _apply(
        self, plan: Plan, rules: Rules, light: dict[str, tuple], cursor: int, report: EntityReport
    ) -> tuple[DjangoSink, list[str]]:
        """Apply the plan in batches; the failed records are retried by the next run."""
        sink = DjangoSink(
            owner=self.owner,
            ef=self.ef,
            rules=rules,
            connector=self.connector,
            folder=self.folder,
            link_pks={k: v[0] for k, v in light.items()},
            crm_change_numbers=self.crm.change_numbers,
            cursor=cursor,
        )
        sink.listed_new = self.exchange.listed_new
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            if self.progress is not None:
                self.progress(self.entity, done, len(plan.records))

        applied = apply_plan(plan, sink, batch_size=self.batch_size, progress=step)
        failed = [str(p.crm_id or p.item_id) for p, _ in applied.failed] + sink.stale
        report.failed = failed + sink.invalid
        # The next run reads these items again (see ExchangeReader.reread_failed).
        self.failed_items = [f"{ITEM}{p.item_id}" for p, _ in applied.failed if p.item_id]
        if failed or sink.invalid:
            report.counts = _applied_counts(plan, set(report.failed)) | {
                "items_seen": report.counts["items_seen"]
            }
        return sink, failed

    def _save_state(
        self,
        state: MailboxSyncState,
        seen: Seen,
        sink: DjangoSink,
        failed: list[str],
        *,
        cursor: int,
        fingerprint: str,
    ) -> None:
        """Save where this run left off on both sides."""
        state.remote_sync_state = seen.new_state
        state.crm_change_number = cursor
        state.rules_fingerprint = fingerprint
        again = dict.fromkeys(failed)  # retried by the next run
        state.retry_ids = [i for i in again if uuid_or_none(i)] + self.failed_items
        state.guard_reason = ""
        state.guard_confirmed = False
        state.last_run_on = timezone.now()
        with transaction.atomic():
            state.save()
            # The saved state now covers what this run listed; only its own creates are newer.
            seen.unconfirmed.filter(
                Q(run_started__lt=sink.run_started) | Q(created_by_sync=False)
            ).delete()


def _with_conflicts(plan: Plan, found: dict[str, list[Conflict]]) -> Plan:
    """The plan with the server_normalized conflicts of the records they belong to."""
    if not found:
        return plan
    left = dict(found)
    records = [
        replace(p, conflicts=(*p.conflicts, *left.pop(str(p.crm_id))))
        if str(p.crm_id) in left
        else p
        for p in plan.records
    ]
    records += [  # decided as nothing to do: the conflicts are still recorded
        RecordPlan(
            crm_id, c[0].item_id, None, RecordEvent.MERGED, conflicts=tuple(c), status_changed=False
        )
        for crm_id, c in left.items()
    ]
    return replace(plan, records=tuple(records))


def _applied_counts(plan: Plan, failed: set[str]) -> dict[str, int]:
    kept = tuple(p for p in plan.records if str(p.crm_id or p.item_id) not in failed)
    return Plan(kept).count()
