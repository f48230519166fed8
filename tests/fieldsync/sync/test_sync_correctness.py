"""No stuck record, no silent divergence (issue 16), on every connector: a write that failed is
retried from what the item holds now, so nothing is lost and the record does not fail for good."""

from __future__ import annotations

import pytest

from crm.models import Contact
from fieldsync.models.sync import MailboxSyncState, SyncConflict, SyncLink

from .mailboxes import fail_next_update

pytestmark = pytest.mark.django_db


def _item_id(record) -> str:
    return SyncLink.objects.get(crm_id=record.pk).item_id


def _edited_on_both_sides_then_failed(sync, sally, mailbox) -> tuple[Contact, str]:
    """Ann synced; then an Outlook edit of her job title and a CRM edit of her last name; the
    run that takes both fails to write the item (a transient error on that one item)."""
    ann = Contact.objects.create(owner=sally, first_name="Ann", last_name="Lee", job_title="Buyer")
    sync()
    item_id = _item_id(ann)
    mailbox.edit("contacts", item_id, job_title="Outlook Title")
    ann.last_name = "Leigh"
    ann.save()
    fail_next_update(mailbox, item_id)
    report = sync()
    assert report.failed == [str(ann.pk)]
    return ann, item_id


def test_a_failed_write_is_retried_from_the_item_as_it_is_now(sync, sally, mailbox):
    ann, item_id = _edited_on_both_sides_then_failed(sync, sally, mailbox)
    report = sync()
    assert report.failed == []
    ann.refresh_from_db()
    item = mailbox.items("contacts")[item_id]
    assert (ann.last_name, ann.job_title) == ("Leigh", "Outlook Title")
    assert (item.fields["last_name"], item.fields["job_title"]) == ("Leigh", "Outlook Title")
    assert MailboxSyncState.objects.get(owner=sally, entity="contact").retry_ids == []
    assert sync().failed == []
    assert not SyncConflict.objects.exists()


def test_a_record_deleted_after_a_failed_write_keeps_the_outlook_only_values(sync, sally, mailbox):
    ann, item_id = _edited_on_both_sides_then_failed(sync, sally, mailbox)
    ann.delete()
    report = sync()
    assert report.failed == []
    assert item_id not in mailbox.items("contacts")
    kept = SyncConflict.objects.get()
    assert (kept.field, kept.exchange_value) == ("job_title", "Outlook Title")


# -- 9. the tracked category ----------------------------------------------------------------------


def test_an_item_tracked_under_any_case_of_the_category_enters_the_crm(sync, sally, mailbox):
    mailbox.create(
        "contacts", {"first_name": "Tom", "last_name": "Lower"}, categories=("tracked to crm",)
    )
    mailbox.create("contacts", {"first_name": "Una", "last_name": "Other"}, categories=("VIP",))
    assert sync().counts["crm_created"] == 1
    assert list(Contact.objects.values_list("last_name", flat=True)) == ["Lower"]


def test_removing_the_category_untracks_the_item_and_the_crm_record_stays(sync, sally, mailbox):
    ann = Contact.objects.create(owner=sally, first_name="Ann", last_name="Lee", job_title="Buyer")
    sync()
    item_id = _item_id(ann)
    mailbox.set_categories("contacts", item_id, ("VIP",))
    report = sync()
    assert report.counts["untracked"] == 1
    assert SyncLink.objects.get(crm_id=ann.pk).state == "untracked"
    ann.refresh_from_db()  # the record stays, as it was
    assert (ann.last_name, ann.job_title) == ("Lee", "Buyer")
    # Neither side reaches the other any more, and nothing is deleted.
    ann.job_title = "CRM only"
    ann.save()
    mailbox.edit("contacts", item_id, last_name="Outlook only")
    sync()
    ann.refresh_from_db()
    assert ann.last_name == "Lee"
    assert mailbox.items("contacts")[item_id].fields["job_title"] == "Buyer"
    # Tracked again (whatever the case): the sync resumes and merges both edits.
    mailbox.set_categories("contacts", item_id, ("VIP", "TRACKED TO CRM"))
    sync()
    ann.refresh_from_db()
    assert (ann.last_name, ann.job_title) == ("Outlook only", "CRM only")
    assert mailbox.items("contacts")[item_id].fields["job_title"] == "CRM only"
