"""Phone calls, letters, faxes and service activities are CRM records like the others (change
numbers, tombstones, security, demo data); a recurring series holds its changed and cancelled
occurrences as exceptions, and changing one is a change of the series."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.utils import timezone

from crm.demo import seed_records
from crm.models import (
    CRM_MODELS,
    AppointmentException,
    Fax,
    Letter,
    PhoneCall,
    RecurringAppointment,
    ServiceActivity,
    TaskStatus,
    Tombstone,
)
from crm.services import exception_delete, exception_save, record_create
from fieldsync.catalog import get_catalog
from security import policy
from security.services import field_profile_upsert, role_upsert, secure_field, share_record

pytestmark = pytest.mark.django_db

NEW = ("phone_call", "letter", "fax", "service_activity")
MONDAY_9 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def owner(make_user):  # type: ignore[no-untyped-def]
    return make_user("sally")


def _new(entity: str, owner, **values):  # type: ignore[no-untyped-def]
    if entity == "service_activity":
        values.setdefault("scheduled_start", MONDAY_9)
        values.setdefault("scheduled_end", MONDAY_9 + dt.timedelta(hours=2))
    return CRM_MODELS[entity].objects.create(owner=owner, subject="Visit", **values)


@pytest.fixture
def series(owner):  # type: ignore[no-untyped-def]
    return RecurringAppointment.objects.create(
        owner=owner,
        subject="Weekly review",
        location="Teams",
        scheduled_start=MONDAY_9,
        scheduled_end=MONDAY_9 + dt.timedelta(minutes=30),
        recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=10",
    )


# ---- the four new record types ---------------------------------------------------------------


def test_all_eight_catalog_entities_are_crm_records_with_their_rows_columns():
    catalog = get_catalog()
    assert {e.key for e in catalog.entities} == set(CRM_MODELS)
    for key in NEW:
        entity = catalog.entity(key)
        assert entity.crm_model == CRM_MODELS[key]._meta.label
        # Every row of the tab names the columns it syncs: none is left without.
        assert all(f.crm_columns for f in entity.fields), key


@pytest.mark.parametrize("entity", NEW)
def test_new_records_get_change_numbers_and_leave_tombstones(owner, entity):  # type: ignore[no-untyped-def]
    first = _new(entity, owner)
    second = _new(entity, owner)
    assert second.change_number > first.change_number
    assert first.business_unit_id == owner.business_unit_id
    pk = first.pk
    first.delete()
    stone = Tombstone.objects.get(record_id=pk)
    assert stone.entity == entity and stone.change_number > second.change_number


def test_phone_calls_letters_and_faxes_have_the_task_columns_of_their_tab(owner):  # type: ignore[no-untyped-def]
    call = PhoneCall.objects.create(
        owner=owner,
        subject="Call back Fabrikam",
        status=TaskStatus.COMPLETED,
        start_date=dt.date(2030, 1, 2),
        due_date=dt.date(2030, 1, 3),
        actual_end=MONDAY_9,
    )
    call.refresh_from_db()
    assert (call.status, call.due_date, call.actual_end) == (
        "completed",
        dt.date(2030, 1, 3),
        MONDAY_9,
    )
    assert str(Fax._meta.verbose_name_plural) == "faxes"
    assert str(Letter(subject="Contract")) == "Contract"


def test_a_service_activity_cannot_end_before_it_starts(owner):  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError):
        ServiceActivity.objects.create(
            owner=owner,
            subject="Repair",
            scheduled_start=MONDAY_9,
            scheduled_end=MONDAY_9 - dt.timedelta(hours=1),
        )


@pytest.mark.parametrize("entity", NEW)
def test_new_records_follow_roles_and_sharing(make_user, entity):  # type: ignore[no-untyped-def]
    sally, sam = make_user("sally"), make_user("sam", bu="service")
    role_upsert(
        name="Own activities",
        levels={(entity, a): "user" for a in ("create", "read", "write", "sync")},
        users=[sally, sam],
    )
    record = _new(entity, sam)
    assert not policy.can(sally, "read", record)
    # A privilege on tasks (or appointments) says nothing about the new entity.
    role_upsert(name="Tasks only", levels={("task", "read"): "organization"}, users=[sally])
    assert not policy.can(sally, "read", record)
    share_record(record=record, user_or_team=sally, rights=["sync"], actor=sam)
    assert policy.can(sally, "sync", record)
    assert policy.can(sally, "read", record)
    assert not policy.can(sally, "write", record)
    visible = policy.restrict(CRM_MODELS[entity].objects.all(), sally, "sync")
    assert list(visible) == [record]


def test_field_security_covers_the_new_entities(make_user):  # type: ignore[no-untyped-def]
    sally = make_user("sally")
    role_upsert(
        name="Own calls",
        levels={("phone_call", a): "user" for a in ("create", "read", "write")},
        users=[sally],
    )
    secure_field(entity="phone_call", column="description")
    with pytest.raises(PermissionDenied, match=r"Phone call\.description"):
        record_create(
            model=PhoneCall, values={"subject": "Call", "description": "secret"}, actor=sally
        )
    assert "description" in policy.field_access(sally, "phone_call").hidden()
    field_profile_upsert(
        name="Calls", grants={("phone_call", "description"): ("read", "create")}, users=[sally]
    )
    call = record_create(
        model=PhoneCall, values={"subject": "Call", "description": "ok"}, actor=sally
    )
    assert call.description == "ok"


def test_seed_demo_makes_the_new_activities_and_a_changed_series(owner):  # type: ignore[no-untyped-def]
    seed_records(owner, contacts=2, appointments=2, tasks=2, activities=3)
    for model in (PhoneCall, Letter, Fax, ServiceActivity):
        assert model.objects.filter(owner=owner).count() == 3, model
    series = RecurringAppointment.objects.get(owner=owner)
    exceptions = list(series.exceptions.order_by("original_start"))
    assert [e.is_cancelled for e in exceptions] == [False, True]
    assert exceptions[0].subject.startswith("Pipeline review (moved")
    again = seed_records(owner, contacts=2, appointments=2, tasks=2, activities=3)
    assert again == 0  # idempotent


# ---- exceptions of a recurring series -------------------------------------------------------


def test_a_moved_occurrence_is_an_exception_of_the_series(series):  # type: ignore[no-untyped-def]
    before = series.change_number
    third = series.occurrence_starts()[2]
    assert third == MONDAY_9 + dt.timedelta(weeks=2)
    moved = AppointmentException.objects.create(
        series=series,
        original_start=third,
        scheduled_start=third + dt.timedelta(hours=2),
        subject="Review (moved)",
    )
    series.refresh_from_db()
    assert series.change_number > before  # the sync sees the series changed
    took_place = moved.effective()
    assert took_place["start"] == third + dt.timedelta(hours=2)
    assert took_place["end"] == third + dt.timedelta(hours=2, minutes=30)
    assert took_place["subject"] == "Review (moved)"
    assert took_place["location"] == "Teams"  # not overridden: as the series


def test_cancelling_clears_overrides_and_restoring_is_a_change_too(series):  # type: ignore[no-untyped-def]
    second = series.occurrence_starts()[1]
    gone = AppointmentException.objects.create(
        series=series, original_start=second, is_cancelled=True, subject="ignored"
    )
    assert gone.subject is None
    series.refresh_from_db()
    cancelled_at = series.change_number
    gone.delete()
    series.refresh_from_db()
    assert series.change_number > cancelled_at


def test_an_occurrence_the_pattern_does_not_have_is_refused_in_words(series):  # type: ignore[no-untyped-def]
    tuesday = MONDAY_9 + dt.timedelta(days=1)
    exception = AppointmentException(series=series, original_start=tuesday, is_cancelled=True)
    with pytest.raises(ValidationError) as err:
        exception.full_clean()
    assert "has no occurrence starting at 2030-01-08 09:00" in str(err.value)
    after_the_end = MONDAY_9 + dt.timedelta(weeks=10)
    exception.original_start = after_the_end
    with pytest.raises(ValidationError):
        exception.full_clean()


def test_an_occurrence_that_changes_nothing_is_refused_in_words(series):  # type: ignore[no-untyped-def]
    exception = AppointmentException(series=series, original_start=MONDAY_9)
    with pytest.raises(ValidationError) as err:
        exception.full_clean()
    assert "would take place as the series puts it" in str(err.value)
    exception.subject = ""  # an empty subject is a change of its own
    exception.full_clean()


def test_one_exception_per_occurrence(series):  # type: ignore[no-untyped-def]
    AppointmentException.objects.create(series=series, original_start=MONDAY_9, is_cancelled=True)
    with pytest.raises(IntegrityError):
        AppointmentException.objects.create(series=series, original_start=MONDAY_9)


def test_exceptions_are_written_with_the_series_rights_and_field_security(make_user, series):  # type: ignore[no-untyped-def]
    sally = series.owner
    sam = make_user("sam")
    levels = {("recurring_appointment", a): "user" for a in ("read", "write")}
    role_upsert(name="Own series", levels=levels, users=[sally, sam])
    share_record(record=series, user_or_team=sam, rights=["read"], actor=sally)
    values = {"original_start": MONDAY_9, "is_cancelled": True}
    with pytest.raises(PermissionDenied, match="not change it"):
        exception_save(series=series, values=values, actor=sam)
    secure_field(entity="recurring_appointment", column="location")
    with pytest.raises(PermissionDenied, match="location"):
        exception_save(
            series=series, values={"original_start": MONDAY_9, "location": "Room 1"}, actor=sally
        )
    made = exception_save(series=series, values=values, actor=sally)
    replaced = exception_save(
        series=series, values={"original_start": MONDAY_9, "subject": "Kick-off"}, actor=sally
    )
    assert replaced.pk == made.pk and not replaced.is_cancelled
    assert series.exceptions.count() == 1
    with pytest.raises(PermissionDenied):
        exception_delete(exception=replaced, actor=sam)
    exception_delete(exception=replaced, actor=sally)
    assert series.exceptions.count() == 0


def test_deleting_the_series_deletes_its_exceptions(series):  # type: ignore[no-untyped-def]
    AppointmentException.objects.create(series=series, original_start=MONDAY_9, is_cancelled=True)
    pk = series.pk
    series.delete()
    assert not AppointmentException.objects.exists()
    assert Tombstone.objects.filter(record_id=pk, entity="recurring_appointment").exists()


def test_a_date_until_or_an_unreadable_pattern_does_not_break_the_check(series):  # type: ignore[no-untyped-def]
    series.recurrence_pattern = "FREQ=WEEKLY;UNTIL=20300301"  # a date: the last local day
    assert series.has_occurrence(MONDAY_9) is True
    assert series.has_occurrence(dt.datetime(2030, 3, 4, 9, tzinfo=dt.UTC)) is False
    series.recurrence_pattern = "FREQ=SOMETIMES"
    assert series.has_occurrence(MONDAY_9) is False
    assert timezone.is_aware(series.scheduled_start)


# ---- a series repeats at its local time, as Outlook expands it ------------------------------

BERLIN_9_IN_MARCH = dt.datetime(2030, 3, 18, 8, 0, tzinfo=dt.UTC)  # 09:00 CET (UTC+1)


def _may_change_own_series(user):  # type: ignore[no-untyped-def]
    levels = {("recurring_appointment", a): "user" for a in ("read", "write")}
    role_upsert(name=f"Own series of {user.username}", levels=levels, users=[user])
    return user


@pytest.fixture
def berlin_series(make_user):  # type: ignore[no-untyped-def]
    return RecurringAppointment.objects.create(
        owner=_may_change_own_series(make_user("bert", time_zone="Europe/Berlin")),
        subject="Weekly review",
        scheduled_start=BERLIN_9_IN_MARCH,
        scheduled_end=BERLIN_9_IN_MARCH + dt.timedelta(minutes=30),
        recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=4",
    )


def test_after_a_daylight_saving_change_the_occurrence_stays_at_its_local_time(berlin_series):  # type: ignore[no-untyped-def]
    # Summer time starts on 31 March 2030: 09:00 in Berlin is then 07:00 UTC.
    after_the_change = dt.datetime(2030, 4, 1, 7, 0, tzinfo=dt.UTC)
    assert berlin_series.occurrence_starts()[2] == after_the_change
    made = exception_save(
        series=berlin_series,
        values={"original_start": after_the_change, "is_cancelled": True},
        actor=berlin_series.owner,
    )
    assert made.original_start == after_the_change
    utc_shifted = dt.datetime(2030, 4, 1, 8, 0, tzinfo=dt.UTC)  # 10:00 in Berlin
    with pytest.raises(ValidationError, match="has no occurrence starting at"):
        exception_save(
            series=berlin_series,
            values={"original_start": utc_shifted, "is_cancelled": True},
            actor=berlin_series.owner,
        )


def test_without_a_zone_of_its_owner_the_series_repeats_in_the_organizations(series, settings):  # type: ignore[no-untyped-def]
    settings.TIME_ZONE = "Europe/Berlin"
    series.scheduled_start = BERLIN_9_IN_MARCH
    assert series.occurrence_starts()[2] == dt.datetime(2030, 4, 1, 7, 0, tzinfo=dt.UTC)


def test_day_31_of_a_month_falls_on_the_last_day_of_a_shorter_one(owner):  # type: ignore[no-untyped-def]
    _may_change_own_series(owner)
    jan_31 = dt.datetime(2028, 1, 31, 9, 0, tzinfo=dt.UTC)
    monthly = RecurringAppointment.objects.create(
        owner=owner,
        subject="Month end",
        scheduled_start=jan_31,
        scheduled_end=jan_31 + dt.timedelta(hours=1),
        recurrence_pattern="FREQ=MONTHLY;BYMONTHDAY=31;COUNT=5",
    )
    for day in (
        dt.datetime(2028, 2, 29, 9, tzinfo=dt.UTC),
        dt.datetime(2028, 4, 30, 9, tzinfo=dt.UTC),
    ):
        made = exception_save(
            series=monthly, values={"original_start": day, "subject": "Closing"}, actor=owner
        )
        assert made.original_start == day
    with pytest.raises(ValidationError, match="has no occurrence starting at"):
        exception_save(
            series=monthly,
            values={
                "original_start": dt.datetime(2028, 2, 28, 9, tzinfo=dt.UTC),
                "is_cancelled": True,
            },
            actor=owner,
        )
    common_year = monthly
    common_year.scheduled_start = dt.datetime(2029, 1, 31, 9, 0, tzinfo=dt.UTC)
    assert common_year.occurrence_starts()[1] == dt.datetime(2029, 2, 28, 9, tzinfo=dt.UTC)
