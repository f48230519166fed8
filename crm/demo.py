"""Deterministic demo records for an evaluator to click through (used by seed_demo)."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from django.utils import timezone

from .models import (
    Appointment,
    AppointmentException,
    Contact,
    Fax,
    Letter,
    PhoneCall,
    Priority,
    RecurringAppointment,
    ServiceActivity,
    ShowTimeAs,
    Task,
    TaskStatus,
)

FIRST = [
    "Ann",
    "Bob",
    "Carla",
    "Dev",
    "Emma",
    "Farid",
    "Gita",
    "Hugo",
    "Ines",
    "Jon",
    "Kira",
    "Liam",
    "Maya",
    "Nils",
    "Olga",
    "Pia",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
]
LAST = [
    "Adler",
    "Berg",
    "Costa",
    "Dahl",
    "Engel",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Klein",
    "Lund",
    "Meyer",
    "Novak",
    "Ortiz",
    "Petrov",
    "Quist",
    "Ruiz",
    "Silva",
    "Tanaka",
]
COMPANIES = [
    "Fabrikam",
    "Northwind",
    "Litware",
    "Tailspin",
    "Woodgrove",
    "Proseware",
    "Adventure-Works",
    "Contoso-Pharma",
]
CITIES = [
    ("Seattle", "WA", "98101"),
    ("Portland", "OR", "97201"),
    ("Denver", "CO", "80202"),
    ("Austin", "TX", "73301"),
]
MEETINGS = ["Demo", "Review", "Kick-off", "Lunch"]
TODOS = ["Send quote to", "Call", "Follow up with"]
NS = uuid.UUID("6f1d3c52-5a4e-4a0b-9b57-8f1d2a3c4e5f")


def _id(kind: str, owner: str, n: int) -> uuid.UUID:
    return uuid.uuid5(NS, f"{kind}:{owner}:{n}")


def seed_records(  # type: ignore[no-untyped-def]
    owner, *, contacts: int = 120, appointments: int = 40, tasks: int = 40, activities: int = 8
) -> int:
    """Create the owner's demo records unless they exist (ids are deterministic). Returns count."""
    rng = random.Random(owner.username)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    made = 0
    existing = set(Contact.objects.filter(owner=owner).values_list("id", flat=True))
    new_contacts = []
    for n in range(contacts):
        pk = _id("contact", owner.username, n)
        if pk in existing:
            continue
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company = rng.choice(COMPANIES)
        city, state, zip_code = rng.choice(CITIES)
        new_contacts.append(
            Contact(
                id=pk,
                owner=owner,
                first_name=first,
                last_name=last,
                job_title=rng.choice(["Buyer", "CFO", "IT Manager", "Office Manager", "Engineer"]),
                company_name=company,
                email=f"{first}.{last}{n}@{company.lower()}.example".lower(),
                business_phone=f"+1 206 555 {1000 + n:04d}",
                mobile_phone=f"+1 425 555 {2000 + n:04d}",
                address1_street=f"{rng.randint(1, 999)} Main St",
                address1_city=city,
                address1_state_or_province=state,
                address1_postal_code=zip_code,
                address1_country="United States",
                birthday=dt.date(1960 + rng.randint(0, 40), rng.randint(1, 12), rng.randint(1, 28)),
                description=f"Met at the {rng.choice(['spring', 'autumn'])} trade show.",
            )
        )
    made += len(Contact.objects.bulk_create(new_contacts))

    existing = set(Appointment.objects.filter(owner=owner).values_list("id", flat=True))
    new_appointments = []
    for n in range(appointments):
        pk = _id("appointment", owner.username, n)
        if pk in existing:
            continue
        start = now + dt.timedelta(days=rng.randint(-10, 30), hours=rng.randint(-4, 4))
        new_appointments.append(
            Appointment(
                id=pk,
                owner=owner,
                subject=f"{rng.choice(MEETINGS)} with {rng.choice(COMPANIES)}",
                location=rng.choice(["Teams", "Their office", "Our office"]),
                scheduled_start=start,
                scheduled_end=start + dt.timedelta(minutes=rng.choice([30, 60, 90])),
                organizer=owner.email,
                priority=rng.choice(Priority.values),
                appointment_status=ShowTimeAs.BUSY,
            )
        )
    made += len(Appointment.objects.bulk_create(new_appointments))

    pk = _id("recurring", owner.username, 0)
    if not RecurringAppointment.objects.filter(pk=pk).exists():
        start = (now + dt.timedelta(days=(7 - now.weekday()) % 7)).replace(hour=9)
        RecurringAppointment.objects.create(
            id=pk,
            owner=owner,
            subject="Weekly pipeline review",
            location="Teams",
            scheduled_start=start,
            scheduled_end=start + dt.timedelta(minutes=30),
            recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=12",
            organizer=owner.email,
        )
        made += 1
    made += _seed_exceptions(RecurringAppointment.objects.get(pk=pk))

    existing = set(Task.objects.filter(owner=owner).values_list("id", flat=True))
    new_tasks = []
    for n in range(tasks):
        pk = _id("task", owner.username, n)
        if pk in existing:
            continue
        status = rng.choice(TaskStatus.values)
        new_tasks.append(
            Task(
                id=pk,
                owner=owner,
                subject=f"{rng.choice(TODOS)} {rng.choice(COMPANIES)}",
                status=status,
                percent_complete=100 if status == TaskStatus.COMPLETED else rng.choice([0, 25, 50]),
                due_date=(now + dt.timedelta(days=rng.randint(-5, 20))).date(),
                priority=rng.choice(Priority.values),
            )
        )
    made += len(Task.objects.bulk_create(new_tasks))
    made += _seed_activities(owner, rng, now, activities)
    return made


