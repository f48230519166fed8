"""The sync engine's data: the organization's sync policy, the link (status) between each CRM
record and its mailbox item, per-mailbox sync state, and the conflicts and rejected changes.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from fieldsync.engine.model import ConflictPolicy, LinkState, Outcome, RemoteDeletePolicy


class SyncFilter(models.TextChoices):
    DEFAULT = "default", "Default: records the user owns (appointments: organizes or attends)"
    BUSINESS_UNIT = "business_unit", "Records of the user's business unit the user may read"
    ALL = "all", "All records the user may read"


MASS_CHANGE_PERCENT_MESSAGE = "The mass-change threshold must be a whole percentage from 1 to 100."
TRACKED_CATEGORY_MESSAGE = (
    "Enter the Outlook category that marks an item to track (for example “Tracked to CRM”)."
)


class SyncPolicy(models.Model):
    """The organization's sync settings: one row (id 1)."""

    conflict_policy = models.CharField(
        max_length=20,
        choices=[(p.value, p.value.replace("_", " ")) for p in ConflictPolicy],
        default=ConflictPolicy.CRM_WINS.value,
        help_text="Who wins when the same two-way field changed on both sides since the last "
        "sync. Every conflict is recorded either way.",
    )
    remote_delete_policy = models.CharField(
        max_length=20,
        choices=[
            (RemoteDeletePolicy.UNTRACK.value, "Stop syncing the record (the CRM keeps it)"),
            (RemoteDeletePolicy.RESTORE.value, "Put the item back in the mailbox"),
        ],
        default=RemoteDeletePolicy.UNTRACK.value,
        help_text="What an item deleted in Exchange/Outlook does. CRM data is never deleted.",
    )
    keep_copy_on_lost_access = models.BooleanField(
        default=False,
        help_text="When a user loses access to a record (a share is revoked, or it leaves the "
        "sync filter), keep the Outlook copy, no longer synced, instead of removing it. "
        "Appointments that vanish from Outlook after a share is revoked are the most common "
        "complaint about Dynamics' own server-side sync; turn this on if your users would "
        "rather keep them.",
    )
    tracked_category = models.CharField(
        max_length=100,
        default="Tracked to CRM",
        error_messages={"blank": TRACKED_CATEGORY_MESSAGE},
        help_text="The Outlook category that makes an item created in Outlook enter the CRM.",
    )
    mass_change_percent = models.PositiveSmallIntegerField(
        default=50,
        validators=[
            MinValueValidator(1, message=MASS_CHANGE_PERCENT_MESSAGE),
            MaxValueValidator(100, message=MASS_CHANGE_PERCENT_MESSAGE),
        ],
        help_text="A run that would remove or stop syncing more than this share of a mailbox's "
        "synced items does nothing and waits for an administrator to confirm.",
    )
    mass_change_min_items = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1, message="The guard needs at least 1 item to apply.")],
        help_text="The guard applies to mailboxes with at least this many items.",
    )
    contact_filter = models.CharField(
        max_length=20, choices=SyncFilter.choices, default=SyncFilter.DEFAULT
    )
    appointment_filter = models.CharField(
        max_length=20, choices=SyncFilter.choices, default=SyncFilter.DEFAULT
    )
    task_filter = models.CharField(
        max_length=20, choices=SyncFilter.choices, default=SyncFilter.DEFAULT
    )
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sync policy"
        verbose_name_plural = "sync policy"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="syncpolicy_single_row"),
            models.CheckConstraint(
                condition=Q(mass_change_percent__gte=1, mass_change_percent__lte=100),
                name="syncpolicy_mass_change_percent_1_100",
            ),
        ]

    def __str__(self) -> str:
        return "Organization sync policy"

    @classmethod
    def current(cls) -> SyncPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy

    def filter_for(self, entity: str) -> str:
        """The filter of an entity: the task filter covers what Outlook shows as tasks (tasks,
        phone calls, letters, faxes), the appointment filter what it shows in the calendar
        (appointments, recurring appointments, service activities)."""
        if entity == "contact":
            return self.contact_filter
        if entity in ("task", "phone_call", "letter", "fax"):
            return self.task_filter
        if entity in ("appointment", "recurring_appointment", "service_activity"):
            return self.appointment_filter
        raise KeyError(f"No sync filter for {entity!r}")


