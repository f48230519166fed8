"""The reference Outlook client (connectors/outlook_client.py) keeps phone calls, letters and
service activities in one folder of iCalendar files beside the tasks, each file saying which
activity it is, as the CalDAV connector's items do."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.authtoken.models import Token

from connectors.dav import ical
from connectors.outlook_client import OutlookClient
from crm.models import Letter, PhoneCall, ServiceActivity, Task
from fieldsync.models.sync import RejectedChange
from security.entities import RECORD_ENTITIES
from security.services import role_upsert

MARKER = "X-SYNCADMIN-ACTIVITY-TYPE"
NEW_LETTER = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VTODO
UID:letter-1
SUMMARY:Write to Fabrikam
X-SYNCADMIN-ACTIVITY-TYPE:letter
END:VTODO
END:VCALENDAR
"""


@pytest.fixture
def sally(transactional_db, make_user, business_units, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = make_user("sally")
    levels = {(e, a): "user" for e in RECORD_ENTITIES for a in ("create", "read", "write", "sync")}
    role_upsert(name="Salesperson", levels=levels, users=[user])
    return user


def test_activities_share_the_folder_and_keep_their_type(live_server, sally, tmp_path):
    token = Token.objects.create(user=sally).key
    call = PhoneCall.objects.create(owner=sally, subject="Call Contoso")
    task = Task.objects.create(owner=sally, subject="Send quote")
    start = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    service = ServiceActivity.objects.create(
        owner=sally, subject="Boiler", scheduled_start=start, scheduled_end=start
    )

    def client(entity: str) -> OutlookClient:
        return OutlookClient(url=live_server.url, token=token, folder=tmp_path, entity=entity)

    for entity in ("task", "phone_call", "letter", "service_activity"):
        client(entity).sync()
    call_file = tmp_path / f"{call.pk}.ics"
    assert f"{MARKER}:phone_call" in call_file.read_text()
    assert MARKER not in (tmp_path / f"{task.pk}.ics").read_text()

    # A user edits the phone call and makes a letter in Outlook; the task client leaves both.
    edited, _ = ical.Codec(dt.UTC).update(
        call_file.read_bytes(), "VTODO", {"subject": "Call back"}, None
    )
    call_file.write_bytes(edited)
    (tmp_path / "letter.ics").write_bytes(NEW_LETTER)
    assert client("task").sync().pushed == 0
    assert client("phone_call").sync().applied == {"updated": 1}
    assert client("letter").sync().applied == {"created": 1}
    call.refresh_from_db()
    task.refresh_from_db()
    assert (call.subject, task.subject) == ("Call back", "Send quote")
    assert Letter.objects.get().subject == "Write to Fabrikam"
    assert f"{MARKER}:phone_call" in call_file.read_text()  # the edit kept the type
    assert Task.objects.count() == 1 and PhoneCall.objects.count() == 1

    # A service activity edited in Outlook stays as it is there and in the CRM.
    service_file = tmp_path / f"{service.pk}.ics"
    assert f"{MARKER}:service_activity" in service_file.read_text()
    changed, _ = ical.Codec(dt.UTC).update(
        service_file.read_bytes(), "VEVENT", {"subject": "Moved by me"}, None
    )
    service_file.write_bytes(changed)
    summary = client("service_activity").sync()
    assert summary.applied == {"refused": 1}
    (line,) = summary.not_applied
    assert "Service activities go from the CRM to Outlook only" in line
    service.refresh_from_db()
    assert service.subject == "Boiler" and "Moved by me" in service_file.read_text()
    assert client("service_activity").sync().pushed == 0  # not offered again until edited
    assert not RejectedChange.objects.exists()
