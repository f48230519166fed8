"""The API of phone calls, letters, faxes and service activities (same filters, security and
error shape as tasks and appointments), and the changed and cancelled occurrences of a series."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.models import AppointmentException, PhoneCall, RecurringAppointment, ServiceActivity
from security.services import field_profile_upsert, secure_field

from .conftest import assert_error

pytestmark = pytest.mark.django_db

TASK_LIKE = ("/api/v1/phone-calls/", "/api/v1/letters/", "/api/v1/faxes/")
MONDAY_9 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("url", TASK_LIKE)
def test_task_like_activities_are_created_listed_and_filtered_like_tasks(clients, url):
    sally = clients["end_user"]
    for subject, status, due in (
        ("Call Fabrikam", "not_started", "2030-01-10"),
        ("Call Litware", "completed", "2030-02-10"),
    ):
        response = sally.post(
            url, {"subject": subject, "status": status, "due_date": due}, format="json"
        )
        assert response.status_code == 201, response.content
        assert response.json()["owner"]["username"] == "sally"
    assert sally.get(url).json()["count"] == 2
    assert [r["subject"] for r in sally.get(f"{url}?status=completed").json()["results"]] == [
        "Call Litware"
    ]
    assert sally.get(f"{url}?due_before=2030-02-01").json()["count"] == 1
    assert sally.get(f"{url}?q=fabrikam").json()["count"] == 1
    assert "status" in assert_error(sally.get(f"{url}?status=nope"), 400)["fields"]
    # Another user's activities are not there for her.
    assert clients["restricted"].get(url).json()["count"] == 0


def test_service_activities_are_appointments_in_the_api(clients):
    sally = clients["end_user"]
    bad = sally.post(
        "/api/v1/service-activities/",
        {
            "subject": "Repair",
            "scheduled_start": "2030-01-01T10:00:00Z",
            "scheduled_end": "2030-01-01T09:00:00Z",
        },
        format="json",
    )
    assert "scheduled_end" in assert_error(bad, 400, "invalid")["fields"]
    made = sally.post(
        "/api/v1/service-activities/",
        {
            "subject": "Repair",
            "location": "Workshop",
            "scheduled_start": "2030-01-01T10:00:00Z",
            "scheduled_end": "2030-01-01T12:00:00Z",
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    listed = sally.get("/api/v1/service-activities/?start_after=2030-01-01T00:00:00Z").json()
    assert [r["location"] for r in listed["results"]] == ["Workshop"]
    assert ServiceActivity.objects.get().owner.username == "sally"


def test_a_secured_field_of_a_new_entity_is_absent_and_not_writable(clients, org):
    PhoneCall.objects.create(owner=org["rita"], subject="Call", description="private notes")
    secure_field(entity="phone_call", column="description")
    body = clients["restricted"].get("/api/v1/phone-calls/").json()["results"][0]
    assert "description" not in body and body["subject"] == "Call"
    refused = clients["restricted"].post(
        "/api/v1/phone-calls/", {"subject": "x", "description": "y"}, format="json"
    )
    assert set(assert_error(refused, 403, "field_not_writable")["fields"]) == {"description"}


# ---- changed and cancelled occurrences of a series -----------------------------------------


@pytest.fixture
def series(org):  # type: ignore[no-untyped-def]
    return RecurringAppointment.objects.create(
        owner=org["sally"],
        subject="Weekly review",
        location="Teams",
        scheduled_start=MONDAY_9,
        scheduled_end=MONDAY_9 + dt.timedelta(minutes=30),
        recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=10",
    )


def test_an_occurrence_is_moved_cancelled_and_restored_through_the_api(clients, series):
    sally = clients["end_user"]
    url = f"/api/v1/recurring-appointments/{series.pk}/exceptions/"
    moved = sally.post(
        url,
        {
            "original_start": "2030-01-14T09:00:00Z",
            "scheduled_start": "2030-01-14T11:00:00Z",
            "scheduled_end": "2030-01-14T11:30:00Z",
            "subject": "Review (moved)",
        },
        format="json",
    )
    assert moved.status_code == 201, moved.content
    cancelled = sally.post(
        url, {"original_start": "2030-01-21T09:00:00Z", "is_cancelled": True}, format="json"
    )
    assert cancelled.status_code == 201
    record = sally.get(f"/api/v1/recurring-appointments/{series.pk}/").json()
    assert [
        (e["original_start"], e["is_cancelled"], e["subject"]) for e in record["exceptions"]
    ] == [
        ("2030-01-14T09:00:00Z", False, "Review (moved)"),
        ("2030-01-21T09:00:00Z", True, None),
    ]
    assert record["exceptions"][0]["location"] is None  # as the series
    assert len(sally.get(url).json()) == 2
    gone = sally.delete(f"{url}{cancelled.json()['id']}/")
    assert gone.status_code == 204
    assert AppointmentException.objects.count() == 1


def test_a_bad_occurrence_is_400_with_words(clients, series):
    sally = clients["end_user"]
    url = f"/api/v1/recurring-appointments/{series.pk}/exceptions/"
    tuesday = sally.post(
        url, {"original_start": "2030-01-15T09:00:00Z", "is_cancelled": True}, format="json"
    )
    error = assert_error(tuesday, 400, "invalid")
    assert "no occurrence starting at 2030-01-15 09:00" in error["fields"]["original_start"][0]
    backwards = sally.post(
        url,
        {
            "original_start": "2030-01-14T09:00:00Z",
            "scheduled_start": "2030-01-14T11:00:00Z",
            "scheduled_end": "2030-01-14T10:00:00Z",
        },
        format="json",
    )
    assert "scheduled_end" in assert_error(backwards, 400)["fields"]
    missing = sally.post(url, {"is_cancelled": True}, format="json")
    assert "original_start" in assert_error(missing, 400)["fields"]
    unchanged = sally.post(url, {"original_start": "2030-01-14T09:00:00Z"}, format="json")
    assert "would take place as the series puts it" in str(assert_error(unchanged, 400))
    unknown = sally.delete(f"{url}00000000-0000-0000-0000-000000000000/")
    assert_error(unknown, 404, "not_found")
    assert not AppointmentException.objects.exists()


def test_after_a_daylight_saving_change_an_occurrence_is_at_its_local_time(clients, org):
    org["sally"].time_zone = "Europe/Berlin"
    org["sally"].save(update_fields=["time_zone"])
    nine_in_berlin = dt.datetime(2030, 3, 18, 8, 0, tzinfo=dt.UTC)  # 09:00 CET
    series = RecurringAppointment.objects.create(
        owner=org["sally"],
        subject="Weekly review",
        scheduled_start=nine_in_berlin,
        scheduled_end=nine_in_berlin + dt.timedelta(minutes=30),
        recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=4",
    )
    sally = clients["end_user"]
    url = f"/api/v1/recurring-appointments/{series.pk}/exceptions/"
    # Summer time from 31 March: 09:00 in Berlin is 07:00 UTC on 1 April, not 08:00.
    shifted = sally.post(
        url, {"original_start": "2030-04-01T08:00:00Z", "is_cancelled": True}, format="json"
    )
    error = assert_error(shifted, 400, "invalid")
    words = error["fields"]["original_start"][0]
    assert "no occurrence starting at 2030-04-01 10:00 (Europe/Berlin time)" in words
    assert "the nearest starts at 2030-04-01 09:00" in words  # in the series' zone
    local = sally.post(
        url, {"original_start": "2030-04-01T07:00:00Z", "is_cancelled": True}, format="json"
    )
    assert local.status_code == 201, local.content
    record = sally.get(f"/api/v1/recurring-appointments/{series.pk}/").json()
    assert [e["original_start"] for e in record["exceptions"]] == ["2030-04-01T07:00:00Z"]


def test_a_monthly_day_31_has_its_occurrence_on_a_shorter_months_last_day(clients, org):
    jan_31 = dt.datetime(2028, 1, 31, 9, 0, tzinfo=dt.UTC)
    series = RecurringAppointment.objects.create(
        owner=org["sally"],
        subject="Month end",
        scheduled_start=jan_31,
        scheduled_end=jan_31 + dt.timedelta(hours=1),
        recurrence_pattern="FREQ=MONTHLY;BYMONTHDAY=31;COUNT=6",
    )
    sally = clients["end_user"]
    url = f"/api/v1/recurring-appointments/{series.pk}/exceptions/"
    for day in ("2028-02-29T09:00:00Z", "2028-04-30T09:00:00Z"):
        made = sally.post(url, {"original_start": day, "subject": "Closing"}, format="json")
        assert made.status_code == 201, made.content
    not_last = sally.post(
        url, {"original_start": "2028-04-29T09:00:00Z", "is_cancelled": True}, format="json"
    )
    assert_error(not_last, 400, "invalid")


def test_exceptions_follow_the_series_security(clients, org, series):
    AppointmentException.objects.create(series=series, original_start=MONDAY_9, location="Room 1")
    url = f"/api/v1/recurring-appointments/{series.pk}/exceptions/"
    # Another salesperson does not see the series, so not its occurrences either.
    assert_error(clients["restricted"].get(url), 404)
    refused = clients["restricted"].post(
        url, {"original_start": "2030-01-14T09:00:00Z", "is_cancelled": True}, format="json"
    )
    assert_error(refused, 404)
    # A secured column of the series is secured on its occurrences too.
    secure_field(entity="recurring_appointment", column="location")
    field_profile_upsert(
        name="Series subject only",
        grants={("recurring_appointment", "subject"): ("read",)},
        users=[org["sally"]],
    )
    shown = clients["end_user"].get(url).json()
    assert "location" not in shown[0]
    written = clients["end_user"].post(
        url, {"original_start": "2030-01-14T09:00:00Z", "location": "Room 2"}, format="json"
    )
    assert set(assert_error(written, 403, "field_not_writable")["fields"]) == {"location"}
    assert AppointmentException.objects.count() == 1
