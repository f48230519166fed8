"""The sync service on a real Radicale and a real Xandikos where DAV differs from Exchange: a field vCard cannot hold
is left alone on both sides, and a stale ETag is refused and ends as a conflict, never overwritten.
"""

from __future__ import annotations

import pytest

from crm.models import Contact
from fieldsync.models.sync import MailboxSyncState, SyncConflict, SyncLink

from .runs_on import DAV_SERVERS, runs_on

pytestmark = [pytest.mark.django_db, runs_on(*DAV_SERVERS)]  # what DAV servers do


def _item_id(record: Contact) -> str:
    return SyncLink.objects.get(crm_id=record.pk).item_id


def test_a_field_vcard_cannot_hold_is_neither_sent_nor_cleared(sync, sally, mailbox):
    ann = Contact.objects.create(owner=sally, last_name="Lee", government_id="123-45-6789")
    report = sync()
    assert report.counts["exchange_created"] == 1 and report.failed == []
    card = mailbox.user.dav.session.get(mailbox.user.dav.absolute(_item_id(ann))).text
    assert "123-45-6789" not in card
    mailbox.edit("contacts", _item_id(ann), job_title="Buyer")
    ann.government_id = "987-65-4321"
    ann.save()
    report = sync()
    assert report.failed == []
    ann.refresh_from_db()
    assert (ann.job_title, ann.government_id) == ("Buyer", "987-65-4321")
    assert not SyncConflict.objects.exists()


def test_a_stale_etag_is_refused_and_recorded_as_a_conflict_not_overwritten(sync, sally, mailbox):
    ann = Contact.objects.create(owner=sally, last_name="Lee", job_title="Buyer")
    sync()
    item_id = _item_id(ann)
    ann.job_title = "CRM title"
    ann.save()
    dav = mailbox.user.dav
    put = mailbox.connector.dav.request

    def another_client_writes_first(method: str, href: str, **kw: object):  # type: ignore[no-untyped-def]
        if method == "PUT" and href.endswith(item_id):
            # Another CardDAV client saves the card after the sync read its ETag.
            card = dav.session.get(dav.absolute(href)).text
            edited = card.replace("TITLE:Buyer", "TITLE:Typed meanwhile")
            answer = dav.session.put(
                dav.absolute(href), data=edited.encode(), headers={"Content-Type": "text/vcard"}
            )
            assert answer.status_code in (201, 204)
        return put(method, href, **kw)  # type: ignore[arg-type]

    mailbox.connector.dav.request = another_client_writes_first
    report = sync()
    mailbox.connector.dav.request = put
    # The PUT carried the ETag the sync had read: Radicale answered 412 and nothing was written.
    assert report.failed == [str(ann.pk)]
    assert mailbox.items("contacts")[item_id].fields["job_title"] == "Typed meanwhile"
    retry = MailboxSyncState.objects.get(owner=sally, entity="contact").retry_ids
    assert retry == [str(ann.pk), f"item:{item_id}"]  # the record, and its item to read again
    assert not SyncConflict.objects.exists()

    sync()  # the next run sees both edits: the policy (crm_wins) decides, the loser is kept
    ann.refresh_from_db()
    assert ann.job_title == mailbox.items("contacts")[item_id].fields["job_title"] == "CRM title"
    kept = SyncConflict.objects.get()
    assert (kept.field, kept.base_value, kept.crm_value, kept.exchange_value) == (
        "job_title",
        "Buyer",
        "CRM title",
        "Typed meanwhile",
    )
