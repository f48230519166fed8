"""The sync engine's vocabulary: what it is given (status, both sides, rules, policy) and the
plan it returns. Plain frozen dataclasses; field values are opaque hashables.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from fieldsync.directions import Direction

Value = Hashable


class _Unknown:
    """The agreed value of a field that both sides have never agreed on."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


# -- rules and policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRule:
    """One catalog field as this mailbox sees it: the direction and the owner's field rights.

    `blank` is the value of a field nobody set (on either side: the caller normalizes), and
    `crm_default` the value a new CRM record gets when the field is not set from Exchange.
    """

    direction: Direction
    can_read: bool = True
    can_create: bool = True
    can_update: bool = True
    blank: Value = ""
    crm_default: Value = ""
    # Why the CRM would refuse a value from a user ("" : it accepts it): the same rule for an
    # Outlook value, which is then a rejected change (never a record the CRM cannot edit).
    check: Callable[[Value], str] | None = field(default=None, compare=False, repr=False)
    # Derived once: the decision step asks these for every field of every record.
    sends: bool = field(init=False, repr=False, compare=False)
    accepts: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # sends: CRM values may be written to Exchange; accepts: the direction takes Exchange
        # values into the CRM (the owner's rights are checked apart).
        object.__setattr__(self, "sends", self.direction.sends_to_outlook and self.can_read)
        object.__setattr__(self, "accepts", self.direction.accepts_from_outlook)


@dataclass(frozen=True)
class Rules:
    """Per-field rules for one entity, plus the owner's right to create records of it."""

    fields: Mapping[str, FieldRule]
    can_create_entity: bool = True
    # An entity written to the mailbox only (service activities): an item made in Outlook is
    # left there and never becomes a record. Not the owner's right: no rejected change.
    one_way: bool = False

    @cached_property
    def blank_bases(self) -> dict[str, FieldBase]:
        """Per field, the status of a field blank on both sides (shared: the most common one)."""
        return {n: FieldBase(r.blank, r.blank, r.blank) for n, r in self.fields.items()}

    @cached_property
    def private(self) -> tuple[str, ...]:
        """The `none` fields: their Exchange values are private to the mailbox."""
        return tuple(n for n, r in self.fields.items() if r.direction == Direction.NONE)

    def fingerprint(self) -> str:
        """Changes whenever a direction or a right changes: the caller then revisits links."""
        parts = [
            f"{name}:{r.direction.value}:{int(r.can_read)}{int(r.can_create)}{int(r.can_update)}"
            for name, r in sorted(self.fields.items())
        ]
        return f"{int(self.can_create_entity)}|" + ",".join(parts)


class ConflictPolicy(StrEnum):
    CRM_WINS = "crm_wins"
    EXCHANGE_WINS = "exchange_wins"
    LATEST_WINS = "latest_wins"


class RemoteDeletePolicy(StrEnum):
    """What an item deleted in Exchange does. Neither choice deletes CRM data."""

    UNTRACK = "untrack"  # the record stops syncing to this mailbox
    RESTORE = "restore"  # the CRM puts the item back


@dataclass(frozen=True)
class Policy:
    conflict: ConflictPolicy = ConflictPolicy.CRM_WINS
    remote_delete: RemoteDeletePolicy = RemoteDeletePolicy.UNTRACK
    keep_copy_on_lost_access: bool = False
    tracked_category: str = "Tracked to CRM"  # matched whatever its case, as Outlook does
    # The guard trips when a run would end more than this share of the synced items...
    mass_change_share: float = 0.5
    # ... but only in a mailbox with at least this many synced items.
    mass_change_min_items: int = 10


def tracked(remote: Remote, policy: Policy) -> bool | None:
    """Whether an item carries the tracked category, whatever the case of its name (Outlook
    treats "tracked to crm" and "Tracked to CRM" as one category); None: its categories were
    not read, or the organization tracks no category."""
    if remote.categories is None or not policy.tracked_category:
        return None
    wanted = policy.tracked_category.casefold()
    return any(c.casefold() == wanted for c in remote.categories)


def refused(rule: FieldRule, value: Value) -> str:
    """Why the CRM refuses `value` for this field ("" when it accepts it; a blank always)."""
    if rule.check is None or value is None or value == rule.blank:
        return ""
    return rule.check(value)


@dataclass(frozen=True)
class Sealed:
    """A value the status keeps only as a digest: enough to see it did not change, never
    enough to decide with. `secured`: a value of a field the mailbox owner may not read (any
    side; the merge opens it again where a side still holds that value); otherwise an Exchange
    value of a `none` field, private to the mailbox, which stays sealed until the item is read
    again."""

    digest: str
    secured: bool = False


# -- status (what both sides looked like at the last sync) ---------------------------------------


@dataclass(frozen=True, slots=True)
class FieldBase:
    """One field at the end of the last sync: the value both sides last agreed on (or
    UNKNOWN), and what each side held. Changes are detected against `agreed`; the side values
    let an unchanged side be known without reading it again."""

    agreed: Value
    crm: Value
    remote: Value

    @classmethod
    def same(cls, value: Value) -> FieldBase:
        return cls(value, value, value)


