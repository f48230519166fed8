"""The settings API: entities, field directions (read by all, changed by admins), the audit log."""

from __future__ import annotations

import pytest

from fieldsync.fields.services import field_directions_update, settings_version
from fieldsync.models import DirectionChange, FieldMapping

from .conftest import assert_error

pytestmark = pytest.mark.django_db

READERS = ("end_user", "admin", "restricted")
NON_ADMINS = ("end_user", "restricted")


def direction(entity: str, crm_field: str) -> str:
    return FieldMapping.objects.get(entity=entity, crm_field=crm_field).direction


# ---- GET /api/v1/entities/ ------------------------------------------------------------------


@pytest.mark.parametrize("who", READERS)
def test_every_user_lists_the_entities_with_field_counts(clients, who):
    response = clients[who].get("/api/v1/entities/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 8
    contact = next(e for e in body["results"] if e["key"] == "contact")
    assert contact["label"] == "Contact"
    assert contact["field_count"] == 34
    assert contact["version"] == 1
    assert contact["fields_url"].endswith("/api/v1/entities/contact/fields/")


def test_anonymous_gets_401_with_a_www_authenticate_challenge(clients):
    response = clients["anonymous"].get("/api/v1/entities/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_an_unknown_entity_is_404(clients):
    error = assert_error(clients["admin"].get("/api/v1/entities/letterbox/fields/"), 404)
    assert "known: appointment" in error["message"]
    assert_error(clients["admin"].get("/api/v1/entities/letterbox/"), 404)


# ---- GET /api/v1/entities/{entity}/fields/ --------------------------------------------------


@pytest.mark.parametrize("who", READERS)
def test_every_user_reads_the_field_table(clients, who):
    response = clients[who].get("/api/v1/entities/contact/fields/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 34
    notes = next(r for r in rows if r["crm_field"] == "description")
    assert notes == {
        "entity": "contact",
        "crm_field": "description",
        "crm_label": notes["crm_label"],
        "outlook_fields": ["Notes"],
        "direction": "both",
        "default_direction": "both",
        "allowed_directions": ["both", "to_outlook", "to_crm", "none"],
        "settable": True,
        "computed": False,
        "note": notes["note"],
        "version": 1,
    }


def test_the_field_table_filters_by_direction(clients, org):
    field_directions_update(
        entity="contact", changes={"pager": "none"}, base_version=1, actor=org["admin"]
    )
    response = clients["end_user"].get("/api/v1/entities/contact/fields/?direction=none")
    assert [r["crm_field"] for r in response.json()["results"]] == ["pager"]
    assert response.json()["results"][0]["version"] == 2


def test_one_field_row_and_an_unknown_field_is_404(clients):
    response = clients["end_user"].get("/api/v1/entities/appointment/fields/priority/")
    assert response.json()["allowed_directions"] == ["both"]
    assert_error(clients["end_user"].get("/api/v1/entities/contact/fields/nope/"), 404)


# ---- PATCH one field -----------------------------------------------------------------------


def test_admin_changes_one_direction_and_it_is_audited_as_api(clients, org):
    response = clients["admin"].patch(
        "/api/v1/entities/contact/fields/description/",
        {"direction": "none", "version": 1},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["direction"] == "none"
    assert response.json()["version"] == 2
    assert direction("contact", "description") == "none"
    change = DirectionChange.objects.get()
    assert (change.actor, change.source, change.old_direction, change.new_direction) == (
        org["admin"],
        "api",
        "both",
        "none",
    )


def test_patch_without_a_version_applies_to_the_current_one(clients):
    clients["admin"].patch(
        "/api/v1/entities/task/fields/subject/", {"direction": "to_crm"}, format="json"
    )
    response = clients["admin"].patch(
        "/api/v1/entities/task/fields/subject/", {"direction": "none"}, format="json"
    )
    assert response.status_code == 200
    assert direction("task", "subject") == "none"


@pytest.mark.parametrize("who", NON_ADMINS)
def test_users_without_the_settings_write_privilege_get_403(clients, who):
    response = clients[who].patch(
        "/api/v1/entities/contact/fields/description/", {"direction": "none"}, format="json"
    )
    error = assert_error(response, 403, "permission_denied")
    assert "not change" in error["message"]
    assert direction("contact", "description") == "both"


def test_anonymous_patch_is_401(clients):
    response = clients["anonymous"].patch(
        "/api/v1/entities/contact/fields/description/", {"direction": "none"}, format="json"
    )
    assert_error(response, 401)
    assert direction("contact", "description") == "both"


def test_a_disallowed_direction_is_400_naming_the_allowed_ones(clients):
    response = clients["admin"].patch(
        "/api/v1/entities/appointment/fields/priority/", {"direction": "to_crm"}, format="json"
    )
    error = assert_error(response, 400, "direction_not_allowed")
    assert "(allowed: both)" in error["message"]
    assert error["details"] == {"crm_field": "priority", "allowed_directions": ["both"]}
    assert error["fields"]["direction"]


def test_an_unknown_direction_is_400_listing_the_valid_ones(clients):
    response = clients["admin"].patch(
        "/api/v1/entities/contact/fields/pager/", {"direction": "sideways"}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert "valid: both, to_outlook, to_crm, none" in error["fields"]["direction"][0]


def test_a_stale_version_is_409_with_what_changed(clients, org):
    field_directions_update(
        entity="contact", changes={"pager": "none"}, base_version=1, actor=org["admin"]
    )
    response = clients["admin"].patch(
        "/api/v1/entities/contact/fields/description/",
        {"direction": "none", "version": 1},
        format="json",
    )
    error = assert_error(response, 409, "stale_version")
    assert "ada" in error["message"]
    details = error["details"]
    assert (details["your_version"], details["current_version"]) == (1, 2)
    [change] = details["changes"]
    assert (change["crm_field"], change["new_direction"], change["actor"]) == (
        "pager",
        "none",
        "ada",
    )
    assert direction("contact", "description") == "both"


# ---- PUT many fields (the OK button) -------------------------------------------------------


def test_bulk_put_saves_all_rows_in_one_version(clients):
    response = clients["admin"].put(
        "/api/v1/entities/contact/fields/",
        {
            "version": 1,
            "fields": [
                {"crm_field": "description", "direction": "none"},
                {"crm_field": "job_title", "direction": "to_crm"},
                {"crm_field": "email", "direction": "both"},
            ],
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 2
    assert {(c["crm_field"], c["new_direction"]) for c in body["changed"]} == {
        ("description", "none"),
        ("job_title", "to_crm"),
    }
    assert direction("contact", "job_title") == "to_crm"
    assert set(DirectionChange.objects.values_list("source", flat=True)) == {"api"}


def test_bulk_put_with_one_disallowed_row_saves_nothing(clients):
    response = clients["admin"].put(
        "/api/v1/entities/appointment/fields/",
        {
            "version": 1,
            "fields": [
                {"crm_field": "subject", "direction": "none"},
                {"crm_field": "priority", "direction": "to_crm"},
            ],
        },
        format="json",
    )
    error = assert_error(response, 400, "direction_not_allowed")
    assert error["details"]["allowed_directions"] == ["both"]
    assert direction("appointment", "subject") == "both"
    assert not DirectionChange.objects.exists()


def test_bulk_put_stale_is_409_and_saves_nothing(clients, org):
    field_directions_update(
        entity="task", changes={"subject": "none"}, base_version=1, actor=org["admin"]
    )
    response = clients["admin"].put(
        "/api/v1/entities/task/fields/",
        {"version": 1, "fields": [{"crm_field": "description", "direction": "none"}]},
        format="json",
    )
    error = assert_error(response, 409, "stale_version")
    assert [c["crm_field"] for c in error["details"]["changes"]] == ["subject"]
    assert direction("task", "description") == "both"
    assert settings_version(entity="task") == 2


def test_bulk_put_refuses_unknown_and_repeated_fields(clients):
    unknown = clients["admin"].put(
        "/api/v1/entities/contact/fields/",
        {"version": 1, "fields": [{"crm_field": "shoe_size", "direction": "none"}]},
        format="json",
    )
    assert "shoe_size" in assert_error(unknown, 400, "unknown_field")["message"]
    twice = clients["admin"].put(
        "/api/v1/entities/contact/fields/",
        {
            "version": 1,
            "fields": [
                {"crm_field": "pager", "direction": "none"},
                {"crm_field": "pager", "direction": "both"},
            ],
        },
        format="json",
    )
    assert "more than once" in str(assert_error(twice, 400, "invalid")["fields"])
    assert direction("contact", "pager") == "both"


@pytest.mark.parametrize("who", [*NON_ADMINS, "anonymous"])
def test_bulk_put_needs_the_privilege(clients, who):
    response = clients[who].put(
        "/api/v1/entities/contact/fields/",
        {"version": 1, "fields": [{"crm_field": "pager", "direction": "none"}]},
        format="json",
    )
    assert_error(response, 401 if who == "anonymous" else 403)
    assert direction("contact", "pager") == "both"


# ---- GET /api/v1/audit/ --------------------------------------------------------------------


@pytest.fixture
def audited(org):
    admin = org["admin"]
    field_directions_update(
        entity="contact", changes={"pager": "none"}, base_version=1, actor=admin
    )
    field_directions_update(
        entity="task", changes={"subject": "to_crm"}, base_version=1, actor=admin, source="web"
    )
    return DirectionChange.objects.order_by("id")


@pytest.mark.parametrize("who", READERS)
def test_the_audit_log_lists_changes_newest_first(clients, audited, who):
    response = clients[who].get("/api/v1/audit/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["entity"], r["crm_field"], r["source"]) for r in rows] == [
        ("task", "subject", "web"),
        ("contact", "pager", "web"),
    ]
    assert rows[0]["actor"] == "ada"


def test_the_audit_log_filters_by_entity_field_user_and_time(clients, audited):
    def fields(query: str) -> list[str]:
        response = clients["admin"].get(f"/api/v1/audit/?{query}")
        assert response.status_code == 200, response.content
        return [r["crm_field"] for r in response.json()["results"]]

    first = audited[0].changed_on.isoformat().replace("+00:00", "Z")
    second = audited[1].changed_on.isoformat().replace("+00:00", "Z")
    assert fields("entity=contact") == ["pager"]
    assert fields("field=subject") == ["subject"]
    assert fields("user=ada") == ["subject", "pager"]
    assert fields("user=nobody") == []
    assert fields(f"until={second}") == ["pager"]
    assert fields(f"since={second}") == ["subject"]
    assert fields(f"since={first}&until={first}") == []


def test_a_bad_audit_filter_is_400_not_500(clients):
    assert_error(clients["admin"].get("/api/v1/audit/?since=yesterday"), 400, "invalid")
    assert_error(clients["admin"].get("/api/v1/audit/?entity=nope"), 400, "invalid")


def test_anonymous_cannot_read_the_audit_log(clients):
    assert_error(clients["anonymous"].get("/api/v1/audit/"), 401)
