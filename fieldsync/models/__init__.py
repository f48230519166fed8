"""The fieldsync app's data, one module per feature: fields.py (the Synchronized fields settings
and their audit), policy.py (the sync policy's audit), sync.py (the sync engine's data: policy,
links, state, conflicts, rejected changes), mailboxes.py (server profiles, mailboxes, runs) and
client.py (the Outlook client path). Every model is re-exported here, so the app label, the table
names and the migration history are those of the former single models.py.

Models hold data and invariants only; they may import the engine's enums, the catalog and the
directions, nothing else of fieldsync.
"""

from fieldsync.models.client import (
    ClientBatch,
    ClientRecordVersion,
    ClientSyncItem,
    ClientSyncSession,
)
from fieldsync.models.fields import DirectionChange, EntitySyncSettings, FieldMapping
from fieldsync.models.mailboxes import EmailServerProfile, Mailbox, SyncRun, VerifyReport
from fieldsync.models.policy import SyncPolicyChange
from fieldsync.models.sync import (
    MailboxSyncState,
    RejectedChange,
    SyncConflict,
    SyncLink,
    SyncPolicy,
    UnconfirmedItems,
)

__all__ = [
    "ClientBatch",
    "ClientRecordVersion",
    "ClientSyncItem",
    "ClientSyncSession",
    "DirectionChange",
    "EmailServerProfile",
    "EntitySyncSettings",
    "FieldMapping",
    "Mailbox",
    "MailboxSyncState",
    "RejectedChange",
    "SyncConflict",
    "SyncLink",
    "SyncPolicy",
    "SyncPolicyChange",
    "SyncRun",
    "UnconfirmedItems",
    "VerifyReport",
]
