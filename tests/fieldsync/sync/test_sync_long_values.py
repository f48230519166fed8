"""Long values reach the other side whole on every connector: a note far past the 255 characters
a change list (Exchange's SyncFolderItems) would keep is read in full before it is synced."""

from __future__ import annotations

import pytest

from crm.models import Contact
from fieldsync.models.sync import SyncLink

from .runs_on import connector_scenario

pytestmark = pytest.mark.django_db

# 2,000 characters with non-ASCII letters and line breaks.
LONG_NOTE = "\n".join(f"Line {i:03d}: Müller & Söhne signed the frame contract" for i in range(40))[
    :2000
]


@connector_scenario
def test_a_long_note_written_in_outlook_reaches_the_crm_whole(sync, sally, mailbox):
    ann = Contact.objects.create(owner=sally, first_name="Ann", last_name="Lee")
    sync()
    item_id = SyncLink.objects.get(crm_id=ann.pk).item_id
    mailbox.edit("contacts", item_id, description=LONG_NOTE)
    assert sync().failed == []
    ann.refresh_from_db()
    assert len(ann.description) == 2000
    assert ann.description == LONG_NOTE
