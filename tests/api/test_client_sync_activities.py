"""Phone calls, letters, faxes and service activities on the Outlook client path
(/api/v1/sync/{entity}/changes/), as the server-side sync handles them: the first three are
Outlook tasks told apart by their activity type, service activities appointments sent one way.

Organization from tests/api/conftest.py: sally, sam and rita hold every record right on their
own records.
"""

from __future__ import annotations

import datetime as dt

import pytest

from crm.models import Appointment, Fax, Letter, PhoneCall, ServiceActivity, Task
from fieldsync.models.sync import RejectedChange, SyncConflict, SyncPolicy
from security.services import field_profile_upsert, role_upsert, share_record

from .conftest import assert_error, token_client
from .test_client_sync_api import URL, pull_all, push, push_ok, records_of, set_direction

MODELS = {"phone_call": PhoneCall, "letter": Letter, "fax": Fax}
ONE_WAY = "Service activities go from the CRM to Outlook only"


def _service(owner, **values) -> ServiceActivity:
    start = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
    values.setdefault("subject", "Boiler maintenance")
    values.setdefault("scheduled_start", start)
    values.setdefault("scheduled_end", start + dt.timedelta(hours=2))
    return ServiceActivity.objects.create(owner=owner, **values)


@pytest.mark.parametrize("entity", sorted(MODELS))
def test_an_activity_is_pulled_created_and_updated_with_its_type(org, clients, entity):
    model = MODELS[entity]
    mine = model.objects.create(owner=org["sally"], subject="From the CRM", due_date="2026-12-03")
    Task.objects.create(owner=org["sally"], subject="A plain task")

    (record,) = records_of(pull_all(clients["end_user"], entity)[0]).values()
    assert record["id"] == str(mine.pk) and record["activity_type"] == entity
    assert record["values"]["subject"] == "From the CRM"
    assert record["values"]["due_date"] == "2026-12-03"

    # A new Outlook task carrying the type, posted with the tasks: a record of that type.
    (created,) = push_ok(
        clients["end_user"],
        [{"ref": "new.ics", "activity_type": entity, "values": {"subject": "Made in Outlook"}}],
        entity="task",
    )
    assert (created["status"], created["entity"]) == ("created", entity)
    assert created["record"]["activity_type"] == entity
    new = model.objects.get(pk=created["id"])
    assert (new.subject, new.owner) == ("Made in Outlook", org["sally"])
    assert Task.objects.count() == 1  # no task was made of it

    # An edit posted to its own endpoint (only the columns changed, no type): the same record.
    (updated,) = push_ok(
        clients["end_user"],
        [{"id": record["id"], "version": record["version"], "values": {"status": "completed"}}],
        entity=entity,
    )
    mine.refresh_from_db()
    assert (updated["status"], mine.status, mine.subject) == (
        "updated",
        "completed",
        "From the CRM",
    )
    # ...and the type it carries survives the edit: the record is still that activity.
    assert updated["record"]["activity_type"] == entity
    again = records_of(pull_all(clients["end_user"], entity)[0])
    assert {r["activity_type"] for r in again.values()} == {entity}
    assert again[str(mine.pk)]["values"]["status"] == "completed"

    # The same edit from the tasks folder with the item's type reaches the same record.
    (via_tasks,) = push_ok(
        clients["end_user"],
        [
            {
                "id": str(mine.pk),
                "version": updated["version"],
                "activity_type": entity,
                "values": {"subject": "Edited in Outlook"},
            }
        ],
        entity="task",
    )
    mine.refresh_from_db()
    assert (via_tasks["entity"], mine.subject) == (entity, "Edited in Outlook")
    assert model.objects.count() == 2 and Task.objects.count() == 1


