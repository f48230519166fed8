"""The Outlook client path stores no secured value in clear, and still merges right.

What the client path keeps outlives the user who could read it: the record values of each
version served (the merge base, one row per record and change number, shared by every user it
was served to) and each batch's answer (replayed on a retry, maybe after a right was taken
away). The value of a field under field security is kept there only as a keyed digest, whoever
the user; conflicts and rejected changes keep one only where the user may not read the field,
as the server-side sync does.

A matrix through the API (every direction x field right x record access, one cell each) checks
what reaches the client and the CRM and every row of the client path's tables; then the merge of
a user who reads and updates secured fields, against sealed bases, and the rows kept in clear by
an earlier version.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid

import pytest
from django.apps import apps
from django.core import serializers
from django.core.serializers.json import DjangoJSONEncoder

from crm.models import Contact
from fieldsync.models import FieldMapping
from fieldsync.models.client import (
    ClientBatch,
    ClientRecordVersion,
    ClientSyncItem,
    ClientSyncSession,
)
from fieldsync.models.sync import RejectedChange, SyncConflict, SyncPolicy
from security.models import FieldPermission, FieldSecurityProfile, SecuredField
from security.services import role_upsert, share_record

from .conftest import token_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/sync/{}/changes/"
CLIENT_TABLES = (ClientRecordVersion, ClientBatch, ClientSyncSession, ClientSyncItem)
DIRECTIONS = ("both", "to_outlook", "to_crm", "none")
FIELD_RIGHTS = {
    "no_rights": (),
    "read_only": ("read",),
    "read_update": ("read", "create", "update"),
}
ACCESS = ("own", "shared_read", "shared_write", "not_shared")
COLUMN = "job_title"  # a catalog row that allows all four directions
RECORD_ACTIONS = ("create", "read", "write", "delete", "sync")


def stored(*models) -> str:
    """Every row of these tables (all of fieldsync's when none are named), as text: what an
    administrator, a backup or a change log of those tables sees."""
    models = models or tuple(apps.get_app_config("fieldsync").get_models())
    return "".join(serializers.serialize("json", m.objects.all()) for m in models)


def set_direction(entity: str, field: str, direction: str) -> None:
    assert FieldMapping.objects.filter(entity=entity, crm_field=field).update(direction=direction)


def secure(user, entity: str, column: str, *ops: str) -> FieldPermission:
    field, _ = SecuredField.objects.get_or_create(entity=entity, column=column)
    profile = FieldSecurityProfile.objects.create(name=f"{entity}.{column} {user.username}")
    profile.users.add(user)
    return FieldPermission.objects.create(
        profile=profile,
        field=field,
        can_read="read" in ops,
        can_create="create" in ops,
        can_update="update" in ops,
    )


def pull_all(client, entity="contact") -> dict[str, dict]:
    records, cursor = {}, None
    for _ in range(20):
        response = client.get(URL.format(entity), {"cursor": cursor} if cursor else {})
        assert response.status_code == 200, response.content
        page = response.json()
        records |= {r["id"]: r for r in page["records"]}
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return records
    raise AssertionError("the pages never end")


def push(client, changes, key=None, entity="contact"):
    response = client.post(
        URL.format(entity),
        {"changes": changes},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()),
    )
    assert response.status_code == 200, response.content
    return response


@pytest.fixture
def sally(make_user):
    user = make_user("sally")
    role_upsert(
        name="Salesperson",
        levels={(e, a): "user" for e in ("contact", "task") for a in RECORD_ACTIONS},
        users=[user],
    )
    return user


@pytest.fixture
def as_sally(sally):
    return token_client(sally)


def _expected_status(direction: str, rights: str, access: str) -> str:
    if direction not in ("both", "to_crm"):
        return "not_synced"
    if rights == "read_update" and access in ("own", "shared_write"):
        return "applied"
    return "not_permitted"


@pytest.mark.parametrize(
    ("direction", "rights", "access"), list(itertools.product(DIRECTIONS, FIELD_RIGHTS, ACCESS))
)
def test_cell(direction, rights, access, sally, as_sally, make_user):
    SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    set_direction("contact", COLUMN, direction)
    secure(sally, "contact", COLUMN, *FIELD_RIGHTS[rights])
    owner = sally if access == "own" else make_user("bob")
    record = Contact.objects.create(
        owner=owner, first_name="Ann", last_name="Lee", job_title="CRM-1"
    )
    if access.startswith("shared"):
        share = ["sync", "write"] if access == "shared_write" else ["sync"]
        share_record(
            record=record,
            user_or_team=sally,
            rights=share,
            actor=make_user("ada", is_superuser=True),
        )
    readable = "read" in FIELD_RIGHTS[rights]
    secrets = ("CRM-1", "OUT-2", "CRM-3", "OUT-4")

    pulled = pull_all(as_sally)
    if access == "not_shared":
        assert pulled == {}
        return
    seen = pulled[str(record.pk)]
    sends = direction in ("both", "to_outlook") and readable
    assert seen["values"].get(COLUMN) == ("CRM-1" if sends else None), "what reached the client"

    # The client's edit, posted twice under one key: the retry answers the same.
    change = {"id": seen["id"], "version": seen["version"], "values": {COLUMN: "OUT-2"}}
    first = push(as_sally, [change], key="edit").json()
    (result,) = first["results"]
    status = _expected_status(direction, rights, access)
    assert result["fields"][COLUMN]["status"] == status
    record.refresh_from_db()
    assert record.job_title == ("OUT-2" if status == "applied" else "CRM-1"), "what reached the CRM"
    assert RejectedChange.objects.filter(crm_id=record.pk).exists() == (status == "not_permitted")
    replay = push(as_sally, [change], key="edit")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first, "a retry gets the same answer"
    assert (COLUMN in result["record"]["values"]) == sends

    # Both sides change the field against the version the client saw.
    record.job_title = "CRM-3"
    record.save()
    push(as_sally, [dict(change, values={COLUMN: "OUT-4"})])
    record.refresh_from_db()
    took = status == "applied" and direction == "to_crm"  # to_crm: Outlook wins a conflict
    assert record.job_title == ("OUT-4" if took else "CRM-3")
    if status == "applied":
        conflict = SyncConflict.objects.get(crm_id=record.pk, field=COLUMN, exchange_value="OUT-4")
        assert (conflict.base_value, conflict.crm_value) == (None, "CRM-3")
    # The first batch once more: the record changed since, so its secured value is left out.
    again = push(as_sally, [change], key="edit").json()
    assert COLUMN not in again["results"][0]["record"]["values"]

    kept = stored(*CLIENT_TABLES)
    assert not any(v in kept for v in secrets), "the client path stored a secured value in clear"
    if not readable:
        everything = stored()
        assert not any(v in everything for v in secrets), "the sync stored it in clear"


# -- a user who reads and updates secured fields ---------------------------------------------
# Organization from tests/api/conftest.py: sally reads and updates Contact.description and
# government_id (both secured).


def _pulled(clients, contact) -> dict:
    return pull_all(clients["end_user"])[str(contact.pk)]


def test_a_readers_edit_of_a_secured_field_is_applied_against_a_sealed_base(
    org, clients, make_contact
):
    contact = make_contact(org["sally"], government_id="G-1", description="note")
    seen = _pulled(clients, contact)
    contact.job_title = "Buyer"  # the CRM moves on: the base is the version kept, not the record
    contact.save()

    response = push(
        clients["end_user"],
        [{"id": seen["id"], "version": seen["version"], "values": {"government_id": "G-2"}}],
    )

    (result,) = response.json()["results"]
    assert result["fields"]["government_id"] == {"status": "applied"}
    contact.refresh_from_db()
    assert (contact.government_id, contact.job_title, contact.description) == (
        "G-2",
        "Buyer",
        "note",
    )
    assert result["record"]["values"]["government_id"] == "G-2"
    assert not SyncConflict.objects.exists()
    kept = stored(*CLIENT_TABLES)
    assert not any(v in kept for v in ("G-1", "G-2", "note")), kept


def test_a_crm_edit_of_a_secured_field_is_kept_when_the_client_did_not_change_it(
    org, clients, make_contact
):
    contact = make_contact(org["sally"], government_id="G-1", description="note")
    seen = _pulled(clients, contact)
    contact.government_id = "G-crm"
    contact.save()

    (result,) = push(
        clients["end_user"],
        [
            {
                "id": seen["id"],
                "version": seen["version"],
                # A client that sends every column: government_id as it had it.
                "values": {"government_id": "G-1", "description": "note 2"},
            }
        ],
    ).json()["results"]

    assert result["fields"]["government_id"] == {"status": "unchanged"}
    assert result["fields"]["description"] == {"status": "applied"}
    contact.refresh_from_db()
    assert (contact.government_id, contact.description) == ("G-crm", "note 2")
    assert result["record"]["values"]["government_id"] == "G-crm"
    assert not SyncConflict.objects.exists()


def test_both_sides_changing_a_secured_field_is_a_conflict_with_both_values(
    org, clients, make_contact
):
    contact = make_contact(org["sally"], government_id="G-1")
    seen = _pulled(clients, contact)
    contact.government_id = "G-crm"
    contact.save()
    change = {"id": seen["id"], "version": seen["version"], "values": {"government_id": "G-out"}}

    (result,) = push(clients["end_user"], [change]).json()["results"]

    assert result["fields"]["government_id"] == {
        "status": "conflict_lost",
        "reason": "crm_wins",
        "conflict": True,
    }
    contact.refresh_from_db()
    assert contact.government_id == "G-crm"
    conflict = SyncConflict.objects.get(owner=org["sally"], crm_id=contact.pk)
    # Both values for the reader to see and apply; the version's value was kept as a digest
    # only, so the base is unknown.
    assert (conflict.field, conflict.crm_value, conflict.exchange_value) == (
        "government_id",
        "G-crm",
        "G-out",
    )
    assert conflict.base_value is None
    page = clients["end_user"].get("/api/v1/conflicts/")
    assert "G-out" in page.content.decode(), "the reader sees the losing value"

    SyncPolicy.objects.update_or_create(pk=1, defaults={"conflict_policy": "exchange_wins"})
    contact.government_id = "G-crm-2"
    contact.save()
    (result,) = push(
        clients["end_user"], [dict(change, values={"government_id": "G-out-2"})]
    ).json()["results"]
    assert result["fields"]["government_id"]["status"] == "applied"
    contact.refresh_from_db()
    assert contact.government_id == "G-out-2"
    kept = stored(*CLIENT_TABLES)
    assert not any(v in kept for v in ("G-1", "G-crm", "G-out", "G-crm-2", "G-out-2"))


def test_a_field_of_several_columns_with_one_secured_merges_column_by_column(
    org, clients, make_contact
):
    secure(org["sally"], "contact", "address1_city", "read", "create", "update")
    contact = make_contact(org["sally"], address1_street="1 Main St", address1_city="Springfield")
    seen = _pulled(clients, contact)
    contact.job_title = "Buyer"
    contact.save()

    (result,) = push(
        clients["end_user"],
        [{"id": seen["id"], "version": seen["version"], "values": {"address1_street": "2 Elm"}}],
    ).json()["results"]
    assert result["fields"]["address1_street"] == {"status": "applied"}
    contact.refresh_from_db()
    assert (contact.address1_street, contact.address1_city) == ("2 Elm", "Springfield")
    assert "Springfield" not in stored(*CLIENT_TABLES)

    # The CRM changes the city, the client the street, each against the same version: the
    # field (the whole address) changed on both sides, and the CRM wins it.
    seen = _pulled(clients, contact)
    contact.address1_city = "Shelbyville"
    contact.save()
    (result,) = push(
        clients["end_user"],
        [{"id": seen["id"], "version": seen["version"], "values": {"address1_street": "3 Oak"}}],
    ).json()["results"]
    assert result["fields"]["address1_street"]["status"] == "conflict_lost"
    contact.refresh_from_db()
    assert (contact.address1_street, contact.address1_city) == ("2 Elm", "Shelbyville")


def test_a_user_who_may_not_read_a_secured_field_neither_gets_nor_changes_it(
    org, clients, make_contact
):
    contact = make_contact(org["rita"], description="private", government_id="G-1")
    seen = pull_all(clients["restricted"])[str(contact.pk)]
    assert "description" not in seen["values"]
    contact.description = "private 2"
    contact.save()

    (result,) = push(
        clients["restricted"],
        [{"id": seen["id"], "version": seen["version"], "values": {"description": "private 2"}}],
    ).json()["results"]

    assert result["fields"]["description"]["status"] == "not_permitted"
    assert "description" not in result["record"]["values"]
    contact.refresh_from_db()
    assert contact.description == "private 2"
    assert "private" not in stored(), "a value rita may not read was stored in clear"


@pytest.mark.parametrize("stored_by", ["this release", "an earlier release"])
def test_a_retry_after_the_read_right_went_does_not_give_the_value_back(
    stored_by, org, clients, make_contact
):
    contact = make_contact(org["sally"], government_id="G-1")
    seen = _pulled(clients, contact)
    change = {"id": seen["id"], "version": seen["version"], "values": {"first_name": "Ana"}}
    first = push(clients["end_user"], [change], key="k").json()
    assert first["results"][0]["record"]["values"]["government_id"] == "G-1"
    if stored_by == "an earlier release":  # it kept the answer as given, in clear
        ClientBatch.objects.filter(key="k").update(response=first)
    assert push(clients["end_user"], [change], key="k").json() == first

    FieldPermission.objects.filter(profile__name="Full", field__column="government_id").update(
        can_read=False
    )
    replay = push(clients["end_user"], [change], key="k")

    assert replay.headers["Idempotent-Replayed"] == "true"
    values = replay.json()["results"][0]["record"]["values"]
    assert "government_id" not in values and values["first_name"] == "Ana"


def test_an_invalid_value_of_a_secured_field_is_not_repeated(org, clients, make_contact):
    secure(org["sally"], "contact", "birthday", "read", "create", "update")
    contact = make_contact(org["sally"])
    seen = _pulled(clients, contact)

    response = push(
        clients["end_user"],
        [{"id": seen["id"], "version": seen["version"], "values": {"birthday": "1980-13-45-x"}}],
    )

    (result,) = response.json()["results"]
    assert result["status"] == "invalid"
    assert result["error"]["fields"]["birthday"] == [
        "Invalid value for this secured field (not repeated here): expected a date."
    ]
    assert "1980-13-45-x" not in response.content.decode() + stored(ClientBatch)


# -- rows kept by an earlier version -----------------------------------------------------------


def test_a_version_kept_in_clear_still_merges_and_is_sealed_by_the_next_request(
    org, clients, make_contact
):
    contact = make_contact(org["sally"], government_id="G-1", job_title="Buyer")
    seen = _pulled(clients, contact)
    row = ClientRecordVersion.objects.get(crm_id=contact.pk)
    row.values = {**row.values, "government_id": "G-1"}  # as an earlier version kept it
    row.sealed = ""
    row.save()
    contact.job_title = "Lead buyer"
    contact.save()
    assert "G-1" in stored(ClientRecordVersion)

    (result,) = push(
        clients["end_user"],
        [{"id": seen["id"], "version": seen["version"], "values": {"government_id": "G-2"}}],
    ).json()["results"]

    assert result["fields"]["government_id"] == {"status": "applied"}
    contact.refresh_from_db()
    assert (contact.government_id, contact.job_title) == ("G-2", "Lead buyer")
    assert not any(v in stored(ClientRecordVersion) for v in ("G-1", "G-2"))


def test_versions_served_before_a_field_was_secured_are_sealed_by_the_next_request(
    org, clients, make_contact
):
    contact = make_contact(org["sally"], job_title="Buyer")
    seen = _pulled(clients, contact)
    assert "Buyer" in stored(ClientRecordVersion)

    secure(org["sally"], "contact", "job_title", "read", "create", "update")
    contact.first_name = "Ana"
    contact.save()
    pull_all(clients["end_user"])
    assert "Buyer" not in stored(ClientRecordVersion)

    # The sealed base still tells the client's edit from the CRM's.
    (result,) = push(
        clients["end_user"],
        [{"id": seen["id"], "version": seen["version"], "values": {"job_title": "Lead"}}],
    ).json()["results"]
    assert result["fields"]["job_title"] == {"status": "applied"}
    contact.refresh_from_db()
    assert (contact.job_title, contact.first_name) == ("Lead", "Ana")


def test_a_retry_of_a_batch_stored_with_the_plain_hash_of_an_earlier_version_is_replayed(
    org, clients, make_contact
):
    contact = make_contact(org["sally"], government_id="G-7")
    seen = _pulled(clients, contact)
    body = {
        "changes": [{"id": seen["id"], "version": seen["version"], "values": {"first_name": "Ana"}}]
    }
    first = push(clients["end_user"], body["changes"], key="old").json()
    batch = ClientBatch.objects.get(key="old")
    plain = json.dumps(["contact", body], sort_keys=True, cls=DjangoJSONEncoder)
    assert batch.request_hash != hashlib.sha256(plain.encode()).hexdigest(), "a keyed hash"
    batch.request_hash = hashlib.sha256(plain.encode()).hexdigest()  # as stored before
    batch.response = first  # in clear, as given
    batch.save()

    replay = push(clients["end_user"], body["changes"], key="old")

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first
    assert first["results"][0]["record"]["values"]["government_id"] == "G-7"
    assert "G-7" not in stored(ClientBatch), "sealed from now on"
