"""The Outlook client path: GET and POST /api/v1/sync/{entity}/changes/ under the field rules,
field security, the conflict policy, concurrent CRM edits and idempotent retries.

Organization from tests/api/conftest.py: sally and sam own their records; Contact.description
and government_id are secured (sally reads and updates both, rita reads government_id only).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from crm.models import Contact
from fieldsync.models import FieldMapping
from fieldsync.models.client import ClientRecordVersion
from fieldsync.models.mailboxes import EmailServerProfile, Mailbox, SyncRun
from fieldsync.models.sync import RejectedChange, SyncConflict, SyncPolicy
from security.services import revoke_share, role_upsert, share_record

from .conftest import assert_error

URL = "/api/v1/sync/{}/changes/"


def set_direction(entity: str, field: str, direction: str) -> None:
    assert FieldMapping.objects.filter(entity=entity, crm_field=field).update(direction=direction)


def pull(client, entity="contact", cursor=None, page_size=None) -> dict:
    params = {}
    if cursor:
        params["cursor"] = cursor
    if page_size:
        params["page_size"] = page_size
    response = client.get(URL.format(entity), params)
    assert response.status_code == 200, response.content
    return response.json()


def pull_all(client, entity="contact", cursor=None, page_size=None, between=None):
    """Every page until has_more is false: (pages, the last cursor)."""
    pages = []
    while True:
        page = pull(client, entity, cursor, page_size)
        pages.append(page)
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return pages, cursor
        if between is not None:
            between(len(pages))
        assert len(pages) < 50, "the pages never end"


def records_of(pages) -> dict[str, dict]:
    out = {}
    for page in pages:
        for record in page["records"]:
            out[record["id"]] = record
    return out


def push(client, changes, entity="contact", key=None, cursor=None):
    body = {"changes": changes}
    if cursor:
        body["cursor"] = cursor
    return client.post(
        URL.format(entity), body, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4())
    )


def push_ok(client, changes, **kwargs) -> list[dict]:
    response = push(client, changes, **kwargs)
    assert response.status_code == 200, response.content
    return response.json()["results"]


@pytest.fixture
def client_mailbox():
    """A mailbox whose contacts and tasks sync through the Outlook client."""

    def make(user, **paths) -> Mailbox:
        profile, _ = EmailServerProfile.objects.get_or_create(
            name="Exchange",
            defaults={"ews_url": "https://mail.test/EWS", "use_impersonation": False},
        )
        return Mailbox.objects.create(
            owner=user,
            email_address=f"{user.username}@contoso.test",
            server_profile=profile,
            **({"contacts_path": "client", "tasks_path": "client"} | paths),
        )

    return make


# -- GET --------------------------------------------------------------------------------------


def test_initial_sync_sends_own_records_with_only_the_fields_sent_to_outlook(
    org, clients, make_contact
):
    mine = make_contact(org["sally"], job_title="Buyer", nickname="Annie", mobile_phone="+1 555")
    make_contact(org["sam"], last_name="Someone-else")
    set_direction("contact", "job_title", "to_crm")
    set_direction("contact", "nickname", "none")
    set_direction("contact", "mobile_phone", "to_outlook")

    pages, _ = pull_all(clients["end_user"])

    records = records_of(pages)
    assert list(records) == [str(mine.pk)]
    values = records[str(mine.pk)]["values"]
    assert values["mobile_phone"] == "+1 555" and values["last_name"] == "Adler"
    assert "job_title" not in values and "nickname" not in values
    assert records[str(mine.pk)]["version"] == mine.change_number
    fields = {f["column"]: f for f in pages[0]["fields"]}
    assert fields["job_title"]["sent"] is False and fields["job_title"]["accepted"] is True
    assert fields["mobile_phone"]["sent"] is True and fields["mobile_phone"]["accepted"] is False
    assert fields["nickname"] == fields["nickname"] | {"sent": False, "accepted": False}


def test_secured_field_is_absent_not_null_for_a_user_who_may_not_read_it(
    org, clients, make_contact
):
    make_contact(org["rita"], description="private", government_id="G-1")
    make_contact(org["sally"], description="hers", government_id="G-2")

    rita = records_of(pull_all(clients["restricted"])[0])
    sally = records_of(pull_all(clients["end_user"])[0])

    (values,) = [r["values"] for r in rita.values()]
    assert "description" not in values and values["government_id"] == "G-1"
    (values,) = [r["values"] for r in sally.values()]
    assert values["description"] == "hers"


def test_no_change_is_skipped_or_repeated_forever_when_the_crm_changes_between_pages(
    org, clients, make_contact
):
    sally = org["sally"]
    contacts = [make_contact(sally, last_name=f"C{n}") for n in range(7)]
    edits = {}

    def between(pages_done: int) -> None:
        # After each page: edit one record already sent and one not sent yet, add one.
        if pages_done <= 2:
            for contact in (contacts[pages_done - 1], contacts[-pages_done]):
                contact.job_title = f"edit {pages_done}"
                contact.save()
                edits[str(contact.pk)] = contact.job_title
            new = make_contact(sally, last_name=f"New{pages_done}")
            edits[str(new.pk)] = ""

    pages, cursor = pull_all(clients["end_user"], page_size=2, between=between)

    seen = records_of(pages)
    for contact in Contact.objects.filter(owner=sally):
        assert seen[str(contact.pk)]["version"] == contact.change_number
        assert seen[str(contact.pk)]["values"]["job_title"] == contact.job_title
    total = sum(len(p["records"]) for p in pages)
    assert total <= Contact.objects.filter(owner=sally).count() + 4  # each edit at most once more
    assert pull(clients["end_user"], cursor=cursor)["records"] == []  # nothing forever

    contacts[3].email = "late@example.com"
    contacts[3].save()
    later = pull(clients["end_user"], cursor=cursor)
    assert [r["id"] for r in later["records"]] == [str(contacts[3].pk)]


def test_a_lost_answer_is_asked_again_with_the_same_cursor_and_gets_the_same_page(
    org, clients, make_contact
):
    for n in range(5):
        make_contact(org["sally"], last_name=f"C{n}")
    first = pull(clients["end_user"], page_size=2)
    second = pull(clients["end_user"], cursor=first["next_cursor"], page_size=2)
    again = pull(clients["end_user"], cursor=first["next_cursor"], page_size=2)

    assert again["records"] == second["records"]
    assert again["next_cursor"] != first["next_cursor"]
    rest, _ = pull_all(clients["end_user"], cursor=again["next_cursor"], page_size=2)
    assert len(records_of([first, again, *rest])) == 5


def test_removals_say_deleted_out_of_scope_or_access_lost(org, clients, make_contact):
    sally, sam = org["sally"], org["sam"]
    gone = make_contact(sally, last_name="Deleted")
    moved = make_contact(sally, last_name="Moved")
    shared = make_contact(sam, last_name="Shared")
    share_record(record=shared, user_or_team=sally, rights=["sync"], actor=org["admin"])
    SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    _, cursor = pull_all(clients["end_user"])

    # Entered without changing: a share after the cursor is still sent.
    late = make_contact(sam, last_name="Late share")
    later = make_contact(sally, last_name="After")
    share_record(record=late, user_or_team=sally, rights=["sync"], actor=org["admin"])
    page = pull(clients["end_user"], cursor=cursor)
    assert {r["id"] for r in page["records"]} == {str(late.pk), str(later.pk)}
    cursor = page["next_cursor"]

    gone_id = str(gone.pk)
    gone.delete()
    moved.owner = sam
    moved.save()
    SyncPolicy.objects.filter(pk=1).update(contact_filter="default")
    revoke_share(record=late, user_or_team=sally, rights=["sync"], actor=org["admin"])
    page = pull(clients["end_user"], cursor=cursor)

    reasons = {r["id"]: r["reason"] for r in page["removed"]}
    assert reasons == {
        gone_id: "deleted",
        str(moved.pk): "access_lost",
        str(shared.pk): "out_of_scope",  # still readable, outside the "own records" filter
        str(late.pk): "access_lost",
    }
    assert pull(clients["end_user"], cursor=page["next_cursor"])["removed"] == []


def test_a_direction_that_starts_sending_a_field_resends_every_record(org, clients, make_contact):
    contact = make_contact(org["sally"], nickname="Annie")
    set_direction("contact", "nickname", "to_crm")
    _, cursor = pull_all(clients["end_user"])
    set_direction("contact", "nickname", "both")

    page = pull(clients["end_user"], cursor=cursor)

    assert [r["values"]["nickname"] for r in page["records"]] == ["Annie"]
    assert page["records"][0]["id"] == str(contact.pk)


# -- POST -------------------------------------------------------------------------------------


def test_each_direction_decides_what_a_client_change_does(org, clients, make_contact):
    contact = make_contact(org["sally"], email="a@x.test", mobile_phone="1", job_title="Buyer")
    set_direction("contact", "mobile_phone", "to_outlook")
    set_direction("contact", "job_title", "to_crm")
    set_direction("contact", "nickname", "none")
    record = records_of(pull_all(clients["end_user"])[0])[str(contact.pk)]

    (result,) = push_ok(
        clients["end_user"],
        [
            {
                "id": record["id"],
                "version": record["version"],
                "values": {
                    "email": "b@x.test",
                    "mobile_phone": "2",
                    "job_title": "CFO",
                    "nickname": "Private",
                },
            }
        ],
    )

    assert result["status"] == "updated"
    assert result["fields"] == {
        "email": {"status": "applied"},
        "mobile_phone": {"status": "not_synced", "reason": "direction_to_outlook"},
        "job_title": {"status": "applied"},
        "nickname": {"status": "not_synced", "reason": "direction_none"},
    }
    contact.refresh_from_db()
    assert (contact.email, contact.mobile_phone, contact.job_title, contact.nickname) == (
        "b@x.test",
        "1",
        "CFO",
        "",
    )
    assert result["version"] == contact.change_number
    assert result["record"]["values"]["mobile_phone"] == "1"  # the client takes the CRM's back
    assert "job_title" not in result["record"]["values"]


def test_a_field_the_user_may_not_update_is_reported_and_recorded_as_rejected(
    org, clients, make_contact
):
    contact = make_contact(org["rita"], description="secret", government_id="G-1")
    record = records_of(pull_all(clients["restricted"])[0])[str(contact.pk)]

    (result,) = push_ok(
        clients["restricted"],
        [
            {
                "ref": "card-1",
                "id": record["id"],
                "version": record["version"],
                "values": {"description": "guess", "government_id": "G-2", "first_name": "Ana"},
            }
        ],
    )

    assert result["fields"]["description"]["status"] == "not_permitted"
    assert result["fields"]["government_id"]["status"] == "not_permitted"
    assert result["fields"]["first_name"] == {"status": "applied"}
    contact.refresh_from_db()
    assert (contact.description, contact.government_id, contact.first_name) == (
        "secret",
        "G-1",
        "Ana",
    )
    rejected = RejectedChange.objects.filter(owner=org["rita"], crm_id=contact.pk)
    assert sorted(rejected.values_list("field", flat=True)) == ["description", "government_id"]
    assert "description" not in result["record"]["values"]


def test_conflicts_follow_the_policy_and_are_recorded(org, clients, make_contact):
    contact = make_contact(org["sally"], email="base@x.test", business_phone="100")
    record = records_of(pull_all(clients["end_user"])[0])[str(contact.pk)]
    contact.email = "crm@x.test"
    contact.save()

    results = push_ok(
        clients["end_user"],
        [
            {
                "id": record["id"],
                "version": record["version"],
                "values": {"email": "client@x.test", "business_phone": "200"},
            }
        ],
    )

    fields = results[0]["fields"]
    assert fields["email"] == {"status": "conflict_lost", "reason": "crm_wins", "conflict": True}
    assert fields["business_phone"] == {"status": "applied"}  # only the client changed it
    contact.refresh_from_db()
    assert (contact.email, contact.business_phone) == ("crm@x.test", "200")
    conflict = SyncConflict.objects.get(owner=org["sally"], crm_id=contact.pk)
    assert (conflict.field, conflict.outcome, conflict.exchange_value) == (
        "email",
        "crm",
        "client@x.test",
    )

    SyncPolicy.objects.update_or_create(pk=1, defaults={"conflict_policy": "exchange_wins"})
    version = results[0]["version"]
    contact.email = "crm-again@x.test"
    contact.save()
    (result,) = push_ok(
        clients["end_user"],
        [{"id": record["id"], "version": version, "values": {"email": "client-wins@x.test"}}],
    )
    assert result["fields"]["email"] == {
        "status": "applied",
        "reason": "exchange_wins",
        "conflict": True,
    }
    contact.refresh_from_db()
    assert contact.email == "client-wins@x.test"
    assert SyncConflict.objects.filter(crm_id=contact.pk, outcome="exchange").count() == 1


def test_the_same_batch_posted_twice_changes_nothing_the_second_time(org, clients, make_contact):
    contact = make_contact(org["sally"], email="base@x.test")
    record = records_of(pull_all(clients["end_user"])[0])[str(contact.pk)]
    contact.email = "crm@x.test"
    contact.save()
    changes = [
        {"id": record["id"], "version": record["version"], "values": {"email": "c@x.test"}},
        {"ref": "new-card", "values": {"last_name": "Novak", "description": "note"}},
    ]

    first = push(clients["end_user"], changes, key="batch-1")
    state = (
        list(Contact.objects.values_list("id", "change_number", "email").order_by("id")),
        SyncConflict.objects.count(),
    )
    second = push(clients["end_user"], changes, key="batch-1")

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert (
        list(Contact.objects.values_list("id", "change_number", "email").order_by("id")),
        SyncConflict.objects.count(),
    ) == state
    assert [r["status"] for r in first.json()["results"]] == ["unchanged", "created"]
    other = push(clients["end_user"], changes[:1], key="batch-1")
    assert_error(other, 422, "idempotency_key_reused")


def test_a_new_record_from_the_client_is_created_without_fields_that_do_not_sync(org, clients):
    set_direction("contact", "description", "none")

    (result,) = push_ok(
        clients["end_user"],
        [{"ref": "nils.vcf", "values": {"first_name": "Nils", "description": "my notes"}}],
    )

    assert result["status"] == "created"
    assert result["fields"]["description"] == {
        "status": "not_synced",
        "reason": "direction_none",
    }
    created = Contact.objects.get(pk=result["id"])
    assert (created.first_name, created.description, created.owner) == ("Nils", "", org["sally"])
    # Its answer lost, the client posts it again under a new key: the same record is found.
    (again,) = push_ok(
        clients["end_user"],
        [{"ref": "nils.vcf", "values": {"first_name": "Nils", "description": "my notes"}}],
    )
    assert (again["status"], again["id"]) == ("exists", result["id"])
    assert Contact.objects.filter(first_name="Nils").count() == 1


def test_a_create_with_a_field_the_user_may_not_set_is_refused_whole(org, clients):
    (result,) = push_ok(
        clients["restricted"],
        [{"ref": "x", "values": {"last_name": "Lee", "government_id": "123"}}],
    )
    assert result["status"] == "refused"
    assert result["fields"]["government_id"]["status"] == "not_permitted"
    assert not Contact.objects.filter(last_name="Lee").exists()
    assert RejectedChange.objects.filter(owner=org["rita"], field="government_id").exists()


def test_a_deletion_in_the_client_never_deletes_the_crm_record(org, clients, make_contact):
    contact = make_contact(org["sally"])
    pages, cursor = pull_all(clients["end_user"])
    record = records_of(pages)[str(contact.pk)]

    (result,) = push_ok(clients["end_user"], [{"id": record["id"], "deleted": True}], cursor=cursor)

    assert result["status"] == "untracked"
    assert Contact.objects.filter(pk=contact.pk).exists()
    contact.email = "changed@x.test"
    contact.save()
    assert pull(clients["end_user"], cursor=cursor)["records"] == []  # no longer synced here

    SyncPolicy.objects.update_or_create(pk=1, defaults={"remote_delete_policy": "restore"})
    other = make_contact(org["sally"], last_name="Other")
    (result,) = push_ok(clients["end_user"], [{"id": str(other.pk), "deleted": True}])
    assert result["status"] == "restored" and result["record"]["values"]["last_name"] == "Other"


def test_tasks_sync_through_the_same_endpoints(org, clients, make_task):
    task = make_task(org["sally"], subject="Call Ann", percent_complete=10)
    set_direction("task", "percent_complete", "to_crm")
    (record,) = records_of(pull_all(clients["end_user"], "task")[0]).values()
    assert record["values"]["subject"] == "Call Ann" and "percent_complete" not in record["values"]

    (result,) = push_ok(
        clients["end_user"],
        [{"id": record["id"], "version": record["version"], "values": {"percent_complete": 50}}],
        entity="task",
    )

    task.refresh_from_db()
    assert (result["status"], task.percent_complete) == ("updated", 50)


def test_invalid_values_are_reported_per_item_and_the_rest_of_the_batch_is_applied(
    org, clients, make_contact
):
    contact = make_contact(org["sally"])
    results = push_ok(
        clients["end_user"],
        [
            {"id": str(contact.pk), "values": {"birthday": "not a date", "owner": 3}},
            {"id": str(contact.pk), "version": contact.change_number, "values": {"pager": "9"}},
        ],
    )
    assert results[0]["status"] == "invalid"
    assert set(results[0]["error"]["fields"]) == {"birthday", "owner"}
    assert results[1]["status"] == "updated"


# -- refusals, history, schema ------------------------------------------------------------------


def test_refusals_have_the_api_error_shape(org, clients, client_mailbox):
    assert_error(clients["anonymous"].get(URL.format("contact")), 401)
    assert_error(clients["end_user"].get(URL.format("memo")), 404, "not_found")
    bad = clients["end_user"].get(URL.format("contact"), {"cursor": "forged"})
    assert_error(bad, 400, "invalid_cursor")
    response = clients["end_user"].post(URL.format("contact"), {"changes": []}, format="json")
    assert_error(response, 400, "idempotency_key_required")
    # Another user's cursor is not yours.
    cursor = pull(clients["restricted"])["next_cursor"]
    assert_error(clients["end_user"].get(URL.format("contact"), {"cursor": cursor}), 400)

    client_mailbox(org["sally"], contacts_path="server")
    error = assert_error(clients["end_user"].get(URL.format("contact")), 409, "server_side_sync")
    assert "sally@contoso.test" in error["message"]

    role_upsert(name="Salesperson", levels={("contact", "read"): "user"}, users=[org["sam"]])
    sam = clients["end_user"].__class__()
    sam.force_authenticate(org["sam"])
    assert_error(sam.get(URL.format("contact")), 403, "permission_denied")


def test_client_runs_are_in_the_mailbox_history(org, clients, make_contact, client_mailbox):
    mailbox = client_mailbox(org["sally"])
    contact = make_contact(org["sally"])
    _, cursor = pull_all(clients["end_user"], page_size=1)
    make_contact(org["sally"], last_name="Second")
    pull_all(clients["end_user"], cursor=cursor)
    push_ok(clients["end_user"], [{"id": str(contact.pk), "values": {"pager": "1"}}])

    runs = list(SyncRun.objects.filter(mailbox=mailbox).order_by("pk"))
    assert [(r.created_in_exchange, r.updated_in_crm) for r in runs] == [(1, 0), (1, 0), (0, 1)]
    assert {r.worker for r in runs} == {"Outlook client (REST API)"}


def test_openapi_documents_both_operations(clients):
    schema = clients["anonymous"].get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    operations = schema["paths"]["/api/v1/sync/{entity}/changes/"]
    assert set(operations) >= {"get", "post"}
    headers = [p["name"] for p in operations["post"]["parameters"] if p["in"] == "header"]
    assert headers == ["Idempotency-Key"]
    assert {"409", "422"} <= set(operations["post"]["responses"])


def test_a_mailbox_uses_one_path_per_entity_and_its_page_says_which(org, client_mailbox, client):
    mailbox = client_mailbox(org["sally"], tasks_path="server")
    assert mailbox.entities == [  # the worker's
        "appointment",
        "recurring_appointment",
        "service_activity",
        "task",
        "phone_call",
        "letter",
        "fax",
    ]
    assert mailbox.client_entities == ["contact"]

    client.force_login(org["admin"])
    page = client.get(f"/sync/mailboxes/{mailbox.pk}/").content.decode()

    assert "Contacts (Outlook client (REST API))" in page
    assert "Appointments (server-side sync)" in page and "Tasks (server-side sync)" in page


@pytest.mark.parametrize("how", ["reassigned", "unshared"])
def test_a_retry_after_the_record_was_taken_away_gives_the_result_without_the_record(
    how, org, clients, make_contact
):
    sally, sam = org["sally"], org["sam"]
    own = how == "reassigned"
    contact = make_contact(sally if own else sam, email="mine@x.test", business_phone="100")
    if not own:
        share_record(
            record=contact, user_or_team=sally, rights=["read", "write", "sync"], actor=org["admin"]
        )
        SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    record = records_of(pull_all(clients["end_user"])[0])[str(contact.pk)]
    change = {"id": record["id"], "version": record["version"], "values": {"business_phone": "2"}}
    first = push(clients["end_user"], [change], key="k").json()
    assert first["results"][0]["record"]["values"]["email"] == "mine@x.test"

    if own:
        contact.owner = sam
        contact.save()
    else:
        revoke_share(
            record=contact, user_or_team=sally, rights=["read", "write", "sync"], actor=org["admin"]
        )
    replay = push(clients["end_user"], [change], key="k")

    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    (result,) = replay.json()["results"]
    assert "record" not in result and result["record_withheld"] is True
    assert (result["id"], result["status"], result["fields"]) == (
        record["id"],
        "updated",
        {"business_phone": {"status": "applied"}},
    )
    assert "mine@x.test" not in replay.content.decode()


def _age_versions(crm_id, days: int) -> None:
    ClientRecordVersion.objects.filter(crm_id=crm_id).update(
        served_on=timezone.now() - dt.timedelta(days=days)
    )


def test_a_version_served_longer_ago_than_30_days_is_no_base_and_a_difference_is_a_conflict(
    org, clients, make_contact
):
    contact = make_contact(org["sally"], business_phone="100")
    record = records_of(pull_all(clients["end_user"])[0])[str(contact.pk)]
    contact.last_name = "Moved on"  # the CRM moves on: the version named is no longer current
    contact.save()
    change = {"id": record["id"], "version": record["version"], "values": {"business_phone": "2"}}
    _age_versions(contact.pk, days=29)
    (result,) = push_ok(clients["end_user"], [change])
    assert result["fields"]["business_phone"] == {"status": "applied"}  # a base: only one side

    contact.business_phone = "100"
    contact.save()
    _age_versions(contact.pk, days=31)
    (result,) = push_ok(clients["end_user"], [change])

    # No base: which side changed is unknown, so the conflict policy decides and the losing
    # value is recorded for the user to apply, not lost.
    assert result["fields"]["business_phone"] == {
        "status": "conflict_lost",
        "reason": "crm_wins",
        "conflict": True,
    }
    contact.refresh_from_db()
    assert contact.business_phone == "100"
    conflict = SyncConflict.objects.get(owner=org["sally"], crm_id=contact.pk)
    assert (conflict.field, conflict.exchange_value) == ("business_phone", "2")


def test_versions_are_dated_when_served_again_and_forgotten_30_days_after(
    org, clients, make_contact
):
    kept = make_contact(org["sally"], last_name="Served again")
    old = make_contact(org["sally"], last_name="Not served since")
    _, cursor = pull_all(clients["end_user"])
    _age_versions(kept.pk, days=31)
    _age_versions(old.pk, days=31)

    pull_all(clients["end_user"])  # a new client: every record served again, now
    assert ClientRecordVersion.objects.filter(crm_id=kept.pk).count() == 1
    _age_versions(old.pk, days=31)
    kept.first_name = "Bo"
    kept.save()
    pull_all(clients["end_user"], cursor=cursor)  # only the changed record is served

    assert ClientRecordVersion.objects.filter(crm_id=kept.pk).count() == 2
    assert not ClientRecordVersion.objects.filter(crm_id=old.pk).exists()
