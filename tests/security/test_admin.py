"""The security admin screens: every page opens, the role grid saves, teams and shares work."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from crm.models import Contact
from security import policy
from security.entities import RECORD_ENTITIES
from security.models import (
    SHARE_MODELS,
    AccessLevel,
    BusinessUnit,
    ContactUserShare,
    FieldSecurityProfile,
    SecuredField,
    SecurityRole,
    Team,
)
from security.services import role_upsert

pytestmark = pytest.mark.django_db

SCREENS = [
    BusinessUnit,
    SecurityRole,
    Team,
    FieldSecurityProfile,
    SecuredField,
    *(m for pair in SHARE_MODELS.values() for m in pair),
]


@pytest.fixture
def admin_client(client, make_user):  # type: ignore[no-untyped-def]
    client.force_login(make_user("root", is_superuser=True, is_staff=True))
    return client


def _url(model: type, view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", SCREENS, ids=lambda m: m.__name__)
def test_every_security_screen_opens(admin_client, model):  # type: ignore[no-untyped-def]
    assert admin_client.get(_url(model, "changelist")).status_code == 200
    assert admin_client.get(_url(model, "add")).status_code == 200


def test_the_role_grid_saves_every_cell(admin_client, make_user):  # type: ignore[no-untyped-def]
    seller = make_user("sue")
    form = {"name": "Seller", "description": "", "users": [seller.pk]}
    for entity in RECORD_ENTITIES:
        for action in ("create", "read", "write", "delete", "sync"):
            form[f"{entity}__{action}"] = AccessLevel.NONE
    form["contact__read"] = AccessLevel.BUSINESS_UNIT
    form["task__sync"] = AccessLevel.USER
    form["phone_call__write"] = AccessLevel.BUSINESS_UNIT
    form["service_activity__sync"] = AccessLevel.ORGANIZATION
    form["sync_settings__read"] = AccessLevel.ORGANIZATION
    form["sync_settings__write"] = AccessLevel.NONE
    response = admin_client.post(_url(SecurityRole, "add"), form)
    assert response.status_code == 302, response.content
    role = SecurityRole.objects.get(name="Seller")
    assert role.levels() == {
        ("contact", "read"): AccessLevel.BUSINESS_UNIT,
        ("task", "sync"): AccessLevel.USER,
        ("phone_call", "write"): AccessLevel.BUSINESS_UNIT,
        ("service_activity", "sync"): AccessLevel.ORGANIZATION,
        ("sync_settings", "read"): AccessLevel.ORGANIZATION,
    }
    assert policy.can_view_sync_settings(seller)
    page = admin_client.get(_url(SecurityRole, "change", role.pk)).content.decode()
    assert 'name="contact__read"' in page
    for label in ("Phone call", "Letter", "Fax", "Service activity"):
        assert f'class="fieldset-heading">{label}</h2>' in page
    assert "Parent: child business units" in page


def test_a_team_gets_members_roles_and_profiles_from_one_page(admin_client, make_user):  # type: ignore[no-untyped-def]
    member = make_user("max")
    role = role_upsert(name="Reader", levels={("contact", "read"): "organization"})
    profile = FieldSecurityProfile.objects.create(name="HR")
    response = admin_client.post(
        _url(Team, "add"),
        {
            "name": "Key accounts",
            "members": [member.pk],
            "security_roles": [role.pk],
            "field_security_profiles": [profile.pk],
        },
    )
    assert response.status_code == 302, response.content
    team = Group.objects.get(name="Key accounts")
    assert list(team.user_set.all()) == [member]
    assert policy.access_level(member, "contact", "read") == AccessLevel.ORGANIZATION
    assert list(profile.teams.all()) == [team]


def test_sharing_and_revoking_in_the_admin(admin_client, make_user):  # type: ignore[no-untyped-def]
    owner, reader = make_user("owen"), make_user("rita", bu="service")
    role_upsert(name="Own", levels={("contact", "read"): "user"}, users=[owner, reader])
    contact = Contact.objects.create(owner=owner)
    view = Permission.objects.get(codename="view_contact")
    response = admin_client.post(
        _url(ContactUserShare, "add"),
        {"content_object": contact.pk, "user": reader.pk, "permission": view.pk},
    )
    assert response.status_code == 302, response.content
    assert policy.can(reader, "read", contact)

    share = ContactUserShare.objects.get()
    response = admin_client.post(_url(ContactUserShare, "delete", share.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not policy.can(reader, "read", contact)


def test_the_share_form_offers_only_the_shareable_rights_of_its_entity(admin_client):  # type: ignore[no-untyped-def]
    page = admin_client.get(_url(ContactUserShare, "add")).content.decode()
    assert "Can sync contact with Exchange/Outlook" in page
    assert "Can add contact" not in page
    assert "Can view task" not in page


def test_the_share_list_filters_by_the_rights_of_its_entity_and_stays_cheap(
    admin_client, make_user
):  # type: ignore[no-untyped-def]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    owner, reader = make_user("owen"), make_user("rita", bu="service")
    role_upsert(name="Own", levels={("contact", "read"): "user"}, users=[owner, reader])
    contact = Contact.objects.create(owner=owner)
    sync = Permission.objects.get(codename="sync_contact")
    ContactUserShare.objects.create(content_object=contact, user=reader, permission=sync)
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(_url(ContactUserShare, "changelist")).content.decode()
    # The sidebar offers the four rights a contact share carries, not every Django permission
    # (reading each of those cost a query).
    assert "By right" in page
    for label in ("Read", "Write", "Delete", "Sync to Exchange/Outlook"):
        assert f">{label}</a>" in page
    assert "Can add log entry" not in page and "Can view task" not in page
    assert len(queries) < 20, len(queries)
    view = Permission.objects.get(codename="view_contact")
    url = _url(ContactUserShare, "changelist")
    by_read = admin_client.get(url, {"permission__id__exact": view.pk}).content.decode()
    by_sync = admin_client.get(url, {"permission__id__exact": sync.pk}).content.decode()
    assert "0 contacts shared with users" in by_read
    assert "1 contact shared with a user" in by_sync