class LinkState(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # the owner lost access; the mailbox copy was kept, unsynced
    UNTRACKED = "untracked"  # deleted in Exchange; the CRM record stays, no longer synced


@dataclass(frozen=True)
class Link:
    """The status of one CRM record in one mailbox."""

    crm_id: str
    item_id: str
    change_key: str
    state: LinkState = LinkState.ACTIVE
    base: Mapping[str, FieldBase] = field(default_factory=dict)


# -- the two sides now ---------------------------------------------------------------------------


class Absence(StrEnum):
    """Why a CRM record is not there for this mailbox."""

    DELETED = "deleted"
    OUT_OF_SCOPE = "out_of_scope"  # exists, but the owner may not read it or it left the filter
    MISSING = "missing"  # no such record and no tombstone


@dataclass(frozen=True)
class CrmSide:
    values: Mapping[str, Value]
    modified: float | None = None  # a timestamp, for latest_wins
    writable: bool = True  # the owner may write this record (record-level security)


@dataclass(frozen=True)
class Remote:
    item_id: str
    change_key: str
    crm_id: str | None
    values: Mapping[str, Value]
    # None: not read (a side taken from the status, or a client that does not send them).
    categories: tuple[str, ...] | None = None
    modified: float | None = None


@dataclass(frozen=True)
class RecordInput:
    """Everything the decision step needs about one record: status, CRM side, Exchange side."""

    crm_id: str | None
    link: Link | None
    crm: CrmSide | Absence
    remote: Remote | None  # None: deleted in Exchange, or never there


# -- the plan ------------------------------------------------------------------------------------


class Outcome(StrEnum):
    CRM = "crm"
    EXCHANGE = "exchange"
    NONE = "none"  # neither value could be applied: both sides keep theirs


@dataclass(frozen=True)
class Conflict:
    """A value that lost: kept here with the base and both values, so it can be applied later."""

    crm_id: str | None
    item_id: str | None
    field: str
    base: Value
    crm_value: Value
    remote_value: Value
    outcome: Outcome
    reason: str  # the policy, the direction, or the record-level event that decided


@dataclass(frozen=True)
class Rejected:
    """An Exchange value the owner was not allowed to write into the CRM."""

    crm_id: str | None
    item_id: str
    field: str
    offered: Value
    reason: str


class RejectReason(StrEnum):
    NO_UPDATE = "no_update_permission"
    NO_READ = "no_read_permission"  # Outlook edits never overwrite a value the owner cannot see
    NO_WRITE = "no_record_write_permission"
    NO_FIELD_CREATE = "no_field_create_permission"
    NO_CREATE = "no_create_permission"
    INVALID = "invalid_value"  # the CRM refuses the value itself (a user's edit would be a 400)


class RecordEvent(StrEnum):
    """Record-level events, for reports."""

    MERGED = "merged"
    CREATED_IN_EXCHANGE = "created_in_exchange"
    CREATED_IN_CRM = "created_in_crm"
    ADOPTED = "adopted"  # an item found by the CRM id it carries
    DELETED_IN_EXCHANGE = "deleted_in_exchange"  # the CRM record was deleted
    REMOVED_LOST_ACCESS = "removed_lost_access"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    UNTRACKED = "untracked"
    RESTORED = "restored"
    DROPPED = "dropped"  # both sides gone
    CREATE_REFUSED = "create_refused"
    NOT_IMPORTED = "not_imported"  # an Outlook item of a one-way entity: stays in Outlook
    IGNORED = "ignored"


@dataclass(frozen=True)
class RecordPlan:
    """What to do for one record. Apply order: remote create/update/delete, then CRM writes and
    the new status (`status` None means: forget the link)."""

    crm_id: str | None
    item_id: str | None
    change_key: str | None
    event: RecordEvent
    remote_create: Mapping[str, Value] | None = None
    remote_categories: tuple[str, ...] = ()
    remote_update: Mapping[str, Value] = field(default_factory=dict)
    stamp_crm_id: bool = False
    remote_delete: bool = False
    crm_create: Mapping[str, Value] | None = None
    crm_update: Mapping[str, Value] = field(default_factory=dict)
    conflicts: tuple[Conflict, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    status: Link | None = None
    status_changed: bool = True
    ends_sync: bool = False  # an active link stops syncing (counted by the mass-change guard)

    @property
    def has_remote_write(self) -> bool:
        return (
            self.remote_create is not None
            or bool(self.remote_update)
            or self.stamp_crm_id
            or self.remote_delete
        )

    @property
    def has_crm_write(self) -> bool:
        return self.crm_create is not None or bool(self.crm_update)

    @property
    def is_noop(self) -> bool:
        return not (
            self.has_remote_write
            or self.has_crm_write
            or self.conflicts
            or self.rejected
            or self.status_changed
            or self.event == RecordEvent.NOT_IMPORTED  # reported: the user is told why
        )


@dataclass(frozen=True)
class GuardTrip:
    """Why a run did nothing: it would have ended too many synced items at once."""

    ending: int
    synced: int
    reason: str


@dataclass(frozen=True)
class Plan:
    records: tuple[RecordPlan, ...]
    guard: GuardTrip | None = None

    def batches(self, size: int) -> Iterator[tuple[RecordPlan, ...]]:
        for start in range(0, len(self.records), size):
            yield self.records[start : start + size]

    def count(self) -> dict[str, int]:
        """Figures for a report: what goes where."""
        r = self.records
        return {
            "exchange_created": sum(p.remote_create is not None for p in r),
            "exchange_updated": sum(bool(p.remote_update) for p in r),
            "exchange_deleted": sum(p.remote_delete for p in r),
            "crm_created": sum(p.crm_create is not None for p in r),
            "crm_updated": sum(bool(p.crm_update) for p in r),
            "untracked": sum(p.event == RecordEvent.UNTRACKED for p in r),
            "suspended": sum(p.event == RecordEvent.SUSPENDED for p in r),
            "conflicts": sum(len(p.conflicts) for p in r),
            "rejected": sum(len(p.rejected) for p in r),
        }

    @property
    def conflicts(self) -> list[Conflict]:
        return [c for p in self.records for c in p.conflicts]

    @property
    def rejected(self) -> list[Rejected]:
        return [x for p in self.records for x in p.rejected]
