"""The digests the server-side sync keeps of values its owner may not read (the status, the
rejected changes) tell a change of one record's value, never that two records hold the same
value: whoever reads the sync's tables and knows one record's secured value must not learn
which other records hold it too (a shared code, a salary band). The Outlook client path salts
its digests with the record likewise (fieldsync/client/sealing.py)."""

from __future__ import annotations

import json

import pytest

from crm.models import Contact
from fieldsync.models.sync import RejectedChange, SyncConflict, SyncLink, SyncPolicy
from fieldsync.service.sync import sync_mailbox
from fieldsync.service.values import digest

from .mailboxes import MemoryMailbox

pytestmark = pytest.mark.django_db


def _digests(value) -> set[str]:
    """Every digest ({"#": ...}) anywhere in a stored JSON value."""
    found: set[str] = set()
    if isinstance(value, dict):
        if "#" in value:
            found.add(value["#"])
        for v in value.values():
            found |= _digests(v)
    elif isinstance(value, list):
        for v in value:
            found |= _digests(v)
    return found


@pytest.fixture
def world(sally, secure, set_direction):
    SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    set_direction("contact", "job_title", "both")
    secure("contact", "job_title")  # sally may not read it
    ann = Contact.objects.create(owner=sally, last_name="Lee", job_title="Band 7")
    bob = Contact.objects.create(owner=sally, last_name="Ray", job_title="Band 7")
    mailbox = MemoryMailbox()
    return ann, bob, mailbox


def test_equal_secured_values_of_two_records_do_not_show_as_equal_digests(sally, world):
    ann, bob, mailbox = world

    def sync() -> None:
        sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])

    sync()
    for item_id in mailbox.items("contacts"):
        mailbox.edit("contacts", item_id, job_title="Band 9")  # refused: she may not read it
    sync()
    statuses = {
        str(link.crm_id): _digests(link.base) for link in SyncLink.objects.filter(owner=sally)
    }
    assert statuses[str(ann.pk)] and statuses[str(bob.pk)]
    assert not statuses[str(ann.pk)] & statuses[str(bob.pk)], "comparable across records"
    offered = {str(r.crm_id): _digests(r.offered_value) for r in RejectedChange.objects.all()}
    assert offered[str(ann.pk)] and not offered[str(ann.pk)] & offered[str(bob.pk)]
    stored = json.dumps([list(statuses.values()), list(offered.values())], default=list)
    assert "Band" not in stored
    # The statuses still notice the next Outlook edit of one record, and only of that one.
    (first, _) = mailbox.items("contacts")
    mailbox.edit("contacts", first, job_title="Band 3")
    sync()
    assert RejectedChange.objects.count() == 3
    for record in (ann, bob):
        record.refresh_from_db()
        assert record.job_title == "Band 7"


def test_a_status_sealed_before_digests_were_salted_still_opens_and_is_salted_when_synced(
    sally, world
):
    """Statuses kept by the release before salting: a run still opens them (no Outlook edit is
    seen where there was none, no CRM value is taken for changed), and the status of a record
    the run syncs is kept salted from then on."""
    ann, bob, mailbox = world

    def sync() -> None:
        sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])

    sync()
    legacy = digest("Band 7")
    for link in SyncLink.objects.filter(owner=sally):
        link.base["job_title"] = [{"#": legacy, "s": 1}, {"#": legacy, "s": 1}, ""]
        link.save()
    ann.last_name = "Leigh"  # the run syncs ann's record, not bob's
    ann.save()
    sync()
    assert not RejectedChange.objects.exists(), "nothing was edited in Outlook"
    assert not SyncConflict.objects.exists()
    (item,) = [i for i in mailbox.items("contacts").values() if i.crm_id == str(ann.pk)]
    assert item.fields["last_name"] == "Leigh" and not item.fields.get("job_title")
    link = SyncLink.objects.get(owner=sally, crm_id=ann.pk)
    assert _digests(link.base) and legacy not in _digests(link.base)
    for record in (ann, bob):
        record.refresh_from_db()
        assert record.job_title == "Band 7"