def _seed_exceptions(series: RecurringAppointment) -> int:
    """The weekly review's third occurrence moved an hour later, its fifth cancelled."""
    if series.exceptions.exists():
        return 0
    starts = series.occurrence_starts(limit=5)
    if len(starts) < 5:
        return 0
    duration = series.scheduled_end - series.scheduled_start
    moved = starts[2] + dt.timedelta(hours=1)
    AppointmentException.objects.create(
        series=series,
        original_start=starts[2],
        scheduled_start=moved,
        scheduled_end=moved + duration,
        subject="Pipeline review (moved: quarter close)",
    )
    AppointmentException.objects.create(series=series, original_start=starts[4], is_cancelled=True)
    return 2


TASK_LIKE = {
    PhoneCall: ("phone", ["Call back", "Check in with", "Confirm order by phone with"]),
    Letter: ("letter", ["Send contract to", "Mail brochure to", "Thank-you letter to"]),
    Fax: ("fax", ["Fax signed order to", "Fax price list to", "Fax delivery note to"]),
}


def _seed_activities(owner, rng: random.Random, now: dt.datetime, count: int) -> int:  # type: ignore[no-untyped-def]
    """Phone calls, letters and faxes (Outlook tasks) and service activities (appointments)."""
    made = 0
    for model, (kind, verbs) in TASK_LIKE.items():
        existing = set(model.objects.filter(owner=owner).values_list("id", flat=True))
        new = []
        for n in range(count):
            pk = _id(kind, owner.username, n)
            if pk in existing:
                continue
            status = rng.choice(TaskStatus.values)
            new.append(
                model(
                    id=pk,
                    owner=owner,
                    subject=f"{rng.choice(verbs)} {rng.choice(COMPANIES)}",
                    status=status,
                    start_date=(now - dt.timedelta(days=rng.randint(0, 5))).date(),
                    due_date=(now + dt.timedelta(days=rng.randint(-5, 20))).date(),
                    actual_end=now if status == TaskStatus.COMPLETED else None,
                    priority=rng.choice(Priority.values),
                )
            )
        made += len(model.objects.bulk_create(new))
    existing = set(ServiceActivity.objects.filter(owner=owner).values_list("id", flat=True))
    new_services = []
    for n in range(count):
        pk = _id("service", owner.username, n)
        if pk in existing:
            continue
        start = now + dt.timedelta(days=rng.randint(1, 30), hours=rng.randint(-3, 3))
        new_services.append(
            ServiceActivity(
                id=pk,
                owner=owner,
                subject=f"{rng.choice(['Installation', 'Maintenance', 'Repair'])} at "
                f"{rng.choice(COMPANIES)}",
                location=rng.choice(["Customer site", "Workshop"]),
                scheduled_start=start,
                scheduled_end=start + dt.timedelta(hours=rng.choice([1, 2, 4])),
                organizer=owner.email,
                priority=rng.choice(Priority.values),
                appointment_status=ShowTimeAs.BUSY,
            )
        )
    made += len(ServiceActivity.objects.bulk_create(new_services))
    return made
