"""One sync of one mailbox: read what changed on each side since the last run, let the pure
engine decide, apply the plan in batches through the CRM and the connector, save where it left off.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from connectors.base import NOT_FOUND, Connector, ConnectorError, RemoteItem
from crm.models import ChangeCounter, Tombstone
from fieldsync.catalog import get_catalog
from fieldsync.directions import Direction
from fieldsync.engine import (
    Absence,
    CrmSide,
    FieldRule,
    Link,
    LinkState,
    Plan,
    Policy,
    RecordEvent,
    RecordInput,
    Remote,
    Rules,
    apply_plan,
    gather,
    needs_reading,
    plan_sync,
    seal_unreadable,
    sealed_crm,
    unseal,
)
from fieldsync.engine.model import ConflictPolicy, RemoteDeletePolicy
from fieldsync.fields.selectors import directions_for
from fieldsync.models.sync import (
    MailboxSyncState,
    SyncFilter,
    SyncLink,
    SyncPolicy,
    UnconfirmedItems,
)
from fieldsync.service.apply import DjangoSink, series_exceptions
from fieldsync.service.values import (
    EXCEPTIONS,
    EXCHANGE_SETS,
    FOLDERS,
    ONE_WAY,
    ONE_WAY_WORDS,
    EntityFields,
    decode_base,
    digest,
    encode_base,
    entity_fields,
    item_entity,
)
from security import policy as security

_EXCHANGE_SET = {Direction.BOTH: Direction.TO_CRM, Direction.TO_OUTLOOK: Direction.NONE}
ENTITIES: tuple[str, ...] = (
    "contact",
    "appointment",
    "recurring_appointment",
    "task",
    "phone_call",
    "letter",
    "fax",
    "service_activity",
)
APPOINTMENT_LIKE = ("appointment", "recurring_appointment", "service_activity")
INVALID_SYNC_STATE = "ErrorInvalidSyncStateData"
_ITEM = "item:"  # an item id among MailboxSyncState.retry_ids (the rest are CRM ids)

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


# What the saved statuses seal, part of the saved rules fingerprint: a new value makes the first
# run after an upgrade revisit every status and seal what the new format seals (2: the mailbox's
# own value of a field its owner may not read, too).
STATUS_FORMAT = "s2"


def rules_fingerprint(rules: Rules) -> str:
    """The fingerprint saved with a mailbox's sync state: a change revisits every link."""
    return f"{STATUS_FORMAT}:{rules.fingerprint()}"


def engine_policy(row: SyncPolicy) -> Policy:
    return Policy(
        conflict=ConflictPolicy(row.conflict_policy),
        remote_delete=RemoteDeletePolicy(row.remote_delete_policy),
        keep_copy_on_lost_access=row.keep_copy_on_lost_access,
        tracked_category=row.tracked_category,
        mass_change_share=row.mass_change_percent / 100,
        mass_change_min_items=row.mass_change_min_items,
    )


def held_columns(connector: Connector, folder: str) -> frozenset[str] | None:
    """The columns a connector can hold in `folder` (None: every column). A field with a
    column it cannot hold (vCard has no government ID) is left out of that mailbox's sync."""
    supported = getattr(connector, "supported_columns", None)
    return frozenset(supported(folder)) if supported is not None else None


def holds_exceptions(connector: Connector) -> bool:
    """Whether the connector reads and writes a series' changed and cancelled occurrences."""
    return bool(getattr(connector, "holds_exceptions", False))


# The exceptions follow the recurrence pattern's direction, and the rights on the columns an
# exception overrides.
_EXCEPTIONS_LIKE = "recurrence_pattern"
_EXCEPTION_COLUMNS = ("scheduled_start", "scheduled_end", "subject", "location", "description")


