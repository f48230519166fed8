"""The Sync policy page drives the sync: an administrator flipping "keep the Outlook copy when
access is lost" changes what the next run does to a record whose share was revoked."""

from __future__ import annotations

import lxml.html
import pytest
from django.urls import reverse

from crm.models import Contact
from fieldsync.models.sync import SyncPolicy

from .runs_on import runs_on

pytestmark = [pytest.mark.django_db, runs_on("memory")]


def set_keep_copy_on_the_page(client, admin, keep: bool) -> None:
    url = reverse("fieldsync:sync_policy")
    client.force_login(admin)
    (form,) = lxml.html.fromstring(client.get(url).content.decode()).xpath(
        "//form[@id='policy-form']"
    )
    data = dict(form.form_values())
    data.pop("keep_copy_on_lost_access", None)
    if keep:
        data["keep_copy_on_lost_access"] = "on"
    assert client.post(url, data).status_code == 302


def test_flipping_keep_copy_on_the_page_keeps_the_copy_of_a_revoked_share(
    client, sync, sally, mailbox, make_user, admin
):
    from security import services

    SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    bob = make_user("bob")
    first = Contact.objects.create(owner=bob, first_name="Ann", last_name="First")
    second = Contact.objects.create(owner=bob, first_name="Ben", last_name="Second")
    for shared in (first, second):
        services.share_record(record=shared, user_or_team=sally, rights=["sync"], actor=admin)
    sync()
    assert {i.crm_id for i in mailbox.items("contacts").values()} == {
        str(first.pk),
        str(second.pk),
    }

    services.revoke_share(record=first, user_or_team=sally, actor=admin)
    report = sync()  # default policy: the copy leaves the mailbox
    assert report.counts["exchange_deleted"] == 1 and report.counts["suspended"] == 0
    assert [i.crm_id for i in mailbox.items("contacts").values()] == [str(second.pk)]

    set_keep_copy_on_the_page(client, admin, keep=True)
    services.revoke_share(record=second, user_or_team=sally, actor=admin)
    report = sync()  # now the copy stays, unsynced
    assert report.counts["suspended"] == 1 and report.counts["exchange_deleted"] == 0
    (kept,) = mailbox.items("contacts").values()
    assert kept.crm_id == str(second.pk) and kept.fields["last_name"] == "Second"
