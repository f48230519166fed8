"""The security matrix through a real sync: every direction x every field right x every kind
of record access, one cell each, asserting what reaches Exchange and what reaches the CRM.

The rules the cells check (README, Sync rules):
- a value reaches Exchange only if the record is visible, the direction sends it and the owner
  may read the field; a secured value the owner may not read never appears in the mailbox;
- an Exchange edit reaches the CRM only if the direction accepts it, the owner may update the
  field and may write the record; refused for rights, it is a RejectedChange; not accepted by
  the direction, it is simply not taken (no record of it);
- what the sync stores (the status of the last sync, conflicts, rejected changes, runs: any
  row of its tables) holds no value of a field the owner may not read in clear, neither the
  CRM's nor the mailbox's own (which may be the CRM's, synced before the right went).
"""

from __future__ import annotations

import itertools

import pytest
from django.apps import apps
from django.core import serializers

from crm.models import Contact
from fieldsync.models.sync import RejectedChange, SyncPolicy
from fieldsync.service.sync import sync_mailbox

from .mailboxes import MemoryMailbox

pytestmark = pytest.mark.django_db

DIRECTIONS = ("both", "to_outlook", "to_crm", "none")
FIELD_RIGHTS = {
    "no_rights": (),
    "read_only": ("read",),
    "read_update": ("read", "create", "update"),
}
ACCESS = ("own", "shared_read", "shared_write", "not_shared")
COLUMN = "job_title"  # a catalog row that allows all four directions


def stored_by_the_sync() -> str:
    """Every row of the sync's own tables, as text: what an administrator, a backup or a
    change log of those tables sees."""
    return "".join(
        serializers.serialize("json", model.objects.all())
        for model in apps.get_app_config("fieldsync").get_models()
    )


@pytest.mark.parametrize(
    ("direction", "rights", "access"), list(itertools.product(DIRECTIONS, FIELD_RIGHTS, ACCESS))
)
def test_cell(direction, rights, access, sally, admin, make_user, secure, set_direction):
    from security.services import share_record

    SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    set_direction("contact", COLUMN, direction)
    secure("contact", COLUMN, *FIELD_RIGHTS[rights])
    owner = sally if access == "own" else make_user("bob")
    record = Contact.objects.create(
        owner=owner, first_name="Ann", last_name="Lee", job_title="CRM-1"
    )
    if access.startswith("shared"):
        share = ["sync", "write"] if access == "shared_write" else ["sync"]
        share_record(record=record, user_or_team=sally, rights=share, actor=admin)
    mailbox = MemoryMailbox()

    def sync() -> None:
        sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])

    def copy():  # the mailbox's copy of the record, if any
        found = [v for i, v in mailbox.items("contacts").items() if v.crm_id == str(record.pk)]
        assert len(found) <= 1, "one record, one item"
        return (next(iter(mailbox.items("contacts"))), found[0]) if found else (None, None)

    sync()
    item_id, view = copy()
    visible = access != "not_shared"
    readable = "read" in FIELD_RIGHTS[rights]
    assert (view is not None) == visible
    if not visible:
        assert mailbox.items("contacts") == {}
        return
    sends = direction in ("both", "to_outlook") and readable
    assert view.fields.get(COLUMN) == ("CRM-1" if sends else ""), "what reached Exchange"
    if not readable:
        assert "CRM-1" not in str(mailbox.items("contacts")), "a secured value left the CRM"

    mailbox.edit("contacts", item_id, **{COLUMN: "OUT-2"})
    sync()
    record.refresh_from_db()
    accepts = direction in ("both", "to_crm")
    may_write = "update" in FIELD_RIGHTS[rights] and access in ("own", "shared_write")
    assert record.job_title == ("OUT-2" if accepts and may_write else "CRM-1"), (
        "what reached the CRM"
    )
    rejected = RejectedChange.objects.filter(crm_id=record.pk)
    assert rejected.exists() == (accepts and not may_write), "a refused edit is recorded"
    if not readable:
        assert "CRM-1" not in str(mailbox.items("contacts")), "a secured value left the CRM"
        stored = stored_by_the_sync()
        assert "CRM-1" not in stored and "OUT-2" not in stored, "the sync stored it in clear"
        # The stored status still notices the next Outlook edit, and refuses it again.
        mailbox.edit("contacts", item_id, **{COLUMN: "OUT-3"})
        sync()
        record.refresh_from_db()
        assert record.job_title == "CRM-1"
        assert RejectedChange.objects.filter(crm_id=record.pk).count() == (2 if accepts else 0)
        stored = stored_by_the_sync()
        assert not any(v in stored for v in ("CRM-1", "OUT-2", "OUT-3"))


def test_a_status_kept_in_clear_by_an_earlier_version_is_sealed_on_the_first_run(
    sally, secure, set_direction
):
    """An earlier version kept the mailbox's own value of an unreadable field in clear (here
    the CRM's secured value itself, synced before the read right went) and saved its rules
    fingerprint without the status format. The first run after the upgrade seals it."""
    from fieldsync.models.sync import MailboxSyncState, SyncLink

    SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    set_direction("contact", COLUMN, "both")
    record = Contact.objects.create(owner=sally, last_name="Lee", job_title="CRM-1")
    mailbox = MemoryMailbox()
    sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    secure("contact", COLUMN)  # sally may no longer read it
    sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    link = SyncLink.objects.get(crm_id=record.pk)
    agreed, crm = link.base[COLUMN][0], link.base[COLUMN][-1]
    link.base[COLUMN] = [agreed, crm, "CRM-1"]  # as the earlier version stored it
    link.save()
    state = MailboxSyncState.objects.get(owner=sally, entity="contact")
    state.rules_fingerprint = state.rules_fingerprint.split(":", 1)[1]
    state.save()
    assert "CRM-1" in stored_by_the_sync()

    sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    assert "CRM-1" not in stored_by_the_sync()
    assert not RejectedChange.objects.exists(), "the Outlook value did not change"
    record.refresh_from_db()
    assert record.job_title == "CRM-1"


@pytest.mark.parametrize("rights", ["no_rights", "read_only"])
def test_verify_after_an_outlook_edit_keeps_no_secured_value(rights, sally, secure, set_direction):
    """Verify compares both sides and keeps its report (with the values of each difference)
    among the sync's tables: a field the owner may not read, or not update, differs by field
    security, never as drift with its two values, after the read right went and an Outlook edit
    was refused."""
    from fieldsync.service.verify import verify_mailbox

    SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    set_direction("contact", COLUMN, "both")
    record = Contact.objects.create(owner=sally, last_name="Lee", job_title="CRM-1")
    mailbox = MemoryMailbox()
    sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    secure("contact", COLUMN, *FIELD_RIGHTS[rights])  # the read right (or update) went
    (item_id,) = mailbox.items("contacts")
    mailbox.edit("contacts", item_id, **{COLUMN: "OUT-2"})
    sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    (report,) = verify_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    assert report.drift == []
    # Read-only: the refused edit was put back in Outlook, so both sides agree again.
    assert report.explained.get("field_security", 0) == (1 if rights == "no_rights" else 0)
    record.refresh_from_db()
    assert record.job_title == "CRM-1"
    stored = stored_by_the_sync()
    if rights == "no_rights":
        assert "CRM-1" not in stored and "OUT-2" not in stored