def entity_rules(
    *,
    owner: Any,
    entity: str,
    held: frozenset[str] | None = None,
    exceptions: bool = False,
) -> Rules:
    """Directions from the settings and the owner's field rights, per catalog field (only the
    fields whose columns are all in `held`, when given); with `exceptions`, also the series'
    changed and cancelled occurrences."""
    ef = entity_fields(entity, exceptions=exceptions)
    directions = directions_for(entity=entity)
    access = security.field_access(owner, entity)
    catalog_entity = get_catalog().entity(entity)
    fields = {}
    for name, columns in ef.columns.items():
        if name == EXCEPTIONS:
            name_like, columns = _EXCEPTIONS_LIKE, _EXCEPTION_COLUMNS
        else:
            name_like = name
            if held is not None and not held.issuperset(columns):
                continue
        direction = directions.get(name_like) or catalog_entity.field(name_like).default_direction
        if (entity, name) in EXCHANGE_SETS:  # Exchange decides it: it can only come from there
            direction = {
                Direction.BOTH: Direction.TO_CRM,
                Direction.TO_OUTLOOK: Direction.NONE,
            }.get(direction, direction)
        fields[name] = FieldRule(
            direction=direction,
            can_read=all(access.can_read(c) for c in columns),
            can_create=all(access.can_create(c) for c in columns),
            can_update=all(access.can_update(c) for c in columns),
            blank=ef.blank(name),
            crm_default=ef.crm_default(name),
            check=ef.check(name),
        )
    # A one-way entity is never created from the mailbox (an item carrying its type is a copy).
    can_create = entity not in ONE_WAY and security.has_privilege(
        owner, entity, security.Action.CREATE
    )
    return Rules(fields, can_create_entity=can_create, one_way=entity in ONE_WAY)


def scope_filter(*, owner: Any, entity: str, choice: str) -> Q:
    """The organization's sync filter for one entity (before record security)."""
    if choice == SyncFilter.ALL:
        return Q()
    if choice == SyncFilter.BUSINESS_UNIT:
        return Q(business_unit_id=owner.business_unit_id)
    q = Q(owner=owner)
    email = (owner.email or "").strip()
    if entity in APPOINTMENT_LIKE and email:
        q |= (
            Q(organizer__iexact=email)
            | Q(required_attendees__icontains=email)
            | Q(optional_attendees__icontains=email)
        )
    return q


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


