"""CRM records with change numbers for incremental sync and tombstones for deletions.

Column names equal the field catalog's `crm_columns` (fieldsync/catalog.json), so the sync
engine and the connectors can name CRM values without a translation table.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterable, Iterator
from typing import ClassVar

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from occurrences import expand


class ChangeCounter(models.Model):
    """The one row whose value hands out change numbers.

    Taking numbers locks the row until the transaction commits, so change numbers become
    visible in increasing order: a reader that saw number N has seen every number below N.
    That serializes CRM writes, which is the price of a sync cursor that never skips a change.
    """

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"change number {self.value}"


def reserve_change_numbers(count: int = 1) -> int:
    """Reserve `count` consecutive change numbers; returns the last one. Needs a transaction."""
    if count < 1:
        raise ValueError("count must be at least 1")
    table = connection.ops.quote_name(ChangeCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET value = value + %s WHERE id = 1 RETURNING value",  # noqa: S608
            [count],
        )
        row = cursor.fetchone()
        if row is None:  # the counter row is created by a migration; recreate if removed
            ChangeCounter.objects.create(id=1, value=count)
            return count
    return int(row[0])


class CrmQuerySet(models.QuerySet):
    """Keeps change numbers true on the bulk paths too (update, bulk_create)."""

    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        with transaction.atomic(using=self.db):
            kwargs.setdefault("change_number", reserve_change_numbers())
            kwargs.setdefault("modified_on", timezone.now())
            return super().update(**kwargs)

    def bulk_create(self, objs: Iterable[CrmRecord], *args, **kwargs):  # type: ignore[no-untyped-def,override]
        objs = list(objs)
        if not objs:
            return objs
        with transaction.atomic(using=self.db):
            last = reserve_change_numbers(len(objs))
            now = timezone.now()
            for offset, obj in enumerate(objs):
                obj.change_number = last - len(objs) + 1 + offset
                obj.modified_on = now
                obj.fill_business_unit()
            return super().bulk_create(objs, *args, **kwargs)


class CrmRecord(models.Model):
    """What every CRM record has: owner, business unit, timestamps and a change number."""

    ENTITY: ClassVar[str] = ""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    business_unit = models.ForeignKey(
        "security.BusinessUnit",
        on_delete=models.PROTECT,
        related_name="+",
        blank=True,
        help_text="The owning business unit; defaults to the owner's.",
    )
    created_on = models.DateTimeField(default=timezone.now, editable=False)
    modified_on = models.DateTimeField(default=timezone.now, editable=False)
    change_number = models.BigIntegerField(default=0, editable=False, db_index=True)

    objects = CrmQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        with transaction.atomic():
            self.fill_business_unit()
            self.change_number = reserve_change_numbers()
            self.modified_on = timezone.now()
            super().save(*args, **kwargs)

    def fill_business_unit(self) -> None:
        if self.business_unit_id is None and self.owner_id is not None:
            self.business_unit_id = self.owner.business_unit_id


class Priority(models.IntegerChoices):
    """CRM priority; Outlook calls it importance (low, normal, high)."""

    LOW = 0, "Low"
    NORMAL = 1, "Normal"
    HIGH = 2, "High"


class ShowTimeAs(models.TextChoices):
    """An appointment's status as Outlook shows it ("Show time as")."""

    FREE = "free", "Free"
    TENTATIVE = "tentative", "Tentative"
    BUSY = "busy", "Busy"
    OUT_OF_OFFICE = "out_of_office", "Out of office"


class TaskStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING = "waiting", "Waiting on someone else"
    COMPLETED = "completed", "Completed"
    DEFERRED = "deferred", "Deferred"


def _text(max_length: int = 200) -> models.CharField:
    return models.CharField(max_length=max_length, blank=True, default="")


