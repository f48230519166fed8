"""Saving directions: one transaction, audited, refused when stale, disallowed or unprivileged."""

import pytest
from django.core.exceptions import PermissionDenied

from fieldsync.fields.services import (
    DirectionNotAllowed,
    StaleSettings,
    field_directions_reset,
    field_directions_update,
    settings_version,
)
from fieldsync.models import DirectionChange, FieldMapping


@pytest.fixture
def admin(make_user):
    return make_user("ada", is_superuser=True, is_staff=True)


def direction(entity, crm_field):
    return FieldMapping.objects.get(entity=entity, crm_field=crm_field).direction


@pytest.mark.django_db
def test_update_saves_all_rows_and_audits_each(admin):
    v = settings_version(entity="contact")
    result = field_directions_update(
        entity="contact",
        changes={"description": "none", "job_title": "to_crm", "email": "both"},
        base_version=v,
        actor=admin,
    )
    assert result.version == v + 1
    assert direction("contact", "description") == "none"
    assert direction("contact", "job_title") == "to_crm"
    audit = {
        (a.crm_field, a.old_direction, a.new_direction, a.actor_id)
        for a in DirectionChange.objects.all()
    }
    # "email" was already "both": nothing to audit for it.
    assert audit == {
        ("description", "both", "none", admin.pk),
        ("job_title", "both", "to_crm", admin.pk),
    }


@pytest.mark.django_db
def test_stale_save_is_refused_and_names_what_changed(admin, make_user):
    other = make_user("bert", is_superuser=True)
    v = settings_version(entity="contact")
    field_directions_update(
        entity="contact", changes={"pager": "none"}, base_version=v, actor=other
    )
    with pytest.raises(StaleSettings) as exc:
        field_directions_update(
            entity="contact", changes={"pager": "both"}, base_version=v, actor=admin
        )
    assert "bert" in str(exc.value)
    assert [(c.crm_field, c.new_direction) for c in exc.value.changes] == [("pager", "none")]
    assert direction("contact", "pager") == "none"


@pytest.mark.django_db
def test_one_disallowed_direction_saves_nothing(admin):
    v = settings_version(entity="appointment")
    with pytest.raises(DirectionNotAllowed, match=r"Appointment.Priority \(allowed: both\)"):
        field_directions_update(
            entity="appointment",
            changes={"subject": "none", "priority": "to_crm"},
            base_version=v,
            actor=admin,
        )
    assert direction("appointment", "subject") == "both"
    assert not DirectionChange.objects.exists()


@pytest.mark.django_db
def test_user_without_settings_privilege_changes_nothing(make_user):
    user = make_user("eve")
    with pytest.raises(PermissionDenied):
        field_directions_update(
            entity="contact", changes={"description": "none"}, base_version=1, actor=user
        )
    assert direction("contact", "description") == "both"


@pytest.mark.django_db
def test_reset_returns_a_tab_to_the_defaults(admin):
    v = field_directions_update(
        entity="task",
        changes={"subject": "none"},
        base_version=settings_version(entity="task"),
        actor=admin,
    ).version
    field_directions_reset(entity="task", base_version=v, actor=admin)
    assert direction("task", "subject") == "both"
