"""The CRM records API: lists show readable records only, hidden fields are absent, writes to
fields the caller may not write are refused with nothing saved."""

from __future__ import annotations

import uuid

import pytest

from crm.models import Appointment, Contact, Task, Tombstone
from security.services import secure_field

from .conftest import assert_error

pytestmark = pytest.mark.django_db

LISTS = (
    "/api/v1/contacts/",
    "/api/v1/appointments/",
    "/api/v1/recurring-appointments/",
    "/api/v1/tasks/",
    "/api/v1/phone-calls/",
    "/api/v1/letters/",
    "/api/v1/faxes/",
    "/api/v1/service-activities/",
)


@pytest.fixture
def records(org, make_contact, make_appointment, make_task):
    return {
        "sally_contact": make_contact(
            org["sally"], last_name="Berg", description="likes golf", government_id="123-45"
        ),
        "sam_contact": make_contact(org["sam"], last_name="Costa"),
        "rita_contact": make_contact(
            org["rita"], last_name="Dahl", description="private", government_id="999-99"
        ),
        "sally_appointment": make_appointment(org["sally"]),
        "sally_task": make_task(org["sally"]),
    }


# ---- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize("url", LISTS)
def test_anonymous_gets_401_on_every_record_list(clients, url):
    assert_error(clients["anonymous"].get(url), 401, "not_authenticated")


def test_a_list_shows_only_the_records_the_caller_may_read(clients, records):
    def names(who: str) -> list[str]:
        response = clients[who].get("/api/v1/contacts/")
        assert response.status_code == 200
        return [c["last_name"] for c in response.json()["results"]]

    assert names("end_user") == ["Berg"]
    assert names("restricted") == ["Dahl"]
    assert names("admin") == ["Berg", "Costa", "Dahl"]


def test_another_users_record_is_404_not_403(clients, records):
    url = f"/api/v1/contacts/{records['sam_contact'].pk}/"
    assert_error(clients["end_user"].get(url), 404, "not_found")
    assert_error(clients["end_user"].patch(url, {"last_name": "X"}, format="json"), 404)
    assert_error(clients["end_user"].delete(url), 404)
    assert Contact.objects.get(pk=records["sam_contact"].pk).last_name == "Costa"
    assert clients["admin"].get(url).status_code == 200


@pytest.mark.parametrize("bad", ["not-a-uuid", "12345", "%00", "0" * 200])
def test_a_malformed_id_is_404(clients, records, bad):
    assert_error(clients["end_user"].get(f"/api/v1/contacts/{bad}/"), 404)


def test_a_secured_field_the_caller_may_not_read_is_absent(clients, records):
    mine = clients["restricted"].get(f"/api/v1/contacts/{records['rita_contact'].pk}/").json()
    assert "description" not in mine
    assert mine["government_id"] == "999-99"
    assert mine["last_name"] == "Dahl"
    listed = clients["restricted"].get("/api/v1/contacts/").json()["results"]
    assert all("description" not in c for c in listed)


@pytest.mark.parametrize("who", ["end_user", "admin"])
def test_users_with_field_access_see_the_secured_fields(clients, records, who):
    body = clients[who].get(f"/api/v1/contacts/{records['sally_contact'].pk}/").json()
    assert body["description"] == "likes golf"
    assert body["government_id"] == "123-45"
    assert body["owner"] == {"id": records["sally_contact"].owner_id, "username": "sally"}


def test_search_skips_the_fields_the_caller_may_not_read(clients, records):
    # rita may not read description: searching it must not reveal what it holds.
    assert clients["restricted"].get("/api/v1/contacts/?q=private").json()["count"] == 0
    assert clients["restricted"].get("/api/v1/contacts/?q=dahl").json()["count"] == 1
    assert clients["end_user"].get("/api/v1/contacts/?q=golf").json()["count"] == 1