class Contact(CrmRecord):
    ENTITY = "contact"

    first_name = _text(100)
    middle_name = _text(100)
    last_name = _text(100)
    nickname = _text(100)
    yomi_first_name = _text(100)
    yomi_last_name = _text(100)
    job_title = _text(100)
    company_name = _text(160)
    department = _text(100)
    manager = _text(100)
    assistant = _text(100)
    spouse_partner_name = _text(100)
    childrens_names = _text(255)
    government_id = _text(50)
    email = models.EmailField(blank=True, default="")
    email_address_2 = models.EmailField(blank=True, default="")
    email_address_3 = models.EmailField(blank=True, default="")
    business_phone = _text(50)
    business_phone_2 = _text(50)
    company_phone = _text(50)
    home_phone = _text(50)
    home_phone_2 = _text(50)
    mobile_phone = _text(50)
    telephone_3 = _text(50)
    assistant_phone = _text(50)
    callback_number = _text(50)
    pager = _text(50)
    fax = _text(50)
    website = _text(200)
    ftp_site = _text(200)
    birthday = models.DateField(null=True, blank=True)
    anniversary = models.DateField(null=True, blank=True)
    description = models.TextField(blank=True, default="")
    # Address 1 is the mailing (business) address, 2 the home address, 3 the other address.
    address1_street = _text(250)
    address1_city = _text(80)
    address1_state_or_province = _text(50)
    address1_postal_code = _text(20)
    address1_country = _text(80)
    address2_street = _text(250)
    address2_city = _text(80)
    address2_state_or_province = _text(50)
    address2_postal_code = _text(20)
    address2_country = _text(80)
    address3_street = _text(250)
    address3_city = _text(80)
    address3_state_or_province = _text(50)
    address3_postal_code = _text(20)
    address3_country = _text(80)

    class Meta:
        ordering = ["last_name", "first_name"]
        indexes = [models.Index(fields=["owner", "change_number"])]
        # Shareable right "sync to Exchange/Outlook" (security.policy.Action.SYNC).
        permissions = [("sync_contact", "Can sync contact with Exchange/Outlook")]

    def __str__(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email or "?"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)


class ActivityFields(CrmRecord):
    """Columns every synchronized activity shares."""

    subject = _text(200)
    description = models.TextField(blank=True, default="")
    priority = models.IntegerField(choices=Priority.choices, default=Priority.NORMAL)
    regarding = _text(200)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.subject or "(no subject)"


class AppointmentFields(ActivityFields):
    location = _text(200)
    organizer = models.EmailField(blank=True, default="")
    # Attendees as e-mail addresses separated by "; ", the way Outlook lists them.
    required_attendees = models.TextField(blank=True, default="")
    optional_attendees = models.TextField(blank=True, default="")
    appointment_status = models.CharField(
        max_length=20, choices=ShowTimeAs.choices, default=ShowTimeAs.BUSY
    )
    scheduled_start = models.DateTimeField()
    scheduled_end = models.DateTimeField()
    is_all_day_event = models.BooleanField(default=False)

    class Meta:
        abstract = True

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if (
            self.scheduled_start
            and self.scheduled_end
            and self.scheduled_end < self.scheduled_start
        ):
            raise ValidationError({"scheduled_end": "The end cannot be before the start."})


class Appointment(AppointmentFields):
    ENTITY = "appointment"

    class Meta:
        ordering = ["scheduled_start"]
        indexes = [models.Index(fields=["owner", "change_number"])]
        permissions = [("sync_appointment", "Can sync appointment with Exchange/Outlook")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scheduled_end__gte=models.F("scheduled_start")),
                name="appointment_end_after_start",
            )
        ]


class RecurringAppointment(AppointmentFields):
    """A recurring appointment's series master: first occurrence times plus an RFC 5545 RRULE.

    Occurrences are expanded by the calendar, not stored; a single occurrence moved, edited
    or cancelled is an AppointmentException of the series (`series.exceptions`).
    """

    ENTITY = "recurring_appointment"

    recurrence_pattern = models.CharField(
        max_length=500, help_text="An RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO;COUNT=10"
    )

    class Meta:
        ordering = ["scheduled_start"]
        indexes = [models.Index(fields=["owner", "change_number"])]
        permissions = [
            ("sync_recurringappointment", "Can sync recurring appointment with Exchange/Outlook")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scheduled_end__gte=models.F("scheduled_start")),
                name="recurring_appointment_end_after_start",
            )
        ]

    def series_zone(self) -> zoneinfo.ZoneInfo:
        """The zone the series repeats in: its owner's time zone, else the organization's
        (settings.TIME_ZONE). A series at 09:00 stays at 09:00 there across a daylight-saving
        change, as Outlook expands it."""
        name = getattr(self.owner, "time_zone", "") if self.owner_id else ""
        try:
            return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo(settings.TIME_ZONE)

    def _first(self) -> dt.datetime:
        return self.scheduled_start.astimezone(self.series_zone())

    def occurrence_starts(self, *, limit: int = 1000) -> list[dt.datetime]:
        """The starts of the series' occurrences as the pattern puts them, in UTC (at most
        `limit`; an endless pattern is cut there), expanded as Outlook does
        (occurrences/expand.py): at the first occurrence's wall-clock time in the series' zone,
        a day 29-31 on a shorter month's last day. ValueError for a pattern that cannot be
        read."""
        starts = expand.occurrence_starts(self.recurrence_pattern, self._first(), limit=limit)
        return [moment.astimezone(dt.UTC) for moment in starts]

    def has_occurrence(self, start: dt.datetime) -> bool:
        """Whether the pattern puts an occurrence at `start`."""
        if self.scheduled_start is None:
            return False
        return expand.has_occurrence(self.recurrence_pattern, self._first(), start)


