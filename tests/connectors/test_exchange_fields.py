"""Every catalog field of Contact, Appointment, Recurring Appointment and Task goes CRM -> Exchange
-> CRM unchanged, and values made on the Exchange side read back in CRM form.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import exchangelib
import pytest
from exchangelib import EWSDateTime, HTMLBody
from exchangelib.indexed_properties import EmailAddress, PhoneNumber
from exchangelib.items import CalendarItem, Contact, Task

from connectors.base import ItemUpdate, NewItem
from connectors.ewsserver import EwsServer
from connectors.exchange import ExchangeConnector
from connectors.exchange import fields as xf

UTC = dt.UTC
CATALOG = Path(__file__).resolve().parents[2] / "fieldsync" / "catalog.json"
ENTITY_FOLDER = {
    "contact": "contacts",
    "appointment": "calendar",
    "recurring_appointment": "calendar",
    "task": "tasks",
}

CONTACT = dict(
    first_name="Ann",
    middle_name="B.",
    last_name="Cole",
    nickname="Annie",
    yomi_first_name="アン",
    yomi_last_name="コール",
    job_title="CTO",
    company_name="Acme",
    department="R&D",
    manager="Dana Boss",
    assistant="Eve Helper",
    spouse_partner_name="Sam",
    childrens_names="Kim, Lou",
    government_id="123-45-6789",
    email="ann@acme.test",
    email_address_2="ann.cole@home.test",
    email_address_3="ac@other.test",
    business_phone="+1 555 0101",
    business_phone_2="+1 555 0102",
    company_phone="+1 555 0100",
    home_phone="+1 555 0201",
    home_phone_2="+1 555 0202",
    mobile_phone="+1 555 0301",
    telephone_3="+1 555 0401",
    assistant_phone="+1 555 0501",
    callback_number="+1 555 0601",
    pager="+1 555 0701",
    fax="+1 555 0801",
    website="https://acme.test/ann",
    ftp_site="ftp://files.acme.test",
    birthday=dt.date(1980, 2, 29),
    anniversary=dt.date(2005, 6, 1),
    description="Met at the fair.\nLikes <b>tags</b> & ampersands.",
    address1_street="1 Main St",
    address1_city="Springfield",
    address1_state_or_province="IL",
    address1_postal_code="62701",
    address1_country="USA",
    address2_street="2 Home Rd",
    address2_city="Shelbyville",
    address2_state_or_province="IL",
    address2_postal_code="62565",
    address2_country="USA",
    address3_street="3 Other Ave",
    address3_city="Ogden",
    address3_state_or_province="UT",
    address3_postal_code="84401",
    address3_country="USA",
)


def appointment(mailbox: str, **over: object) -> dict[str, object]:
    values: dict[str, object] = dict(
        subject="Quarterly review",
        description="Agenda:\n1. numbers",
        priority=2,
        regarding="Acme renewal",
        location="Room 4",
        organizer=mailbox,
        required_attendees="x@partner.test; y@partner.test",
        optional_attendees="z@partner.test",
        appointment_status="tentative",
        scheduled_start=dt.datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        scheduled_end=dt.datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        is_all_day_event=False,
        recurrence_pattern="",
    )
    values.update(over)
    return values


TASK = dict(
    subject="Send the offer",
    description="Use the new price list",
    priority=0,
    regarding="Acme renewal",
    status="in_progress",
    percent_complete=40,
    start_date=dt.date(2026, 1, 5),
    due_date=dt.date(2026, 1, 9),
    actual_end=None,
)


def _read_back(connector, folder, item_id, values):
    got = connector.get_items(folder, [item_id], list(values))[0]
    return {k: got.fields[k] for k in values}


def test_every_catalog_field_has_a_mapping_or_a_stated_reason():
    catalog = json.loads(CATALOG.read_text())
    unmapped = []
    for entity in catalog["entities"]:
        folder = ENTITY_FOLDER.get(entity["key"])
        if folder is None:
            continue
        for row in entity["fields"]:
            if (entity["key"], row["crm_field"]) in xf.NOT_MAPPABLE:
                continue
            missing = [c for c in row["crm_columns"] if c not in xf.mapping(folder)]
            if missing or not row["crm_columns"]:
                unmapped.append((entity["key"], row["crm_field"], missing))
    assert unmapped == []
    assert all(reason for reason in xf.NOT_MAPPABLE.values())


def test_contact_fields_round_trip_on_create_and_update(connector):
    [created] = connector.create_items("contacts", [NewItem("crm-c1", CONTACT, ("VIP",))])
    assert created.ok, created
    assert _read_back(connector, "contacts", created.item_id, CONTACT) == CONTACT

    changed = {k: (v + " 2" if isinstance(v, str) else v) for k, v in CONTACT.items()}
    changed.update(
        email="ann2@acme.test",
        email_address_2="",
        birthday=dt.date(1981, 3, 1),
        anniversary=None,
        childrens_names="",
    )
    [updated] = connector.update_items(
        "contacts", [ItemUpdate(created.item_id, created.change_key, changed)]
    )
    assert updated.ok, updated
    assert _read_back(connector, "contacts", created.item_id, changed) == changed


@pytest.mark.parametrize(
    "over",
    [
        {},
        # All day: CRM keeps exclusive midnights in the user's zone; exchangelib an inclusive date.
        dict(
            scheduled_start=dt.datetime(2026, 3, 2, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            scheduled_end=dt.datetime(2026, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            is_all_day_event=True,
            required_attendees="",
            optional_attendees="",
            appointment_status="free",
            priority=0,
        ),
        dict(
            recurrence_pattern="FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10",
            appointment_status="out_of_office",
        ),
        # A timed series' UNTIL is a UTC date-time (RFC 5545): its last start, 09:00 in Berlin.
        dict(
            recurrence_pattern="FREQ=DAILY;INTERVAL=2;UNTIL=20260331T070000Z",
            appointment_status="busy",
        ),
        dict(recurrence_pattern="FREQ=MONTHLY;BYDAY=-1FR", priority=1),
        dict(recurrence_pattern="FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=2"),
    ],
    ids=["single", "all-day", "weekly", "daily-until", "monthly-last-friday", "yearly"],
)
def test_appointment_fields_round_trip(connector, over):
    values = appointment(connector.primary_smtp_address, **over)
    [created] = connector.create_items("calendar", [NewItem("crm-a1", values)])
    assert created.ok, created
    back = _read_back(connector, "calendar", created.item_id, values)
    assert back == values


@pytest.mark.parametrize("validate", [True, False], ids=["validating", "not-validating"])
def test_an_all_day_event_round_trips_whether_or_not_the_server_validates(validate):
    """The server's behaviour must not depend on validation (it once lost the all-day flag)."""
    server = EwsServer(
        {"allday@demo.test": "pw"}, service_accounts={"svc@demo.test": "svc"}, validate=validate
    )
    server.start()
    try:
        connector = ExchangeConnector(
            ews_url=server.url,
            username="svc@demo.test",
            password="svc",
            primary_smtp_address="allday@demo.test",
            timezone="Europe/Berlin",
            max_wait=10,
        )
        values = appointment(
            "allday@demo.test",
            scheduled_start=dt.datetime(2026, 3, 2, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            scheduled_end=dt.datetime(2026, 3, 4, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            is_all_day_event=True,
        )
        [created] = connector.create_items("calendar", [NewItem("crm-ad", values)])
        assert created.ok, created
        back = _read_back(connector, "calendar", created.item_id, values)
        assert back["is_all_day_event"] is True
        assert back == values
    finally:
        server.stop()
        exchangelib.close_connections()


def test_moving_an_appointment_keeps_its_all_day_flag_and_recurrence(connector):
    values = appointment(connector.primary_smtp_address, recurrence_pattern="FREQ=WEEKLY;BYDAY=MO")
    [created] = connector.create_items("calendar", [NewItem("crm-a2", values)])
    new_start = dt.datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    new_end = dt.datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
    [moved] = connector.update_items(
        "calendar",
        [
            ItemUpdate(
                created.item_id,
                created.change_key,
                {"scheduled_start": new_start, "scheduled_end": new_end},
            )
        ],
    )
    assert moved.ok, moved
    back = _read_back(connector, "calendar", created.item_id, values)
    assert back == dict(values, scheduled_start=new_start, scheduled_end=new_end)


@pytest.mark.parametrize(
    "over",
    [
        {},
        dict(
            status="completed",
            percent_complete=100,
            actual_end=dt.datetime(2026, 1, 8, 15, 30, tzinfo=UTC),
        ),
        dict(status="waiting", percent_complete=10, start_date=None, due_date=None, priority=2),
        dict(status="deferred", percent_complete=0, priority=1),
    ],
    ids=["in-progress", "completed", "waiting", "deferred"],
)
def test_task_fields_round_trip(connector, over):
    values = dict(TASK, **over)
    [created] = connector.create_items("tasks", [NewItem("crm-t1", values)])
    assert created.ok, created
    assert _read_back(connector, "tasks", created.item_id, values) == values


def test_values_made_in_outlook_read_back_in_crm_form(connector):
    account = connector.account
    contact = Contact(
        folder=account.contacts,
        display_name="Bo Diaz",
        given_name="Bo",
        surname="Diaz",
        body=HTMLBody("<html><body><p>Call <b>after</b> 5&amp;6</p><p>Thanks</p></body></html>"),
        email_addresses=[EmailAddress(label="EmailAddress2", email="bo@home.test")],
        phone_numbers=[PhoneNumber(label="MobilePhone", phone_number="+34 600")],
        children=["Ana", "Luis"],
    )
    contact.save()
    [got] = connector.get_items(
        "contacts",
        [contact.id],
        [
            "first_name",
            "description",
            "email",
            "email_address_2",
            "mobile_phone",
            "childrens_names",
        ],
    )
    assert got.fields == {
        "first_name": "Bo",
        "description": "Call after 5&6\nThanks",
        "email": "",
        "email_address_2": "bo@home.test",
        "mobile_phone": "+34 600",
        "childrens_names": "Ana, Luis",
    }

    task = Task(
        folder=account.tasks,
        subject="Done in Outlook",
        status="Completed",
        percent_complete=Decimal(100),
        importance="High",
    )
    task.save()
    [got] = connector.get_items(
        "tasks", [task.id], ["status", "percent_complete", "priority", "actual_end"]
    )
    assert got.fields["status"] == "completed"
    assert got.fields["percent_complete"] == 100
    assert got.fields["priority"] == 2
    completed = got.fields["actual_end"]
    assert isinstance(completed, dt.datetime) and completed.tzinfo is not None
    assert abs(dt.datetime.now(UTC) - completed) < dt.timedelta(minutes=5)

    event = CalendarItem(
        folder=account.calendar,
        subject="Out",
        start=EWSDateTime(2026, 5, 4, 9, 0, tzinfo=account.default_timezone),
        end=EWSDateTime(2026, 5, 4, 17, 0, tzinfo=account.default_timezone),
        legacy_free_busy_status="WorkingElsewhere",
    )
    event.save()
    [got] = connector.get_items(
        "calendar", [event.id], ["scheduled_start", "appointment_status", "organizer", "priority"]
    )
    assert got.fields == {
        # 09:00 in Berlin (summer time) is 07:00 UTC.
        "scheduled_start": dt.datetime(2026, 5, 4, 7, 0, tzinfo=UTC),
        "appointment_status": "busy",
        "organizer": connector.primary_smtp_address,
        "priority": 1,
    }


def test_writing_one_phone_keeps_the_labels_the_crm_does_not_know(connector):
    contact = Contact(
        folder=connector.account.contacts,
        display_name="Cy",
        phone_numbers=[
            PhoneNumber(label="CarPhone", phone_number="+1 car"),
            PhoneNumber(label="BusinessPhone", phone_number="+1 old"),
        ],
        email_addresses=[EmailAddress(label="EmailAddress2", email="cy@home.test")],
    )
    contact.save()
    [res] = connector.update_items(
        "contacts",
        [
            ItemUpdate(
                contact.id, contact.changekey, {"business_phone": "+1 new", "email": "cy@work.test"}
            )
        ],
    )
    assert res.ok, res
    contact.refresh()
    phones = {p.label: p.phone_number for p in contact.phone_numbers}
    emails = {e.label: e.email for e in contact.email_addresses}
    assert phones == {"CarPhone": "+1 car", "BusinessPhone": "+1 new"}
    assert emails == {"EmailAddress1": "cy@work.test", "EmailAddress2": "cy@home.test"}


def test_percent_complete_is_sent_as_exchange_decimal(connector):
    [created] = connector.create_items(
        "tasks", [NewItem("crm-t2", dict(TASK, percent_complete=55))]
    )
    item = connector.account.tasks.get(id=created.item_id)
    assert item.percent_complete == Decimal(55)


def test_change_lists_carry_every_field_for_calendar_and_tasks(connector):
    single = appointment(connector.primary_smtp_address)
    weekly = appointment(connector.primary_smtp_address, recurrence_pattern="FREQ=WEEKLY;BYDAY=TU")
    connector.create_items("calendar", [NewItem("s", single), NewItem("w", weekly)])
    connector.create_items("tasks", [NewItem("t", {**TASK, "activity_type": "letter"})])
    [cal] = list(connector.list_changes("calendar", None))
    by_crm = {i.crm_id: i.fields for i in cal.created}
    # Plain items say no activity type; the list carries it for every item, and a series'
    # changed and cancelled occurrences (none here).
    assert by_crm["s"] == {**single, "activity_type": "", "exceptions": []}
    assert by_crm["w"] == {**weekly, "activity_type": "", "exceptions": []}
    [tasks] = list(connector.list_changes("tasks", None))
    assert [i.fields for i in tasks.created] == [{**TASK, "activity_type": "letter"}]
