"""The reference Outlook client (connectors/outlook_client.py) against a live server: the demo's
contacts both ways through a folder of vCards, including the Personal notes case.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

from connectors.dav import vcard
from connectors.outlook_client import OutlookClient
from crm.models import Contact
from fieldsync.models import FieldMapping
from fieldsync.models.mailboxes import Mailbox
from fieldsync.models.sync import RejectedChange, SyncConflict
from security.models import User

NEW_CARD = """BEGIN:VCARD
VERSION:3.0
FN:Nina Local
N:Local;Nina;;;
EMAIL;TYPE=INTERNET:nina@local.test
NOTE:Met her at my cousin's wedding
END:VCARD
"""


@pytest.fixture
def demo(transactional_db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", contacts=6, stdout=open("/dev/null", "w"))  # noqa: SIM115
    sally = User.objects.get(username="sally")
    # Sally's add-in syncs her contacts; the worker keeps her calendar and tasks.
    call_command(
        "mailbox_sync_path",
        Mailbox.objects.get(owner=sally).email_address,
        "contact",
        "client",
        stdout=open("/dev/null", "w"),  # noqa: SIM115
    )
    # Personal notes: the contact's Outlook Notes (CRM Description) do not synchronize.
    FieldMapping.objects.filter(entity="contact", crm_field="description").update(direction="none")
    FieldMapping.objects.filter(entity="contact", crm_field="job_title").update(
        direction="to_outlook"
    )
    return {"sally": sally, "token": Token.objects.create(user=sally).key}


def _edit(path, **fields) -> None:
    path.write_text(vcard.update(path.read_text(), fields, None)[0])


def test_reference_client_syncs_demo_contacts_both_ways_and_keeps_personal_notes(
    live_server, demo, tmp_path
):
    sally = demo["sally"]
    call_command(
        "outlook_client",
        url=live_server.url,
        token=demo["token"],
        folder=tmp_path,
        stdout=open("/dev/null", "w"),  # noqa: SIM115
    )
    client = OutlookClient(url=live_server.url, token=demo["token"], folder=tmp_path)
    contacts = list(Contact.objects.filter(owner=sally).order_by("pk"))
    files = {p.stem: p for p in tmp_path.glob("*.vcf")}
    assert sorted(files) == [str(c.pk) for c in contacts]
    first, second, noted, doomed = contacts[:4]
    assert first.last_name in files[str(first.pk)].read_text()
    assert first.description and "NOTE" not in files[str(first.pk)].read_text()

    # CRM -> Outlook, Outlook -> CRM, a note typed in Outlook, a contact made in Outlook.
    first.job_title = "Chief Buyer"
    first.save()
    _edit(files[str(second.pk)], business_phone="+1 206 555 9999", job_title="Local title")
    _edit(files[str(noted.pk)], description="Private: likes golf")
    (tmp_path / "nina.vcf").write_text(NEW_CARD)
    summary = client.sync()

    assert "Chief Buyer" in files[str(first.pk)].read_text()
    second.refresh_from_db()
    assert second.business_phone == "+1 206 555 9999"
    assert second.job_title != "Local title"  # to_outlook: the edit stays in Outlook only...
    assert "Local title" in files[str(second.pk)].read_text()
    before = noted.description
    noted.refresh_from_db()
    assert noted.description == before  # the note never reached the CRM...
    assert "likes golf" in files[str(noted.pk)].read_text()  # ...and stays in Outlook
    assert f"{files[str(noted.pk)].name}: description (direction_none)" in summary.not_applied
    nina = Contact.objects.get(owner=sally, last_name="Local")
    assert (nina.first_name, nina.email, nina.description) == ("Nina", "nina@local.test", "")
    assert str(nina.pk) in (tmp_path / "nina.vcf").read_text()  # the card now names its record
    assert not RejectedChange.objects.exists() and not SyncConflict.objects.exists()

    # Deleted in the CRM: the file goes. Then nothing is left to do either way.
    doomed_file = files[str(doomed.pk)]
    doomed.delete()
    second.job_title = "Head of IT"
    second.save()
    assert client.sync().removed == 1
    assert not doomed_file.exists()
    assert "Head of IT" in files[str(second.pk)].read_text()  # ...until the CRM value changes
    quiet = client.sync()
    assert (quiet.pushed, quiet.written, quiet.removed) == (0, 0, 0)
    noted.refresh_from_db()
    assert noted.description == before

    # Notes synchronize again: an empty side is filled from the other, and where both hold a
    # note the conflict policy (CRM wins) decides and the Outlook note is kept as a conflict.
    FieldMapping.objects.filter(entity="contact", crm_field="description").update(direction="both")
    client.sync()
    nina.refresh_from_db()
    assert nina.description == "Met her at my cousin's wedding"
    assert before in files[str(noted.pk)].read_text().replace("\r\n ", "")
    conflict = SyncConflict.objects.get(crm_id=noted.pk)
    assert (conflict.field, conflict.outcome) == ("description", "crm")
    assert conflict.exchange_value == "Private: likes golf"