class SyncLink(models.Model):
    """The status of one CRM record in one mailbox: which item holds it, and what both sides
    looked like at the last sync, per catalog field (`base`: field -> [value] when both sides
    and the agreed value are equal, else [agreed, crm, exchange])."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=40)
    crm_id = models.UUIDField()
    item_id = models.CharField(max_length=512)
    change_key = models.CharField(max_length=256, blank=True)
    state = models.CharField(
        max_length=10,
        choices=[(s.value, s.value) for s in LinkState],
        default=LinkState.ACTIVE.value,
    )
    base = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "entity", "crm_id"], name="synclink_one_per_record"
            ),
        ]
        indexes = [models.Index(fields=["owner", "item_id"], name="synclink_item")]

    def __str__(self) -> str:
        return f"{self.entity} {self.crm_id} <-> {self.item_id[:16]}… ({self.state})"


class MailboxSyncState(models.Model):
    """Where the last complete run of one mailbox and entity left off, and the guard's state."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=40)
    remote_sync_state = models.TextField(blank=True, help_text="The connector's sync state.")
    crm_change_number = models.BigIntegerField(
        default=0, help_text="CRM changes up to this change number have been synced."
    )
    rules_fingerprint = models.TextField(
        blank=True, help_text="Directions and rights at the last run; a change revisits links."
    )
    retry_ids = models.JSONField(
        default=list, blank=True, help_text="Records whose Exchange write failed last run."
    )
    guard_reason = models.TextField(
        blank=True, help_text="Why the mass-change guard stopped the last run (empty: it did not)."
    )
    guard_tripped_on = models.DateTimeField(null=True, blank=True)
    guard_confirmed = models.BooleanField(
        default=False, help_text="An administrator confirmed: the next run goes ahead."
    )
    last_run_on = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "entity"], name="mailboxsyncstate_unique")
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.entity}: CRM change {self.crm_change_number}"


class UnconfirmedItems(models.Model):
    """Items newer than the mailbox's saved sync state: the change list reports such an item as
    created and says nothing if it is deleted first, so one that is not listed is gone. One row
    per batch, written with the batch's statuses (a crash keeps them) and cleared when a run
    completes; the items a run created stay until the next one."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=40)
    item_ids = models.JSONField(default=list)
    run_started = models.DateTimeField()
    created_by_sync = models.BooleanField(
        help_text="Created by the run (else: listed as new by it, confirmed when it completes)."
    )

    class Meta:
        verbose_name_plural = "unconfirmed items"
        indexes = [models.Index(fields=["owner", "entity"], name="unconfirmeditems_mailbox")]

    def __str__(self) -> str:
        return (
            f"{self.entity}: {len(self.item_ids)} items (run of {self.run_started:%Y-%m-%d %H:%M})"
        )


def keyed_digest(*parts: object) -> str:
    """A conflict's or rejected change's dedup key. Keyed (HMAC with the secret key): its
    parts include values of fields the mailbox owner may not read, which the row keeps only as
    keyed digests; a plain hash of them, beside the row's other columns, would let a short value
    be guessed."""
    raw = json.dumps(parts, cls=DjangoJSONEncoder, sort_keys=True, default=str)
    return hmac.new(settings.SECRET_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest()


class SyncConflict(models.Model):
    """A field changed on both sides (or a value about to be lost): the base, both values and
    the outcome, so an administrator can apply the losing value afterwards."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=40, db_index=True)
    crm_id = models.UUIDField(null=True, blank=True)
    item_id = models.CharField(max_length=512, blank=True)
    field = models.CharField(max_length=80)
    base_value = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    crm_value = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    exchange_value = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    outcome = models.CharField(max_length=10, choices=[(o.value, o.value) for o in Outcome])
    reason = models.CharField(max_length=100)
    created_on = models.DateTimeField(auto_now_add=True, db_index=True)
    resolved_on = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["-created_on", "-id"]

    def __str__(self) -> str:
        return f"{self.entity}.{self.field} on {self.crm_id}: {self.outcome} won ({self.reason})"

    @staticmethod
    def digest_of(owner_id: int, entity: str, c: object) -> str:
        return keyed_digest(
            owner_id,
            entity,
            getattr(c, "crm_id", None),
            getattr(c, "item_id", None),
            getattr(c, "field", None),
            getattr(c, "base", None),
            getattr(c, "crm_value", None),
            getattr(c, "remote_value", None),
            str(getattr(c, "outcome", "")),
        )


class RejectedChange(models.Model):
    """An Exchange value the mailbox owner was not allowed to write into the CRM."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=40, db_index=True)
    crm_id = models.UUIDField(null=True, blank=True)
    item_id = models.CharField(max_length=512)
    field = models.CharField(max_length=80, help_text='"*" for the record as a whole.')
    offered_value = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    reason = models.CharField(max_length=60)
    created_on = models.DateTimeField(auto_now_add=True, db_index=True)
    digest = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["-created_on", "-id"]

    def __str__(self) -> str:
        return f"{self.entity}.{self.field} from {self.item_id[:16]}…: {self.reason}"

    @staticmethod
    def digest_of(owner_id: int, entity: str, r: object) -> str:
        return keyed_digest(
            owner_id,
            entity,
            getattr(r, "crm_id", None),
            getattr(r, "item_id", None),
            getattr(r, "field", None),
            getattr(r, "offered", None),
            getattr(r, "reason", None),
        )
