"""CRM ids carried by mailbox items are not trusted (issue #15.8): a new record never takes
its id from an item, and an item naming a record its owner cannot see (another user's, or a
deleted one) is treated exactly like an item naming no record, so the outcome tells nothing."""

from __future__ import annotations

import uuid

import pytest

from connectors.base import NewItem
from crm.models import Contact
from fieldsync.models.sync import SyncPolicy
from fieldsync.service.sync import sync_mailbox

from .mailboxes import MemoryMailbox

pytestmark = pytest.mark.django_db

TRACKED = "Tracked to CRM"


def _outcome(sally, named: str) -> tuple:
    """What a tracked item naming `named` becomes in sally's CRM, and what is left of it."""
    mailbox = MemoryMailbox()
    (made,) = mailbox.connector.create_items(
        "contacts", [NewItem(named, {"last_name": "Squatter"}, (TRACKED,))]
    )
    item_id = str(made.item_id)
    report = sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    created = list(Contact.objects.filter(last_name="Squatter", owner=sally))
    view = mailbox.items("contacts").get(item_id)
    counts = {k: v for k, v in report.entities["contact"].counts.items() if k != "items_seen"}
    return len(created), created, view is not None, counts


def test_a_new_record_never_takes_the_id_an_item_names(sally):
    future = str(uuid.uuid4())
    n, created, _, _ = _outcome(sally, future)
    assert n == 1
    assert str(created[0].pk) != future
    assert not Contact.objects.filter(pk=future).exists()


@pytest.mark.parametrize("whose", ["another_users", "deleted"])
def test_an_item_naming_an_invisible_record_is_like_one_naming_none(sally, make_user, whose):
    SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    bob = make_user("bob")
    theirs = Contact.objects.create(owner=bob, last_name="Private", government_id="secret")
    if whose == "deleted":
        theirs.delete()
    n_named, _, kept_named, counts_named = _outcome(sally, str(theirs.pk))
    Contact.objects.filter(last_name="Squatter").delete()
    n_none, _, kept_none, counts_none = _outcome(sally, str(uuid.uuid4()))
    assert (n_named, kept_named, counts_named) == (n_none, kept_none, counts_none)
    if whose == "another_users":
        theirs.refresh_from_db()
        assert (theirs.owner, theirs.last_name, theirs.government_id) == (bob, "Private", "secret")