def test_a_plain_task_stays_a_task_and_a_task_record_says_so(org, clients):
    results = push_ok(
        clients["end_user"],
        [
            {"ref": "plain.ics", "values": {"subject": "Plain to-do"}},
            {"ref": "blank.ics", "activity_type": "", "values": {"subject": "Blank type"}},
            {"ref": "odd.ics", "activity_type": "carrier_pigeon", "values": {"subject": "Odd"}},
            {"ref": "ring.ics", "activity_type": "Phone_Call", "values": {"subject": "Ring"}},
        ],
        entity="task",
    )
    assert [(r["entity"], r["status"]) for r in results] == [
        ("task", "created"),
        ("task", "created"),
        ("task", "created"),
        ("phone_call", "created"),
    ]
    assert sorted(Task.objects.values_list("subject", flat=True)) == [
        "Blank type",
        "Odd",
        "Plain to-do",
    ]
    assert list(PhoneCall.objects.values_list("subject", flat=True)) == ["Ring"]
    assert {
        r["activity_type"] for r in records_of(pull_all(clients["end_user"], "task")[0]).values()
    } == {""}
    # A task item posted to the phone calls' endpoint with no type of its own is a task.
    (plain,) = push_ok(
        clients["end_user"],
        [{"ref": "x.ics", "activity_type": "", "values": {"subject": "Not a call"}}],
        entity="phone_call",
    )
    assert plain["entity"] == "task" and Task.objects.filter(subject="Not a call").exists()


def test_service_activities_come_to_the_client_and_never_go_back(org, clients):
    service = _service(org["sally"], location="Customer site")
    pages, cursor = pull_all(clients["end_user"], "service_activity")
    (record,) = records_of(pages).values()
    assert record["activity_type"] == "service_activity"
    assert record["values"]["location"] == "Customer site"
    fields = {f["column"]: f for f in pages[0]["fields"]}
    assert not any(f["accepted"] for f in fields.values())  # one way, every field
    before = (service.subject, service.location, service.change_number)

    results = push_ok(
        clients["end_user"],
        [
            {
                "ref": "a",
                "id": record["id"],
                "version": record["version"],
                "values": {"location": "Home"},
            },
            {"ref": "b", "values": {"subject": "Typed in Outlook"}},
        ],
        entity="service_activity",
    )
    (copied,) = push_ok(
        clients["end_user"],
        [
            {
                "ref": "c",
                "activity_type": "service_activity",
                "values": {"subject": "A copy", "location": "Elsewhere"},
            }
        ],
        entity="appointment",
    )

    for result in [*results, copied]:
        assert (result["status"], result["entity"]) == ("refused", "service_activity")
        assert result["error"]["message"].startswith(ONE_WAY)
        assert "permission" not in result["error"]["message"]
    service.refresh_from_db()
    assert (service.subject, service.location, service.change_number) == before
    assert ServiceActivity.objects.count() == 1
    assert not Appointment.objects.exists()
    # Not a missing right: nothing for an administrator to resolve, no conflict either.
    assert not RejectedChange.objects.exists() and not SyncConflict.objects.exists()

    # Deleted in the client: as server-side, the CRM record stays and stops syncing there.
    (gone,) = push_ok(
        clients["end_user"],
        [{"id": record["id"], "deleted": True}],
        entity="service_activity",
        cursor=cursor,
    )
    assert gone["status"] == "untracked" and ServiceActivity.objects.filter(pk=service.pk).exists()


def test_directions_and_the_task_filter_apply_to_phone_calls(org, clients):
    set_direction("phone_call", "subject", "to_outlook")
    call = PhoneCall.objects.create(owner=org["sally"], subject="Call Contoso")
    theirs = PhoneCall.objects.create(owner=org["sam"], subject="Their call")
    share_record(record=theirs, user_or_team=org["sally"], rights=["sync"], actor=org["sam"])

    (record,) = records_of(pull_all(clients["end_user"], "phone_call")[0]).values()
    assert record["id"] == str(call.pk)  # the default task filter: her own phone calls
    (result,) = push_ok(
        clients["end_user"],
        [{"id": record["id"], "version": record["version"], "values": {"subject": "Edited"}}],
        entity="phone_call",
    )
    assert result["fields"]["subject"] == {"status": "not_synced", "reason": "direction_to_outlook"}
    call.refresh_from_db()
    assert call.subject == "Call Contoso"
    task = Task.objects.create(owner=org["sally"], subject="Write offer")
    (task_result,) = push_ok(
        clients["end_user"],
        [{"id": str(task.pk), "version": task.change_number, "values": {"subject": "Edited"}}],
        entity="task",
    )
    assert task_result["fields"]["subject"] == {"status": "applied"}  # the task tab's own

    SyncPolicy.objects.update_or_create(pk=1, defaults={"task_filter": "all"})
    ids = set(records_of(pull_all(clients["end_user"], "phone_call")[0]))
    assert ids == {str(call.pk), str(theirs.pk)}