def _uuid_or_none(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


@dataclass
class _Listing:
    """What the connector listed: the changed items, the deleted ids and the new state;
    `full`: every item listed (no sync state to start from); `partial`: a part of the folder
    only (ChangePage.partial); `vanished`: unconfirmed items the listing left out."""

    items: list[RemoteItem]
    deleted: list[str]
    new_state: str
    full: bool = False
    partial: bool = False
    vanished: list[str] = field(default_factory=list)


@dataclass
class _Seen:
    """What one run observed on the Exchange side."""

    items: list[Any]  # the change list's items
    deleted: list[str]  # item ids
    new_state: str  # the sync state to save
    vanished: list[str]  # items this sync created that the list no longer has
    remote: list[Remote]  # the changed items, our own writes left out
    unconfirmed: Any  # the UnconfirmedItems rows the saved state will cover


class _EntityRun:
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
        self.ef: EntityFields = entity_fields(entity, exceptions=self.exceptions)
        self.folder = FOLDERS[entity]
        self.policy_row = policy_row
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.progress = progress
        self.model = self.ef.model
        self.change_numbers: dict[str, int] = {}
        self.linked: set[str] = set()  # records this mailbox holds a status for
        self.held = held_columns(connector, self.folder)
        self.columns = [
            c for c in self.ef.all_columns if self.held is None or c in self.held or c == EXCEPTIONS
        ]
        self.failed_items: list[str] = []

    # -- reading the CRM ---------------------------------------------------------------------
    def _scope(self) -> Any:
        choice = self.policy_row.filter_for(self.entity)
        qs = self.model.objects.filter(
            scope_filter(owner=self.owner, entity=self.entity, choice=choice)
        )
        return security.restrict(qs, self.owner, security.Action.SYNC)

    def _load(self, qs: Any) -> dict[str, CrmSide]:
        out = {}
        rows = list(qs.values("id", "modified_on", "change_number", *self.ef.model_columns))
        if EXCEPTIONS in self.ef.columns:
            held = series_exceptions([r["id"] for r in rows])
            for row in rows:
                row[EXCEPTIONS] = held.get(row["id"], [])
        for row in rows:
            crm_id = str(row["id"])
            self.change_numbers[crm_id] = row["change_number"]
            modified = row["modified_on"].timestamp() if row["modified_on"] else None
            out[crm_id] = CrmSide(self.ef.values(row), modified)
        return out

    def _lookup(self, ids: Sequence[str]) -> dict[str, CrmSide | Absence]:
        """CRM sides of records an unlinked item names, or a resumed link needs."""
        valid = [i for i in (_uuid_or_none(x) for x in ids) if i]
        found: dict[str, CrmSide | Absence] = dict(self._load(self.scope.filter(id__in=valid)))
        rest = [i for i in valid if i not in found]
        if rest:
            exists = {
                str(i) for i in self.model.objects.filter(id__in=rest).values_list("id", flat=True)
            }
            deleted = {
                str(i)
                for i in Tombstone.objects.filter(
                    entity=self.entity, record_id__in=rest
                ).values_list("record_id", flat=True)
            }
            for crm_id in rest:
                if crm_id not in self.linked:
                    # An item naming a record this mailbox never held: whether that record
                    # exists (elsewhere, or deleted) is none of its business, as if no record.
                    continue
                if crm_id in exists:
                    found[crm_id] = Absence.OUT_OF_SCOPE
                elif crm_id in deleted:
                    found[crm_id] = Absence.DELETED
        return {i: found.get(_uuid_or_none(i) or "", Absence.MISSING) for i in ids}

    def _writable(self, ids: Sequence[str]) -> list[str]:
        qs = self.model.objects.filter(id__in=list(ids))
        return [
            str(i)
            for i in security.restrict(qs, self.owner, security.Action.WRITE).values_list(
                "id", flat=True
            )
        ]

    # -- reading Exchange --------------------------------------------------------------------
    def _belongs(self, item: RemoteItem) -> bool:
        """Whether a listed item is this entity's (a folder holds several: see item_entity)."""
        if self.folder == "contacts":
            return True
        return item_entity(self.folder, item.fields) == self.entity

    def _remote(self, item: RemoteItem) -> Remote:
        return Remote(
            item.item_id,
            item.change_key,
            _uuid_or_none(item.crm_id) if item.crm_id else None,
            self.ef.values(item.fields),
            tuple(item.categories),
            item.modified.timestamp() if item.modified else None,
        )

    def _changes(self, sync_state: str) -> _Listing:
        """The change list since `sync_state`, or the folder listed again."""
        state = sync_state or None
        try:
            return self._read_pages(state)
        except ConnectorError as exc:
            if exc.code != INVALID_SYNC_STATE or state is None:
                raise
            return self._read_pages(None)  # the server forgot us: list everything again

    def _read_pages(self, state: str | None) -> _Listing:
        self.listed_new: set[str] = set()
        listing = _Listing([], [], state or "", full=state is None)
        for page in self.connector.list_changes(self.folder, state):  # type: ignore[arg-type]
            listing.items.extend(i for i in page.created + page.updated if self._belongs(i))
            self.listed_new.update(i.item_id for i in page.created)
            listing.deleted.extend(page.deleted)
            listing.new_state = page.sync_state
            listing.partial = listing.partial or page.partial
        return listing

    def _read_items(self, ids: list[str]) -> tuple[list[RemoteItem], list[str]]:
        """Items by id, and the ids the server does not find (deleted)."""
        got: list[RemoteItem] = []
        gone: list[str] = []
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            answers = self.connector.get_items(self.folder, chunk, self.columns)  # type: ignore[arg-type]
            for answer in answers:
                if isinstance(answer, RemoteItem):
                    got.append(answer)
                elif answer.error_code == NOT_FOUND and answer.item_id:
                    gone.append(answer.item_id)
        return got, gone

    def _read(self, ids: list[str]) -> tuple[list[Remote], list[str]]:
        got, gone = self._read_items(ids)
        return [self._remote(i) for i in got], gone

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
        self.scope = self._scope()
        light = {
            str(crm_id): (pk, item_id, change_key, link_state)
            for pk, crm_id, item_id, change_key, link_state in SyncLink.objects.filter(
                owner=self.owner, entity=self.entity
            ).values_list("pk", "crm_id", "item_id", "change_key", "state")
        }
        by_item = {v[1]: k for k, v in light.items()}
        self.linked = set(light)
        crm = self._crm_side(state, cursor, light)
        seen = self._exchange_side(state, light, by_item)
        self._reread_failed(state, light, seen)
        revisit = bool(light) and fingerprint != state.rules_fingerprint
        records = self._records(light, by_item, crm, seen, rules, revisit)
        if revisit and not self.dry_run:
            # Before planning: a run the guard stops must not leave values in clear either.
            self._reseal(rules)
        active = sum(1 for v in light.values() if v[3] == LinkState.ACTIVE)
        plan = plan_sync(
            records,
            rules,
            engine_policy(self.policy_row),
            synced_items=active,
            confirmed=state.guard_confirmed,
            writable=self._writable,
        )
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

    def _crm_side(
        self, state: MailboxSyncState, cursor: int, light: dict[str, tuple]
    ) -> dict[str, CrmSide | Absence]:
        """The CRM side: changes since the cursor, records entering or leaving the scope."""
        in_scope = {str(i) for i in self.scope.values_list("id", flat=True)}
        crm: dict[str, CrmSide | Absence] = dict(
            self._load(self.scope.filter(change_number__gt=cursor))
        )
        synced = {k for k, v in light.items() if v[3] != LinkState.SUSPENDED}
        fresh = (in_scope - synced - set(crm)) | (set(state.retry_ids) & in_scope - set(crm))
        if fresh:
            crm.update(self._load(self.scope.filter(id__in=list(fresh))))
        for crm_id in Tombstone.objects.filter(
            entity=self.entity, change_number__gt=cursor
        ).values_list("record_id", flat=True):
            crm_id = str(crm_id)
            if crm_id in light:
                crm[crm_id] = Absence.DELETED
        for crm_id, (_, _, _, link_state) in light.items():
            if crm_id not in in_scope and crm_id not in crm and link_state == LinkState.ACTIVE:
                crm[crm_id] = Absence.OUT_OF_SCOPE
        return crm

    def _exchange_side(
        self, state: MailboxSyncState, light: dict[str, tuple], by_item: dict[str, str]
    ) -> _Seen:
        """The Exchange side: the change list since the saved sync state."""
        listing = self._changes(state.remote_sync_state)
        # Items this sync created after the state the list starts from come back as created;
        # one that does not was deleted before it could be listed.
        unconfirmed = UnconfirmedItems.objects.filter(owner=self.owner, entity=self.entity)
        listing.vanished = list(
            dict.fromkeys(i for ids in unconfirmed.values_list("item_ids", flat=True) for i in ids)
        )
        self._unlisted(listing, [v[1] for v in light.values() if v[1]])
        # Our own writes come back in the change list: same change key, nothing new.
        remote = [
            self._remote(i)
            for i in listing.items
            if not (
                i.item_id in by_item
                and light[by_item[i.item_id]][2] == i.change_key
                and light[by_item[i.item_id]][3] == LinkState.ACTIVE
            )
        ]
        return _Seen(
            listing.items,
            listing.deleted,
            listing.new_state,
            listing.vanished,
            remote,
            unconfirmed,
        )

    def _unlisted(self, listing: _Listing, known: list[str]) -> None:
        """What the listing leaves out. Of a full listing, the known items it does not list are
        gone; and so are, of any listing, the unconfirmed ones (`listing.vanished`). A partial
        listing (a calendar window) leaves out items that still exist: those are read by id,
        one batched GET each (Graph: a $batch request per 20), and only the ones the server
        does not find count as gone. The ones found join the listing (compared by change key,
        as any listed item: an item moved out of the window in Outlook brings its change)."""
        listed = {i.item_id for i in listing.items}
        left_out = [i for i in known if i not in listed] if listing.full else []
        vanished = [i for i in listing.vanished if i not in listed]
        if listing.partial:
            found, gone = self._read_items(sorted(set(left_out + vanished)))
            listing.items += [i for i in found if self._belongs(i)]
            missing = set(gone)
            left_out = [i for i in left_out if i in missing]
            vanished = [i for i in vanished if i in missing]
        if listing.full:
            listing.deleted = list(dict.fromkeys(listing.deleted + left_out))
        listing.vanished = vanished

    def _reread_failed(self, state: MailboxSyncState, light: dict[str, tuple], seen: _Seen) -> None:
        """The items whose write failed last run, as they are now. The change list has moved
        past them (it may even have reported the edit that made the write fail), so their
        status no longer tells what they hold: deciding from it would fail again for good and
        lose the Outlook edit."""
        want = {i.removeprefix(_ITEM) for i in state.retry_ids if i.startswith(_ITEM)}
        want.update(light[i][1] for i in state.retry_ids if i in light and light[i][1])
        want -= {r.item_id for r in seen.remote}
        if not want:
            return
        listed = [i for i in seen.items if i.item_id in want]
        seen.remote += [self._remote(i) for i in listed]
        want -= {i.item_id for i in listed}
        got, gone = self._read(sorted(want))
        seen.remote += got
        seen.deleted += gone

    def _records(
        self,
        light: dict[str, tuple],
        by_item: dict[str, str],
        crm: dict[str, CrmSide | Absence],
        seen: _Seen,
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
        links = self._links(touched & set(light))
        if revisit:
            # Private values are kept as digests: a field that stops being `none` needs the item,
            # and so does one the owner may read again (its Outlook value was sealed too).
            present = {r.item_id for r in seen.remote}
            need = {link.item_id for link in links if needs_reading(link, rules)} - present
            seen.remote += [self._remote(i) for i in seen.items if i.item_id in need]
            need -= {i.item_id for i in seen.items}
            got, gone = self._read(sorted(need))
            seen.remote += got
            seen.deleted += gone
            # CRM values sealed while the owner could not read them: read the records again.
            again = {link.crm_id for link in links if sealed_crm(link, rules)} - set(crm)
            if again:
                crm.update(self._load(self.scope.filter(id__in=sorted(again))))
        records = gather(
            links=links,
            crm=crm,
            remote_changed=seen.remote,
            remote_deleted=seen.deleted,
            unconfirmed=seen.vanished,
            revisit=revisit,
            lookup=self._lookup,
        )
        return [unseal(r, digest) for r in records]

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
            crm_change_numbers=self.change_numbers,
            cursor=cursor,
        )
        sink.listed_new = self.listed_new
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            if self.progress is not None:
                self.progress(self.entity, done, len(plan.records))

        applied = apply_plan(plan, sink, batch_size=self.batch_size, progress=step)
        failed = [str(p.crm_id or p.item_id) for p, _ in applied.failed] + sink.stale
        report.failed = failed + sink.invalid
        # The next run reads these items again (see _reread_failed).
        self.failed_items = [f"{_ITEM}{p.item_id}" for p, _ in applied.failed if p.item_id]
        if failed or sink.invalid:
            report.counts = _applied_counts(plan, set(report.failed)) | {
                "items_seen": report.counts["items_seen"]
            }
        if sink.normalized:
            report.counts["conflicts"] = report.counts.get("conflicts", 0) + sink.normalized
        return sink, failed

    def _save_state(
        self,
        state: MailboxSyncState,
        seen: _Seen,
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
        # Failed records are retried; normalized ones are decided again from what the server
        # holds (the change list will not report them: the change was the sync's own write).
        again = dict.fromkeys([*failed, *sink.revisit])
        state.retry_ids = [i for i in again if _uuid_or_none(i)] + self.failed_items
        state.guard_reason = ""
        state.guard_confirmed = False
        state.last_run_on = timezone.now()
        with transaction.atomic():
            state.save()
            # The saved state now covers what this run listed; only its own creates are newer.
            seen.unconfirmed.filter(
                Q(run_started__lt=sink.run_started) | Q(created_by_sync=False)
            ).delete()

    def _reseal(self, rules: Rules) -> None:
        """After the owner's rights changed (or an upgrade changed what statuses seal): statuses
        still holding values of a field the owner may no longer read, the CRM's or the
        mailbox's, keep them only as digests from now on."""
        if all(r.can_read for r in rules.fields.values()):
            return
        blanks = self.ef.blanks
        rows = []
        for link in SyncLink.objects.filter(owner=self.owner, entity=self.entity).iterator():
            status = Link(
                str(link.crm_id),
                link.item_id,
                link.change_key,
                LinkState(link.state),
                decode_base(link.base, blanks),
            )
            sealed = seal_unreadable(status, rules, digest)
            if sealed is not status:
                link.base = encode_base(sealed.base, blanks)
                rows.append(link)
        SyncLink.objects.bulk_update(rows, ["base"], batch_size=500)

    def _links(self, crm_ids: set[str]) -> list[Link]:
        if not crm_ids:
            return []
        blanks = self.ef.blanks
        qs = SyncLink.objects.filter(owner=self.owner, entity=self.entity)
        if len(crm_ids) < 5000:
            qs = qs.filter(crm_id__in=list(crm_ids))
        return [
            Link(str(crm_id), item_id, change_key, LinkState(link_state), decode_base(base, blanks))
            for crm_id, item_id, change_key, link_state, base in qs.values_list(
                "crm_id", "item_id", "change_key", "state", "base"
            )
            if str(crm_id) in crm_ids
        ]


def _applied_counts(plan: Plan, failed: set[str]) -> dict[str, int]:
    kept = tuple(p for p in plan.records if str(p.crm_id or p.item_id) not in failed)
    return Plan(kept).count()
