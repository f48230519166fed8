"""Data of the Outlook client path (REST): each client's copy of one entity, the record values
served at each version (the base of the three-way merge) and the idempotency keys of batches.

No value of a field under field security rests here in clear, whoever the user: versions and
stored answers keep such values only as keyed digests (fieldsync/client/sealing.py).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class ClientSyncSession(models.Model):
    """One client's local copy of one entity (an add-in install, a folder): created by an
    initial sync, named by every cursor it hands out.

    `seq` numbers the pages handed out; `acked_seq` is the newest page the client proved it
    received (by presenting its cursor). Pages after it may have been lost and are undone when
    an older cursor comes back, so a retry sees the same removals and new records again.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    entity = models.CharField(max_length=40)
    seq = models.BigIntegerField(default=0)
    acked_seq = models.BigIntegerField(default=0)
    # The SyncRun that the pages of the current pass (until has_more is false) add up into.
    run_id = models.BigIntegerField(null=True, blank=True)
    created_on = models.DateTimeField(auto_now_add=True)
    last_seen_on = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "entity"], name="clientsession_owner")]

    def __str__(self) -> str:
        return f"{self.owner} {self.entity} client {str(self.id)[:8]} (page {self.seq})"


class ClientSyncItem(models.Model):
    """A record the client holds (it was sent to it), so that leaving the scope is noticed even
    when the record itself did not change (a share revoked, a role changed)."""

    session = models.ForeignKey(ClientSyncSession, on_delete=models.CASCADE, related_name="items")
    crm_id = models.UUIDField()
    added_seq = models.BigIntegerField()
    removed_seq = models.BigIntegerField(null=True, blank=True)
    # Deleted in the client under the "stop syncing" policy: the CRM keeps it, the client no
    # longer gets it.
    untracked = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "crm_id"], name="clientsyncitem_unique")
        ]

    def __str__(self) -> str:
        return f"{self.crm_id} held by {self.session_id}"


class ClientRecordVersion(models.Model):
    """The catalog field values of one record at one change number, as served to a client.

    A client's change names the version it last saw; these values are the "agreed" side of
    the engine's three-way merge, so a field the CRM changed since is told from one it did not.
    The row is shared by every user the version was served to: a field with a secured column
    is kept only as a keyed digest ({"#": ...}), which is all a base needs (did it change?).
    """

    entity = models.CharField(max_length=40)
    crm_id = models.UUIDField()
    change_number = models.BigIntegerField()
    values = models.JSONField(encoder=DjangoJSONEncoder)
    served_on = models.DateTimeField(auto_now_add=True, db_index=True)
    # The fingerprint of the secured fields sealed in `values` ("": written before sealing): a
    # row whose fingerprint is not the entity's current one is sealed again.
    sealed = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["entity", "crm_id", "change_number"], name="clientrecordversion_unique"
            )
        ]
        indexes = [models.Index(fields=["entity", "sealed"], name="clientrecordversion_sealed")]

    def __str__(self) -> str:
        return f"{self.entity} {self.crm_id} at change {self.change_number}"


class ClientBatch(models.Model):
    """A batch of client changes by its Idempotency-Key: the request's keyed hash and the answer
    given, so a retry gets the same answer and changes nothing. The answer keeps the values of
    secured columns only as keyed digests; a replay gives them back where the caller may still
    read them and the record still holds them."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response = models.JSONField(null=True, encoder=DjangoJSONEncoder)
    created_on = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="clientbatch_owner_key")
        ]

    def __str__(self) -> str:
        return f"batch {self.key} of {self.owner}"