def test_a_user_without_rights_on_phone_calls_neither_gets_nor_pushes_them(org, clients, make_user):
    PhoneCall.objects.create(owner=org["sally"], subject="Sally's call")
    tom = make_user("tom")
    role_upsert(
        name="Tasks only",
        levels={("task", a): "user" for a in ("create", "read", "write", "sync")},
        users=[tom],
    )
    PhoneCall.objects.create(owner=tom, subject="Tom's own call")
    tom_client = token_client(tom)

    error = assert_error(tom_client.get(URL.format("phone_call")), 403, "permission_denied")
    assert "phone calls" in error["message"]
    assert_error(
        push(tom_client, [{"ref": "x", "values": {"subject": "x"}}], entity="phone_call"), 403
    )
    results = push_ok(
        tom_client,
        [
            {"ref": "call.ics", "activity_type": "phone_call", "values": {"subject": "Sneaky"}},
            {"ref": "task.ics", "values": {"subject": "Allowed"}},
        ],
        entity="task",
    )
    assert [(r["entity"], r["status"]) for r in results] == [
        ("phone_call", "refused"),
        ("task", "created"),
    ]
    assert "phone calls" in results[0]["error"]["message"]
    assert not PhoneCall.objects.filter(subject="Sneaky").exists()
    assert Task.objects.filter(owner=tom, subject="Allowed").exists()
    assert all(
        r["activity_type"] == "" for r in records_of(pull_all(tom_client, "task")[0]).values()
    )


def test_a_secured_phone_call_field_is_withheld_and_refused(org, clients):
    field_profile_upsert(
        name="Call notes",
        grants={("phone_call", "description"): ("read", "create", "update")},
        users=[org["sally"]],
    )
    call = PhoneCall.objects.create(owner=org["rita"], subject="Call", description="secret")
    PhoneCall.objects.create(owner=org["sally"], subject="Hers", description="notes")

    (record,) = records_of(pull_all(clients["restricted"], "phone_call")[0]).values()
    assert "description" not in record["values"] and record["values"]["subject"] == "Call"
    (hers,) = records_of(pull_all(clients["end_user"], "phone_call")[0]).values()
    assert hers["values"]["description"] == "notes"

    (result,) = push_ok(
        clients["restricted"],
        [
            {
                "id": record["id"],
                "version": record["version"],
                "activity_type": "phone_call",
                "values": {"description": "guess", "subject": "Call back"},
            }
        ],
        entity="task",
    )
    assert result["fields"]["description"]["status"] == "not_permitted"
    assert result["fields"]["subject"] == {"status": "applied"}
    call.refresh_from_db()
    assert (call.description, call.subject) == ("secret", "Call back")
    assert "description" not in result["record"]["values"]
    rejected = RejectedChange.objects.get(owner=org["rita"], crm_id=call.pk)
    assert (rejected.entity, rejected.field) == ("phone_call", "description")


def test_openapi_documents_the_activities(clients):
    schema = clients["anonymous"].get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/sync/{entity}/changes/"]["get"]
    (entity,) = [p for p in operation["parameters"] if p["name"] == "entity"]
    assert set(entity["schema"]["enum"]) == {
        "contact",
        "appointment",
        "recurring_appointment",
        "task",
        "phone_call",
        "letter",
        "fax",
        "service_activity",
    }
    components = schema["components"]["schemas"]
    record = components["ClientRecord"]["properties"]["activity_type"]
    assert "phone calls" in record["description"]
    assert "activity_type" in components["ClientChangeInputRequest"]["properties"]
    assert "entity" in components["ClientItemResult"]["properties"]
    assert (
        "service activit"
        in schema["paths"]["/api/v1/sync/{entity}/changes/"]["post"]["description"]
    )
