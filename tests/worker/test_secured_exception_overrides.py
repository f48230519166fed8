"""A series' changed occurrences carry overrides of the series' own columns (start, end,
subject, location, description): a viewer who may not read one of those columns on the series
must not read it through the occurrences either, on any page that shows a sync's values (the
mailbox page's Verify differences, conflicts and rejected changes, the preview)."""

import datetime as dt

import pytest

from crm.models import RecurringAppointment
from fieldsync.mailboxes.conflicts import withhold_values
from fieldsync.mailboxes.preview import WITHHELD, FieldChange, withhold_changes
from fieldsync.mailboxes.verify import latest_reports
from fieldsync.models.mailboxes import VerifyReport
from fieldsync.models.sync import RejectedChange, SyncConflict
from fieldsync.service.values import unreadable_fields
from security.services import field_profile_upsert, role_upsert, secure_field

MONDAY_9 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)
SECRET = "Board agenda: the takeover of Initech"


def _moved(description: str) -> list[dict]:
    return [
        {
            "original_start": MONDAY_9.isoformat(),
            "cancelled": False,
            "start": None,
            "end": None,
            "subject": None,
            "location": None,
            "description": description,
        }
    ]


@pytest.fixture
def world(make_mailbox, make_user):
    """Sally's mailbox and series (she may read its description); Rita reads every series of
    the organization but not their description (a secured column)."""
    sally = make_mailbox("sally", on_server=False)
    rita = make_user("rita")
    role_upsert(
        name="Series",
        levels={("recurring_appointment", a): "organization" for a in ("read", "write", "sync")},
        users=[sally.owner, rita],
    )
    secure_field(entity="recurring_appointment", column="description")
    field_profile_upsert(
        name="Agendas",
        grants={("recurring_appointment", "description"): ("read", "create", "update")},
        users=[sally.owner],
    )
    series = RecurringAppointment.objects.create(
        owner=sally.owner,
        subject="Weekly review",
        scheduled_start=MONDAY_9,
        scheduled_end=MONDAY_9 + dt.timedelta(minutes=30),
        recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=10",
    )
    return sally, rita, series


def test_the_occurrences_are_as_unreadable_as_the_series_columns_they_override(world):
    sally, rita, _ = world
    assert "exceptions" in unreadable_fields(rita, "recurring_appointment")
    assert "exceptions" not in unreadable_fields(sally.owner, "recurring_appointment")


def test_verify_differences_in_occurrences_are_withheld_from_who_may_not_read_them(world):
    sally, rita, series = world
    now = dt.datetime.now(dt.UTC)
    VerifyReport.objects.create(
        owner=sally.owner,
        mailbox=sally,
        entity="recurring_appointment",
        trigger="manual",
        started_at=now,
        finished_at=now,
        drift=[
            {
                "crm_id": str(series.pk),
                "item_id": "AAMk1",
                "field": "exceptions",
                "crm_value": [],
                "exchange_value": _moved(SECRET),
            }
        ],
        drift_count=1,
    )
    shown = latest_reports(sally, rita)[0]["drift"][0]
    assert SECRET not in str(shown)
    assert shown["record_name"] == str(series)  # the record itself she may read
    mine = latest_reports(sally, sally.owner)[0]["drift"][0]
    assert SECRET in str(mine["exchange_value"])


def test_conflicts_rejected_changes_and_previews_of_occurrences_are_withheld(world):
    sally, rita, series = world
    conflict = SyncConflict.objects.create(
        owner=sally.owner,
        entity="recurring_appointment",
        crm_id=series.pk,
        item_id="AAMk1",
        field="exceptions",
        base_value=[],
        crm_value=_moved("Agreed"),
        exchange_value=_moved(SECRET),
        outcome="crm",
        reason="both sides changed",
        digest="c1",
    )
    rejected = RejectedChange.objects.create(
        owner=sally.owner,
        entity="recurring_appointment",
        crm_id=series.pk,
        item_id="AAMk1",
        field="exceptions",
        offered_value=_moved(SECRET),
        reason="no_update",
        digest="r1",
    )
    for row in withhold_values([conflict, rejected], rita):
        assert row.values_withheld and SECRET not in str(vars(row))
    change = FieldChange(str(series.pk), "exceptions", "CRM", _moved(SECRET), "update")
    (shown,) = withhold_changes(
        [change], entity="recurring_appointment", viewer=rita, owner=sally.owner
    )
    assert shown.value == WITHHELD
    (own,) = withhold_changes(
        [change], entity="recurring_appointment", viewer=sally.owner, owner=sally.owner
    )
    assert SECRET in str(own.value)


def test_the_apply_confirmation_withholds_the_losing_value_from_who_may_not_read_it(
    client, make_mailbox, make_user
):
    """Confirming "apply the losing value" shows the value about to be written, so it is a
    page of values like the conflicts list: a settings administrator who manages mailboxes but
    may not read the record, or a mailbox owner who lost the field's read right since the
    conflict, sees no value there (applying is refused for them anyway)."""
    from django.urls import reverse

    from crm.models import Contact

    sally = make_mailbox("sally", on_server=False)
    role_upsert(
        name="Seller",
        levels={("contact", a): "user" for a in ("create", "read", "write", "sync")},
        users=[sally.owner],
    )
    opal = make_user("opal")
    role_upsert(
        name="Sync settings",
        levels={("sync_settings", a): "organization" for a in ("read", "write")},
        users=[opal],
    )
    ann = Contact.objects.create(owner=sally.owner, last_name="Lee", job_title="Head buyer")
    conflict = SyncConflict.objects.create(
        owner=sally.owner,
        entity="contact",
        crm_id=ann.pk,
        item_id="AAMk-item",
        field="job_title",
        base_value="Buyer",
        crm_value="Head buyer",
        exchange_value="Chief of mergers",
        outcome="crm",
        reason="crm_wins",
        digest="d-confirm",
    )
    url = reverse("fieldsync:sync_conflict_apply", args=[conflict.pk])
    client.force_login(sally.owner)
    assert "Chief of mergers" in client.get(url).content.decode()  # hers to read and apply

    client.force_login(opal)
    page = client.get(url)
    assert page.status_code == 200
    assert "Chief of mergers" not in page.content.decode()
    several = client.post(reverse("fieldsync:sync_conflicts_apply"), {"ids": [conflict.pk]})
    assert "Chief of mergers" not in several.content.decode()

    secure_field(entity="contact", column="job_title")  # sally may no longer read it
    client.force_login(sally.owner)
    assert "Chief of mergers" not in client.get(url).content.decode()
