"""Phone calls, letters and faxes sync as Outlook tasks, service activities as appointments
written one way (in memory, EWS through exchangelib, CalDAV on Radicale, Microsoft Graph's To Do
tasks and Outlook calendar events): what lands in the mailbox, how each item says which activity
it is, and that the item's type survives a user's edit. Each scenario runs on the connectors
where it could turn out differently (runs_on.py)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from connectors.base import ACTIVITY_TYPE
from crm.models import (
    Appointment,
    AppointmentException,
    Contact,
    Fax,
    Letter,
    PhoneCall,
    RecurringAppointment,
    ServiceActivity,
    Task,
)
from fieldsync.models.sync import SyncLink, SyncPolicy
from fieldsync.service.rules import ENTITIES
from tests.connectors.graph_fixtures import graph, graph_server, make_graph  # noqa: F401

from .runs_on import connector_scenario, engine_scenario

pytestmark = pytest.mark.django_db


TASK_LIKE = {"task": Task, "phone_call": PhoneCall, "letter": Letter, "fax": Fax}
START = datetime.datetime(2026, 12, 7, 9, tzinfo=datetime.UTC)


def item_id_of(record) -> str:  # type: ignore[no-untyped-def]
    return SyncLink.objects.get(crm_id=record.pk).item_id


def settled(sync, *entities: str) -> None:  # type: ignore[no-untyped-def]
    """No drift: once each entity has seen the echo of its own writes, a further run finds
    nothing to do on either side."""
    for entity in entities:
        sync(entity)
    for entity in entities:
        assert sync(entity).plan.records == (), entity


@connector_scenario
def test_phone_calls_letters_and_faxes_are_tasks_in_outlook_told_apart_by_their_type(
    sync, sally, mailbox
):
    records = {
        entity: model.objects.create(
            owner=sally, subject=f"{entity} subject", due_date=datetime.date(2026, 12, 3)
        )
        for entity, model in TASK_LIKE.items()
    }
    for entity in TASK_LIKE:
        assert sync(entity).counts["exchange_created"] == 1, entity
    items = mailbox.items("tasks")
    assert len(items) == 4
    for entity, record in records.items():
        got = items[item_id_of(record)]
        assert got.crm_id == str(record.pk)
        assert got.fields["subject"] == f"{entity} subject"
        assert got.fields["due_date"] == datetime.date(2026, 12, 3)
        assert (got.fields.get(ACTIVITY_TYPE) or "") == ("" if entity == "task" else entity)
    settled(sync, *TASK_LIKE)  # each entity leaves the others' items alone


@connector_scenario
def test_an_outlook_edit_keeps_the_items_type_and_reaches_the_right_record(sync, sally, mailbox):
    call = PhoneCall.objects.create(owner=sally, subject="Call Fabrikam")
    task = Task.objects.create(owner=sally, subject="Send quote")
    sync("phone_call")
    sync("task")
    mailbox.edit("tasks", item_id_of(call), subject="Call Fabrikam back", status="completed")
    assert sync("task").plan.records == ()  # not the task's item
    sync("phone_call")
    call.refresh_from_db()
    task.refresh_from_db()
    assert (call.subject, call.status) == ("Call Fabrikam back", "completed")
    assert task.subject == "Send quote"
    edited = mailbox.items("tasks")[item_id_of(call)]
    assert edited.fields[ACTIVITY_TYPE] == "phone_call"  # the user's edit left it in place
    call.subject = "Call Fabrikam (CRM)"
    call.save()
    sync("phone_call")
    assert mailbox.items("tasks")[item_id_of(call)].fields[ACTIVITY_TYPE] == "phone_call"
    assert PhoneCall.objects.count() == 1 and Task.objects.count() == 1
    settled(sync, *TASK_LIKE)


@connector_scenario
def test_a_tracked_outlook_task_is_a_task_unless_the_item_says_otherwise(sync, sally, mailbox):
    mailbox.create("tasks", {"subject": "Plain to-do"})
    mailbox.create("tasks", {"subject": "Ring Litware", ACTIVITY_TYPE: "phone_call"})
    mailbox.create("tasks", {"subject": "Odd type", ACTIVITY_TYPE: "carrier_pigeon"})
    for entity in TASK_LIKE:
        sync(entity)
    assert sorted(Task.objects.values_list("subject", flat=True)) == ["Odd type", "Plain to-do"]
    assert list(PhoneCall.objects.values_list("subject", flat=True)) == ["Ring Litware"]
    assert not Letter.objects.exists() and not Fax.objects.exists()
    settled(sync, *TASK_LIKE)


@engine_scenario
def test_the_directions_on_the_phone_call_tab_decide_for_phone_calls(
    sync, sally, mailbox, set_direction
):
    set_direction("phone_call", "subject", "to_outlook")
    call = PhoneCall.objects.create(owner=sally, subject="Call Contoso")
    task = Task.objects.create(owner=sally, subject="Write offer")
    sync("phone_call")
    sync("task")
    mailbox.edit("tasks", item_id_of(call), subject="edited in Outlook")
    mailbox.edit("tasks", item_id_of(task), subject="edited in Outlook")
    sync("phone_call")
    sync("task")
    call.refresh_from_db()
    task.refresh_from_db()
    assert call.subject == "Call Contoso"  # CRM to Outlook only on the phone call tab
    assert task.subject == "edited in Outlook"  # two-way on the task tab


@connector_scenario
def test_service_activities_are_appointments_written_one_way(sync, sally, mailbox):
    service = ServiceActivity.objects.create(
        owner=sally,
        subject="Boiler maintenance",
        location="Customer site",
        scheduled_start=START,
        scheduled_end=START + datetime.timedelta(hours=2),
    )
    Appointment.objects.create(
        owner=sally,
        subject="Lunch",
        scheduled_start=START,
        scheduled_end=START + datetime.timedelta(hours=1),
    )
    assert sync("service_activity").counts["exchange_created"] == 1
    assert sync("appointment").counts["exchange_created"] == 1
    written = mailbox.items("calendar")[item_id_of(service)]
    assert written.fields[ACTIVITY_TYPE] == "service_activity"
    assert (written.fields["subject"], written.fields["location"]) == (
        "Boiler maintenance",
        "Customer site",
    )
    assert written.fields["scheduled_end"] == START + datetime.timedelta(hours=2)
    # An Outlook edit never comes back into the CRM.
    mailbox.edit("calendar", item_id_of(service), subject="edited in Outlook")
    sync("service_activity")
    service.refresh_from_db()
    assert service.subject == "Boiler maintenance"
    # A CRM change goes out.
    service.location = "Workshop"
    service.save()
    sync("service_activity")
    assert mailbox.items("calendar")[item_id_of(service)].fields["location"] == "Workshop"
    # An item in the calendar that calls itself a service activity creates nothing in the CRM.
    mailbox.create(
        "calendar",
        {
            "subject": "Typed in Outlook",
            "scheduled_start": START,
            "scheduled_end": START + datetime.timedelta(hours=1),
            "is_all_day_event": False,
            ACTIVITY_TYPE: "service_activity",
        },
    )
    sync("service_activity")
    assert ServiceActivity.objects.count() == 1
    assert Appointment.objects.count() == 1
    for entity in ("appointment", "recurring_appointment"):
        sync(entity)
    assert Appointment.objects.count() == 1 and not RecurringAppointment.objects.exists()
    settled(sync, "appointment", "recurring_appointment")


@engine_scenario
def test_the_task_filter_covers_phone_calls_letters_and_faxes(sync, sally, mailbox, make_user):
    from security.services import role_upsert, share_record

    colleague = make_user("sam")
    role_upsert(name="Calls", levels={("phone_call", "sync"): "user"}, users=[colleague])
    theirs = PhoneCall.objects.create(owner=colleague, subject="Their call")
    share_record(record=theirs, user_or_team=sally, rights=["sync"], actor=colleague)
    PhoneCall.objects.create(owner=sally, subject="My call")
    policy = SyncPolicy.current()
    policy.appointment_filter = "all"
    policy.save()
    sync("phone_call")
    assert sorted(i.fields["subject"] for i in mailbox.items("tasks").values()) == ["My call"]
    policy.task_filter = "all"
    policy.save()
    sync("phone_call")
    subjects = sorted(i.fields["subject"] for i in mailbox.items("tasks").values())
    assert subjects == ["My call", "Their call"]


@connector_scenario
def test_a_no_change_run_of_all_eight_entities_costs_the_same_whatever_the_size(
    sync, sally, mailbox
):
    def quiet_cost(n: int) -> tuple[int, dict]:
        for model in (
            Contact,
            *TASK_LIKE.values(),
            ServiceActivity,
            Appointment,
            RecurringAppointment,
        ):
            model.objects.filter(owner=sally).delete()
        Contact.objects.bulk_create([Contact(owner=sally, last_name=f"c{i}") for i in range(n)])
        for model in TASK_LIKE.values():
            model.objects.bulk_create([model(owner=sally, subject=f"t{i}") for i in range(n)])
        for model in (Appointment, ServiceActivity):
            model.objects.bulk_create(
                [
                    model(
                        owner=sally,
                        subject=f"a{i}",
                        scheduled_start=START + datetime.timedelta(days=i),
                        scheduled_end=START + datetime.timedelta(days=i, hours=1),
                    )
                    for i in range(n)
                ]
            )
        # Series with a changed and a cancelled occurrence each: reading them costs nothing
        # when nothing changed (the connectors that hold exceptions read them with the series).
        series = RecurringAppointment.objects.bulk_create(
            [
                RecurringAppointment(
                    owner=sally,
                    subject=f"s{i}",
                    scheduled_start=START + datetime.timedelta(hours=i),
                    scheduled_end=START + datetime.timedelta(hours=i, minutes=30),
                    recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=5",
                )
                for i in range(n)
            ]
        )
        week = datetime.timedelta(weeks=1)
        AppointmentException.objects.bulk_create(
            [
                AppointmentException(
                    series=s, original_start=s.scheduled_start + week, subject="moved"
                )
                for s in series
            ]
            + [
                AppointmentException(
                    series=s, original_start=s.scheduled_start + 2 * week, is_cancelled=True
                )
                for s in series
            ]
        )
        for _ in range(2):  # the second round sees the others' writes of the first
            for entity in ENTITIES:
                sync(entity, batch_size=100)
        mailbox.reset_counts()
        with CaptureQueriesContext(connection) as queries:
            for entity in ENTITIES:
                assert sync(entity, batch_size=100).plan.records == (), entity
        return len(queries), dict(mailbox.requests())

    small, large = quiet_cost(2), quiet_cost(9)
    assert small == large
    # One change listing per entity: contacts 1, calendar 3, tasks 4.
    assert small[1] == {"SyncFolderItems": len(ENTITIES)}
