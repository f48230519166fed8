"""Secured values in side channels (issue #15.1 and #15.2), a generated matrix:

    every output that shows record values (conflicts and rejected changes, API and page; the
    preview; the stored sync status)
  x every viewer (the mailbox owner; a sync-settings administrator with own-records rights and
    no field profile; one who reads every contact and the secured column; a system
    administrator)
  x every event that makes or strands such values (an edit on both sides and a refused edit;
    then the record reassigned, deleted, its share revoked, or the owner's read right revoked).

The rule each cell checks: a secured value appears in an output only if the viewer may read the
column now and may read the record now (a deleted record's values: its mailbox owner alone).
The slow part (three syncs building the conflict and the rejected change) runs once per event;
the viewers and outputs are checked against that one world.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client
from rest_framework.authtoken.models import Token

from crm.models import Contact
from crm.services import record_update
from fieldsync.mailboxes.preview import field_changes, withhold_changes
from fieldsync.models.sync import RejectedChange, SyncConflict, SyncLink, SyncPolicy
from fieldsync.service.sync import sync_mailbox
from security.models import FieldPermission, FieldSecurityProfile, SecuredField
from security.services import revoke_share, role_upsert, share_record

from .mailboxes import MemoryMailbox

pytestmark = pytest.mark.django_db

EVENTS = ("edit", "reassign", "delete", "share_revoked", "read_revoked")
VIEWERS = ("owner", "settings_admin", "reader", "sysadmin")
OUTPUTS = ("conflicts_api", "conflicts_page", "rejected_api", "rejected_page", "preview")
SECRETS = ("GOV-CRM-7", "GOV-OUT-8", "GOV-REJ-9")
CELLS = len(EVENTS) * len(VIEWERS) * len(OUTPUTS) + len(EVENTS)  # + the stored status


def _grant(profile: str, user, *ops: str) -> FieldPermission:
    field, _ = SecuredField.objects.get_or_create(entity="contact", column="government_id")
    fsp = FieldSecurityProfile.objects.create(name=profile)
    fsp.users.add(user)
    return FieldPermission.objects.create(
        profile=fsp,
        field=field,
        can_read="read" in ops,
        can_create="create" in ops,
        can_update="update" in ops,
    )


@pytest.fixture
def world(request, sally, admin, make_user):
    """sally's mailbox with one contact whose secured Government ID made a conflict (both
    sides edited) and a rejected change (an edit after her update right went), then `event`."""
    event = request.param
    bob = make_user("bob")
    manager = make_user("mgr", is_staff=True)
    reader = make_user("reader")
    own = {("contact", a): "user" for a in ("create", "read", "write", "delete", "sync")}
    role_upsert(
        name="Settings admin",
        levels={
            **own,
            ("sync_settings", "write"): "organization",
            ("sync_settings", "read"): "organization",
        },
        users=[manager],
    )
    role_upsert(
        name="Reader",
        levels={
            ("contact", "read"): "organization",
            ("sync_settings", "write"): "organization",
            ("sync_settings", "read"): "organization",
        },
        users=[reader],
    )
    role_upsert(name="Owner", levels=own, users=[bob])
    sally_perm = _grant("Sally", sally, "read", "update")
    _grant("Reader", reader, "read")

    SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    owner = bob if event == "share_revoked" else sally
    record = Contact.objects.create(owner=owner, last_name="Lee", government_id="GOV-0")
    if event == "share_revoked":
        share_record(record=record, user_or_team=sally, rights=["sync", "write"], actor=admin)
    mailbox = MemoryMailbox()

    def sync():
        return sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])

    sync()
    (item_id,) = mailbox.items("contacts")
    # Both sides change it between two syncs: a conflict (the CRM wins), values in clear.
    Contact.objects.filter(pk=record.pk).update(government_id="GOV-CRM-7")
    record_update(
        record=Contact.objects.get(pk=record.pk), values={"government_id": "GOV-CRM-7"}, actor=admin
    )
    mailbox.edit("contacts", item_id, government_id="GOV-OUT-8")
    sync()
    # Her update right goes; her next Outlook edit is a rejected change.
    sally_perm.can_update = False
    sally_perm.save()
    mailbox.edit("contacts", item_id, government_id="GOV-REJ-9")
    sync()
    assert SyncConflict.objects.exists() and RejectedChange.objects.exists(), "scenario"

    if event == "reassign":
        record_update(record=Contact.objects.get(pk=record.pk), values={"owner": bob}, actor=admin)
    elif event == "delete":
        Contact.objects.filter(pk=record.pk).delete()
    elif event == "share_revoked":
        revoke_share(record=record, user_or_team=sally, actor=admin)
    elif event == "read_revoked":
        sally_perm.can_read = False
        sally_perm.save()
    sync()
    users = {"owner": sally, "settings_admin": manager, "reader": reader, "sysadmin": admin}
    return {"event": event, "users": users, "record": record, "mailbox": mailbox, "sally": sally}


def _may_see(world: dict, viewer: str) -> bool:
    """The rule: the column readable now, and the record readable now (deleted: owner only)."""
    event = world["event"]
    if viewer == "sysadmin":
        return True
    if viewer == "settings_admin":
        return False  # managing mailboxes grants no reading
    if viewer == "reader":
        return event != "delete"
    # the owner
    return event in ("edit", "delete")


def _output(name: str, world: dict, viewer) -> str:
    if name == "preview":
        report = sync_mailbox(
            owner=world["sally"],
            connector=world["mailbox"].connector,
            entities=["contact"],
            dry_run=True,
        )
        changes = withhold_changes(
            field_changes(report), entity="contact", viewer=viewer, owner=world["sally"]
        )
        return repr([c.shown for c in changes])
    if name.endswith("_api"):
        client = Client()
        key = Token.objects.get_or_create(user=viewer)[0].key
        path = "/api/v1/conflicts/" if name.startswith("conflicts") else "/api/v1/rejected-changes/"
        return client.get(path, HTTP_AUTHORIZATION=f"Token {key}").content.decode()
    client = Client()
    client.force_login(viewer)
    path = (
        "/sync/conflicts/?show=all" if name.startswith("conflicts") else "/sync/rejected-changes/"
    )
    return client.get(path).content.decode()


@pytest.mark.parametrize("world", EVENTS, indirect=True)
def test_secured_values_reach_only_viewers_who_may_read_them(world):
    wrong = []
    shown_somewhere = False
    for viewer in VIEWERS:
        allowed = _may_see(world, viewer)
        for output in OUTPUTS:
            text = _output(output, world, world["users"][viewer])
            leaked = [s for s in SECRETS if s in text]
            shown_somewhere |= bool(leaked)
            if leaked and not allowed:
                wrong.append(f"{world['event']} / {viewer} / {output}: {leaked}")
    assert not wrong, "\n".join(wrong)
    assert shown_somewhere, "the scenario shows the values to someone allowed"


@pytest.mark.parametrize("world", EVENTS, indirect=True)
def test_the_stored_status_keeps_no_value_the_owner_may_not_read(world):
    """Once the owner may not read the column, the status keeps only digests of it: of what
    the CRM held (agreed and CRM values) and of the mailbox's own value, which here is the
    CRM's secured value itself (the sync had put it back in Outlook over a refused edit)."""
    bases = [b.get("government_id") for b in SyncLink.objects.values_list("base", flat=True)]
    if world["event"] != "read_revoked":
        return
    assert bases, "the link is kept"
    for parts in bases:
        assert isinstance(parts, list) and len(parts) in (1, 3), parts  # [one] when all agree
        assert all(isinstance(p, dict) and "#" in p for p in parts), parts
    assert not [s for s in SECRETS if s in str(bases)]
    # A rejected change made after the revocation keeps only a digest of the offered value, and
    # the status only a digest of the new Outlook value, which the next edit is compared with.
    mailbox, sally = world["mailbox"], world["sally"]
    (item_id,) = mailbox.items("contacts")
    mailbox.edit("contacts", item_id, government_id="GOV-LATE-1")
    sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    latest = RejectedChange.objects.order_by("-pk").first()
    assert "GOV-LATE-1" not in str(latest.offered_value)
    assert set(latest.offered_value) == {"#"}
    # Nor can its dedup key be recomputed from the row and a guessed value (it is keyed).
    parts = [sally.pk, "contact", str(latest.crm_id), latest.item_id, "government_id"]
    guess = json.dumps([*parts, "GOV-LATE-1", latest.reason], cls=DjangoJSONEncoder)
    assert latest.digest != hashlib.sha256(guess.encode()).hexdigest()
    assert "GOV-LATE-1" not in str(list(SyncLink.objects.values_list("base", flat=True)))
    refused = RejectedChange.objects.count()
    sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    assert RejectedChange.objects.count() == refused, "an unchanged Outlook value is no new edit"
    mailbox.edit("contacts", item_id, government_id="GOV-LATER-2")
    sync_mailbox(owner=sally, connector=mailbox.connector, entities=["contact"])
    assert RejectedChange.objects.count() == refused + 1, "a new Outlook edit is noticed"
    assert Contact.objects.get(pk=world["record"].pk).government_id == "GOV-CRM-7"