class TaskFields(ActivityFields):
    """Columns of the activities Outlook shows as tasks: tasks, phone calls, letters, faxes."""

    status = models.CharField(
        max_length=20, choices=TaskStatus.choices, default=TaskStatus.NOT_STARTED
    )
    start_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    actual_end = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class Task(TaskFields):
    ENTITY = "task"

    percent_complete = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["due_date"]
        indexes = [models.Index(fields=["owner", "change_number"])]
        permissions = [("sync_task", "Can sync task with Exchange/Outlook")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(percent_complete__lte=100), name="task_percent_complete_0_100"
            )
        ]


class PhoneCall(TaskFields):
    """A phone call; Outlook shows it as a task (Dynamics tracks an Outlook task as one)."""

    ENTITY = "phone_call"

    class Meta:
        ordering = ["due_date"]
        verbose_name = "phone call"
        indexes = [models.Index(fields=["owner", "change_number"])]
        permissions = [("sync_phonecall", "Can sync phone call with Exchange/Outlook")]


class Letter(TaskFields):
    """A letter; Outlook shows it as a task."""

    ENTITY = "letter"

    class Meta:
        ordering = ["due_date"]
        indexes = [models.Index(fields=["owner", "change_number"])]
        permissions = [("sync_letter", "Can sync letter with Exchange/Outlook")]


class Fax(TaskFields):
    """A fax; Outlook shows it as a task."""

    ENTITY = "fax"

    class Meta:
        ordering = ["due_date"]
        verbose_name = "fax"
        verbose_name_plural = "faxes"
        indexes = [models.Index(fields=["owner", "change_number"])]
        permissions = [("sync_fax", "Can sync fax with Exchange/Outlook")]


class ServiceActivity(AppointmentFields):
    """A service activity (a scheduled service); Outlook shows it as an appointment, written
    from the CRM only: every field of its catalog tab is fixed one way, CRM to Outlook."""

    ENTITY = "service_activity"

    class Meta:
        ordering = ["scheduled_start"]
        verbose_name = "service activity"
        verbose_name_plural = "service activities"
        indexes = [models.Index(fields=["owner", "change_number"])]
        permissions = [("sync_serviceactivity", "Can sync service activity with Exchange/Outlook")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scheduled_end__gte=models.F("scheduled_start")),
                name="service_activity_end_after_start",
            )
        ]


_QUIET: contextvars.ContextVar[bool] = contextvars.ContextVar("quiet_exceptions", default=False)