def test_a_filter_on_a_hidden_field_is_ignored(clients, records, make_contact, org):
    make_contact(org["rita"], last_name="Ruiz", email="ruiz@example.com")
    url = "/api/v1/contacts/?email=ruiz@example.com"
    assert clients["restricted"].get(url).json()["count"] == 1
    secure_field(entity="contact", column="email")
    assert clients["restricted"].get(url).json()["count"] == 2
    assert clients["admin"].get(url).json()["count"] == 1


def test_lists_filter_by_change_number_for_incremental_reads(clients, records):
    cursor = records["sally_contact"].change_number
    response = clients["end_user"].get(f"/api/v1/contacts/?changed_after={cursor}")
    assert response.json()["count"] == 0
    records["sally_contact"].save()
    response = clients["end_user"].get(f"/api/v1/contacts/?changed_after={cursor}")
    assert response.json()["count"] == 1
    assert_error(clients["end_user"].get("/api/v1/contacts/?changed_after=1e999"), 400)
    assert_error(clients["end_user"].get(f"/api/v1/contacts/?owner={2**70}"), 400)


@pytest.mark.parametrize("who", ["end_user", "admin", "restricted"])
def test_appointments_and_tasks_lists(clients, records, who):
    appointments = clients[who].get("/api/v1/appointments/").json()["results"]
    tasks = clients[who].get("/api/v1/tasks/").json()["results"]
    expected = 0 if who == "restricted" else 1
    assert (len(appointments), len(tasks)) == (expected, expected)


# ---- creating ------------------------------------------------------------------------------


