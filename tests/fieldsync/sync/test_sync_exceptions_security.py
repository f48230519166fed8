"""Field security on a series' changed occurrences, on every connector that holds them (the
connectors and fixtures of test_sync_exceptions.py)."""

from __future__ import annotations

import json

import pytest

from crm.models import AppointmentException
from fieldsync.models.sync import RejectedChange, SyncLink

from . import test_sync_exceptions as on_every_connector
from .test_sync_exceptions import MONDAY, WEEK, item_id_of

pytestmark = pytest.mark.django_db

# The connectors that hold exceptions, and sally's series (fixtures shared with that module).
mailbox = on_every_connector.mailbox
series = on_every_connector.series


def test_occurrences_follow_the_field_security_of_the_series_columns_they_override(
    sync, mailbox, series, secure
):
    """An occurrence overrides the series' start, end, subject, location and description: where
    sally may not read one of them (here the description), no occurrence of the CRM reaches her
    mailbox (its override would show the secured value) and no occurrence changed in Outlook is
    written into the CRM; the refused edit rests only as a digest."""
    secure("recurring_appointment", "description")  # no rights at all
    AppointmentException.objects.create(
        series=series, original_start=MONDAY + WEEK, subject="Moved", description="Takeover plan"
    )
    sync("recurring_appointment")
    item_id = item_id_of(series)
    assert "Takeover plan" not in str(mailbox.items("calendar")[item_id].fields)
    mailbox.edit(
        "calendar",
        item_id,
        exceptions=[
            {
                "original_start": MONDAY + 3 * WEEK,
                "cancelled": False,
                "start": None,
                "end": None,
                "subject": "Changed in Outlook",
                "location": None,
                "description": None,
            }
        ],
    )
    sync("recurring_appointment")
    kept = series.exceptions.values_list("original_start", "subject", "description")
    assert list(kept) == [(MONDAY + WEEK, "Moved", "Takeover plan")]
    (refused,) = RejectedChange.objects.filter(crm_id=series.pk)
    assert refused.field == "exceptions" and set(refused.offered_value) == {"#"}
    stored = json.dumps(list(SyncLink.objects.values_list("base", flat=True)))
    assert "Takeover plan" not in stored and "Changed in Outlook" not in stored