@contextlib.contextmanager
def quiet_exceptions() -> Iterator[None]:
    """Write exceptions without giving their series a new change number: for the sync, which
    writes a series and its exceptions together under the change number it reserved."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


class AppointmentException(models.Model):
    """One occurrence of a recurring series that differs from its pattern: moved or edited
    (an Outlook "exception"), or cancelled (a deleted occurrence).

    The occurrence is named by `original_start`, its start as the pattern puts it (Outlook's
    OriginalStart, iCalendar's RECURRENCE-ID). An override column left empty (None) means "as
    the series"; a cancelled occurrence carries no overrides. Exceptions belong to their
    series: they have no owner, rights or change number of their own; saving or deleting one
    gives the series a new change number, so the sync sends the series again with its
    exceptions.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    series = models.ForeignKey(
        RecurringAppointment, on_delete=models.CASCADE, related_name="exceptions"
    )
    original_start = models.DateTimeField(
        help_text="The occurrence's start as the recurrence pattern puts it."
    )
    is_cancelled = models.BooleanField(
        "cancelled", default=False, help_text="The occurrence was deleted: it does not take place."
    )
    scheduled_start = models.DateTimeField(
        "moved start", null=True, blank=True, help_text="Empty: as the pattern puts it."
    )
    scheduled_end = models.DateTimeField(
        "moved end", null=True, blank=True, help_text="Empty: the series' duration."
    )
    # None, not "": an override to an empty subject is a change of its own.
    subject = models.CharField(  # noqa: DJ001
        max_length=200, null=True, blank=True, help_text="Empty: the series' subject."
    )
    location = models.CharField(  # noqa: DJ001
        max_length=200, null=True, blank=True, help_text="Empty: the series' location."
    )
    description = models.TextField(  # noqa: DJ001
        null=True, blank=True, help_text="Empty: the series' description."
    )
    modified_on = models.DateTimeField(default=timezone.now, editable=False)

    # The override columns, named as the series' columns (field security applies to them).
    OVERRIDES: ClassVar[tuple[str, ...]] = (
        "scheduled_start",
        "scheduled_end",
        "subject",
        "location",
        "description",
    )

    class Meta:
        ordering = ["series", "original_start"]
        verbose_name = "changed or cancelled occurrence"
        verbose_name_plural = "changed or cancelled occurrences"
        constraints = [
            models.UniqueConstraint(
                fields=["series", "original_start"], name="appointment_exception_once"
            ),
            models.CheckConstraint(
                condition=models.Q(scheduled_end__isnull=True)
                | models.Q(scheduled_start__isnull=True)
                | models.Q(scheduled_end__gte=models.F("scheduled_start")),
                name="appointment_exception_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        state = "cancelled" if self.is_cancelled else "changed"
        return f"{self.series}: occurrence of {self.original_start:%Y-%m-%d %H:%M} {state}"

    def save(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        with transaction.atomic():
            if self.is_cancelled:
                for column in self.OVERRIDES:
                    setattr(self, column, None)
            self.modified_on = timezone.now()
            super().save(*args, **kwargs)
            self.touch_series()

    def touch_series(self) -> None:
        """Give the series a new change number (the sync's cursor sees the exception)."""
        if not _QUIET.get():
            RecurringAppointment.objects.filter(pk=self.series_id).update()

    def effective(self, series: RecurringAppointment | None = None) -> dict[str, object]:
        """The occurrence as it takes place: overrides, else the series' values."""
        series = series or self.series
        start = self.scheduled_start or self.original_start
        duration = series.scheduled_end - series.scheduled_start
        return {
            "start": start,
            "end": self.scheduled_end or start + duration,
            "subject": series.subject if self.subject is None else self.subject,
            "location": series.location if self.location is None else self.location,
            "description": series.description if self.description is None else self.description,
            "cancelled": self.is_cancelled,
        }

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if (
            self.scheduled_start
            and self.scheduled_end
            and self.scheduled_end < self.scheduled_start
        ):
            raise ValidationError({"scheduled_end": "The end cannot be before the start."})
        if not self.is_cancelled and all(getattr(self, c) is None for c in self.OVERRIDES):
            raise ValidationError(
                "This occurrence would take place as the series puts it: change its start, end, "
                "subject, location or description, or mark it cancelled."
            )
        series = self.series if self.series_id else None
        start = self.original_start
        if series is not None and start is not None and not series.has_occurrence(start):
            raise ValidationError({"original_start": _no_occurrence_words(series, start)})


def _no_occurrence_words(series: RecurringAppointment, start: dt.datetime) -> str:
    """Why `start` is refused, in the series' time zone, with the nearest occurrence."""
    zone = series.series_zone()
    words = (
        f"The series has no occurrence starting at {start.astimezone(zone):%Y-%m-%d %H:%M} "
        f"({zone.key} time)"
    )
    try:
        starts = series.occurrence_starts()
    except ValueError:
        starts = []
    if starts:
        nearest = min(starts, key=lambda s: abs(s - start)).astimezone(zone)
        words += f"; the nearest starts at {nearest:%Y-%m-%d %H:%M}"
    return words + ". Give the start of one of its occurrences as the pattern puts it."


class Tombstone(models.Model):
    """A deleted record, kept so an incremental sync can see what disappeared."""

    entity = models.CharField(max_length=40)
    record_id = models.UUIDField()
    owner_id = models.BigIntegerField(null=True)
    business_unit_id = models.BigIntegerField(null=True)
    change_number = models.BigIntegerField(db_index=True)
    deleted_on = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["entity", "change_number"])]

    def __str__(self) -> str:
        return f"{self.entity} {self.record_id} deleted at change {self.change_number}"


CRM_MODELS: dict[str, type[CrmRecord]] = {
    m.ENTITY: m
    for m in (
        Contact,
        Appointment,
        RecurringAppointment,
        Task,
        PhoneCall,
        Letter,
        Fax,
        ServiceActivity,
    )
}