def test_end_user_creates_a_contact_they_own(clients, org):
    response = clients["end_user"].post(
        "/api/v1/contacts/",
        {"first_name": "Nils", "last_name": "Novak", "description": "met at fair"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"]["username"] == "sally"
    assert body["description"] == "met at fair"
    contact = Contact.objects.get(pk=body["id"])
    assert contact.business_unit == org["sally"].business_unit
    assert contact.change_number > 0


def test_creating_with_a_field_the_caller_may_not_create_is_403_and_saves_nothing(clients):
    response = clients["restricted"].post(
        "/api/v1/contacts/",
        {"last_name": "Engel", "government_id": "555", "description": "x"},
        format="json",
    )
    error = assert_error(response, 403, "field_not_writable")
    assert "government_id" in error["message"] and "description" in error["message"]
    assert set(error["fields"]) == {"government_id", "description"}
    assert not Contact.objects.filter(last_name="Engel").exists()


def test_the_field_refusal_comes_before_validation_of_its_value(clients):
    response = clients["restricted"].post(
        "/api/v1/contacts/", {"last_name": "Engel", "description": 12}, format="json"
    )
    assert_error(response, 403, "field_not_writable")


def test_creating_a_record_for_someone_outside_your_reach_is_403(clients, org):
    response = clients["end_user"].post(
        "/api/v1/contacts/", {"last_name": "Fischer", "owner": org["sam"].pk}, format="json"
    )
    assert_error(response, 403, "permission_denied")
    assert not Contact.objects.filter(last_name="Fischer").exists()
    admin = clients["admin"].post(
        "/api/v1/contacts/", {"last_name": "Fischer", "owner": org["sam"].pk}, format="json"
    )
    assert admin.status_code == 201
    assert Contact.objects.get(last_name="Fischer").business_unit == org["sam"].business_unit


def test_invalid_records_are_400_with_the_field_named(clients):
    start = "2030-01-01T10:00:00Z"
    appointment = clients["end_user"].post(
        "/api/v1/appointments/",
        {"subject": "x", "scheduled_start": start, "scheduled_end": "2030-01-01T09:00:00Z"},
        format="json",
    )
    assert "scheduled_end" in assert_error(appointment, 400, "invalid")["fields"]
    task = clients["end_user"].post(
        "/api/v1/tasks/", {"subject": "x", "percent_complete": 101}, format="json"
    )
    assert "percent_complete" in assert_error(task, 400, "invalid")["fields"]
    email = clients["end_user"].post("/api/v1/contacts/", {"email": "nope"}, format="json")
    assert "email" in assert_error(email, 400)["fields"]
    owner = clients["end_user"].post("/api/v1/contacts/", {"owner": 2**80}, format="json")
    assert "owner" in assert_error(owner, 400)["fields"]
    assert not Appointment.objects.exists() and not Task.objects.exists()


def test_anonymous_cannot_create(clients):
    assert_error(clients["anonymous"].post("/api/v1/tasks/", {"subject": "x"}, format="json"), 401)
    assert not Task.objects.exists()


# ---- updating and deleting -----------------------------------------------------------------


def test_updating_a_field_the_caller_may_not_update_is_403_and_saves_nothing(clients, records):
    url = f"/api/v1/contacts/{records['rita_contact'].pk}/"
    response = clients["restricted"].patch(
        url, {"first_name": "Rosa", "government_id": "000"}, format="json"
    )
    error = assert_error(response, 403, "field_not_writable")
    assert "government_id" in error["message"]
    contact = Contact.objects.get(pk=records["rita_contact"].pk)
    assert (contact.first_name, contact.government_id) == ("Ann", "999-99")


def test_writing_a_hidden_field_is_403_even_with_its_current_value(clients, records):
    url = f"/api/v1/contacts/{records['rita_contact'].pk}/"
    # Accepting the unchanged value would confirm a guess of the hidden content.
    response = clients["restricted"].patch(url, {"description": "private"}, format="json")
    assert_error(response, 403, "field_not_writable")


def test_a_readable_field_sent_back_unchanged_is_accepted(clients, records):
    url = f"/api/v1/contacts/{records['rita_contact'].pk}/"
    body = clients["restricted"].get(url).json()
    body["first_name"] = "Rosa"
    payload = {k: v for k, v in body.items() if k not in ("id", "owner", "business_unit")}
    response = clients["restricted"].put(url, payload, format="json")
    assert response.status_code == 200, response.content
    assert "description" not in response.json()
    contact = Contact.objects.get(pk=records["rita_contact"].pk)
    assert (contact.first_name, contact.description) == ("Rosa", "private")


def test_end_user_updates_and_deletes_their_own_record(clients, records):
    url = f"/api/v1/tasks/{records['sally_task'].pk}/"
    response = clients["end_user"].patch(url, {"percent_complete": 50}, format="json")
    assert response.status_code == 200
    assert response.json()["percent_complete"] == 50
    assert clients["end_user"].delete(url).status_code == 204
    assert not Task.objects.filter(pk=records["sally_task"].pk).exists()
    assert Tombstone.objects.filter(record_id=records["sally_task"].pk).exists()
    assert_error(clients["end_user"].get(url), 404)


def test_admin_updates_anyones_record(clients, records):
    url = f"/api/v1/appointments/{records['sally_appointment'].pk}/"
    response = clients["admin"].patch(url, {"location": "Room 4"}, format="json")
    assert response.status_code == 200
    assert Appointment.objects.get(pk=records["sally_appointment"].pk).location == "Room 4"


def test_deleting_a_missing_record_is_404(clients, org):
    assert_error(clients["admin"].delete(f"/api/v1/contacts/{uuid.uuid4()}/"), 404)


# ---- bounded queries -----------------------------------------------------------------------


def test_listing_1000_contacts_of_a_restricted_user_is_a_bounded_number_of_queries(
    clients, org, django_assert_max_num_queries
):
    Contact.objects.bulk_create(
        Contact(owner=org["rita"], first_name=f"F{i}", last_name=f"L{i:04}", description="secret")
        for i in range(1000)
    )
    client = clients["restricted"]
    # The token, the caller's field access, the count, the page: whatever the page size.
    with django_assert_max_num_queries(4):
        response = client.get("/api/v1/contacts/?page_size=1000")
    body = response.json()
    assert body["count"] == 1000 and len(body["results"]) == 1000
    assert all("description" not in c for c in body["results"])
    with django_assert_max_num_queries(4):
        page = client.get("/api/v1/contacts/?page=10").json()
    assert len(page["results"]) == 100 and page["next"] is None
