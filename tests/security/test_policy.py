"""The policy's edges: administrators, inactive and anonymous users, 404 before 403, field
checks and the names other parts of the product build on."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from crm.models import CRM_MODELS, Contact, Task
from fieldsync.models import FieldMapping
from security import policy
from security.entities import RECORD_MODEL_LABELS, securable_columns
from security.models import AccessLevel, Privilege, SecuredField
from security.services import field_profile_upsert, role_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller(make_user):  # type: ignore[no-untyped-def]
    user = make_user("sid")
    role_upsert(
        name="Own contacts, read only",
        levels={("contact", "read"): AccessLevel.USER},
        users=[user],
    )
    return user


def test_security_knows_every_crm_record_type():
    assert {e: m._meta.label for e, m in CRM_MODELS.items()} == RECORD_MODEL_LABELS
    assert [a.value for a in policy.Action] == list(Privilege.values)


def test_an_active_superuser_may_do_everything(make_user, seller):  # type: ignore[no-untyped-def]
    boss = make_user("boss", is_superuser=True)
    contact = Contact.objects.create(owner=seller, government_id="9")
    SecuredField.objects.create(entity="contact", column="government_id")
    assert policy.can(boss, "delete", contact)
    assert list(policy.restrict(Contact.objects.all(), boss, "sync")) == [contact]
    assert policy.can_change_sync_settings(boss)
    assert policy.field_access(boss, "contact").hidden() == set()
    assert policy.can(boss, "create", Contact(owner=seller))


def test_inactive_and_anonymous_users_get_nothing(make_user, seller):  # type: ignore[no-untyped-def]
    contact = Contact.objects.create(owner=seller)
    gone = make_user("gone", is_superuser=True, is_active=False)
    seller.is_active = False
    for user in (gone, seller, AnonymousUser(), None):
        assert not policy.restrict(Contact.objects.all(), user).exists()
        assert not policy.can(user, "read", contact)
        assert not policy.has_privilege(user, "contact", "read")
        assert not policy.can_view_sync_settings(user)


def test_a_user_without_roles_sees_not_even_their_own_records(make_user):  # type: ignore[no-untyped-def]
    nobody = make_user("nobody")
    Contact.objects.create(owner=nobody)
    assert not policy.restrict(Contact.objects.all(), nobody).exists()
    assert not policy.can_view_sync_settings(nobody)


def test_only_crm_records_can_be_restricted(seller):  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match=r"fieldsync\.FieldMapping is not a CRM record type"):
        policy.restrict(FieldMapping.objects.all(), seller)
    with pytest.raises(ValueError, match="Unknown action 'view'"):
        policy.restrict(Contact.objects.all(), seller, "view")
    with pytest.raises(KeyError, match="Unknown entity 'contacts'"):
        policy.has_privilege(seller, "contacts", "read")


def test_a_record_you_may_not_see_is_404_and_one_you_may_not_change_is_403(seller, make_user):  # type: ignore[no-untyped-def]
    mine = Contact.objects.create(owner=seller)
    theirs = Contact.objects.create(owner=make_user("other"))
    assert policy.get_object_or_404(Contact.objects.all(), seller, pk=mine.pk) == mine
    with pytest.raises(Http404):
        policy.get_object_or_404(Contact.objects.all(), seller, pk=theirs.pk)
    with pytest.raises(Http404):
        policy.get_object_or_404(Contact.objects.all(), seller, "write", pk=theirs.pk)
    with pytest.raises(PermissionDenied, match="You may not write this contact"):
        policy.get_object_or_404(Contact.objects.all(), seller, "write", pk=mine.pk)


def test_a_secured_field_change_is_refused_with_the_field_named(seller):  # type: ignore[no-untyped-def]
    SecuredField.objects.create(entity="contact", column="government_id")
    field_profile_upsert(name="Birthdays", grants={("contact", "birthday"): ["create"]})
    with pytest.raises(PermissionDenied, match=r"Contact: birthday, government_id \(secured"):
        policy.check_field_changes(
            seller, "contact", ["last_name", "government_id", "birthday"], creating=False
        )
    policy.check_field_changes(seller, "contact", ["last_name", "job_title"], creating=True)
    # Secured fields belong to their entity: the contact's column says nothing about tasks.
    assert policy.field_access(seller, "task").secured == set()


def test_strip_unreadable_leaves_hidden_columns_out_rather_than_blank(seller):  # type: ignore[no-untyped-def]
    SecuredField.objects.create(entity="contact", column="government_id")
    access = policy.field_access(seller, "contact")
    values = {"last_name": "Ng", "government_id": "123"}
    assert access.strip_unreadable(values) == {"last_name": "Ng"}


def test_only_data_columns_can_be_secured():
    assert "owner" not in securable_columns("contact")
    assert "government_id" in securable_columns("contact")
    with pytest.raises(ValidationError, match="no column 'owner'"):
        SecuredField(entity="contact", column="owner").full_clean()
    with pytest.raises(ValidationError, match="no column 'salary'"):
        SecuredField(entity="task", column="salary").full_clean()


def test_create_follows_the_level_of_the_create_privilege(make_user, business_units):  # type: ignore[no-untyped-def]
    lead = make_user("lead", bu="root")
    role_upsert(name="Creator", levels={("task", "create"): "parent_child"}, users=[lead])
    below = make_user("below", bu="sales")
    assert policy.can(lead, "create", Task(owner=lead))
    assert policy.can(lead, "create", Task(owner=below))  # unit taken from the owner
    assert not policy.can(lead, "create", Contact(owner=lead))
    assert not policy.can(below, "create", Task(owner=below))
