"""Sharing and revoking records, roles and profiles as data, and the demo's security setup."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied

from crm.models import Contact, Task
from security import policy
from security.models import (
    AccessLevel,
    ContactTeamShare,
    ContactUserShare,
    FieldSecurityProfile,
    RolePrivilege,
    SecuredField,
    SecurityRole,
)
from security.services import (
    field_profile_upsert,
    revoke_share,
    role_privileges_set,
    role_upsert,
    seed_security_demo,
    share_record,
)

pytestmark = pytest.mark.django_db

OWN_RECORDS = {("contact", a): AccessLevel.USER for a in ("read", "write", "delete", "sync")}


@pytest.fixture
def sellers(make_user):  # type: ignore[no-untyped-def]
    owner = make_user("olga")
    peer = make_user("pete", bu="service")
    role_upsert(name="Seller", levels=OWN_RECORDS, users=[owner, peer])
    return owner, peer


def test_shared_contact_becomes_visible_and_revoking_hides_it_again(sellers):  # type: ignore[no-untyped-def]
    owner, peer = sellers
    contact = Contact.objects.create(owner=owner, last_name="Shared")
    assert not policy.can(peer, "read", contact)

    share_record(record=contact, user_or_team=peer, rights=["read", "sync"], actor=owner)
    assert policy.can(peer, "read", contact)
    assert policy.can(peer, "sync", contact)
    assert not policy.can(peer, "write", contact)
    # Stored as guardian object permissions, so guardian's own backend agrees.
    assert peer.has_perm("crm.sync_contact", contact)
    assert ContactUserShare.objects.filter(content_object=contact, user=peer).count() == 2

    revoke_share(record=contact, user_or_team=peer, rights=["sync"], actor=owner)
    assert policy.can(peer, "read", contact)
    assert not policy.can(peer, "sync", contact)
    revoke_share(record=contact, user_or_team=peer, actor=owner)
    assert not policy.can(peer, "read", contact)
    assert not ContactUserShare.objects.exists()


def test_sharing_with_a_team_reaches_its_members_only(sellers, make_user):  # type: ignore[no-untyped-def]
    owner, peer = sellers
    outsider = make_user("otto", bu="service")
    role_upsert(name="Seller", levels=OWN_RECORDS, users=[outsider])
    team = Group.objects.create(name="Key accounts")
    peer.groups.add(team)
    contact = Contact.objects.create(owner=owner)

    share_record(record=contact, user_or_team=team, rights=["write"], actor=owner)
    assert ContactTeamShare.objects.filter(content_object=contact, group=team).exists()
    assert policy.can(peer, "write", contact)
    assert policy.can(peer, "read", contact)  # any shared right includes reading
    assert not policy.can(outsider, "read", contact)


def test_you_cannot_share_a_right_you_do_not_hold(sellers):  # type: ignore[no-untyped-def]
    owner, peer = sellers
    contact = Contact.objects.create(owner=owner)
    share_record(record=contact, user_or_team=peer, rights=["read"], actor=owner)
    with pytest.raises(PermissionDenied, match="write"):
        share_record(record=contact, user_or_team=peer, rights=["write"], actor=peer)
    with pytest.raises(PermissionDenied):
        revoke_share(record=contact, user_or_team=peer, rights=["delete"], actor=peer)
    assert not policy.can(peer, "write", contact)


def test_create_cannot_be_shared(sellers):  # type: ignore[no-untyped-def]
    owner, peer = sellers
    contact = Contact.objects.create(owner=owner)
    with pytest.raises(ValueError, match="'create' cannot be shared"):
        share_record(record=contact, user_or_team=peer, rights=["create"], actor=owner)


def test_shares_go_with_the_deleted_record(sellers):  # type: ignore[no-untyped-def]
    """Direct foreign keys: a share can never grant access to whatever later takes the id."""
    owner, peer = sellers
    contact = Contact.objects.create(owner=owner)
    share_record(record=contact, user_or_team=peer, rights=["read"], actor=owner)
    contact.delete()
    assert not ContactUserShare.objects.exists()


def test_a_share_needs_the_privilege_on_the_entity(sellers, make_user):  # type: ignore[no-untyped-def]
    """Role-based security decides the entity type: a share widens records, not entities."""
    owner, _ = sellers
    no_role = make_user("nora", bu="service")
    task = Task.objects.create(owner=owner, subject="Call back")
    contact = Contact.objects.create(owner=owner)
    share_record(record=contact, user_or_team=no_role, rights=["read"], actor=owner)
    assert not policy.can(no_role, "read", contact)
    role_upsert(name="Task reader", levels={("task", "read"): AccessLevel.USER}, users=[no_role])
    assert not policy.can(no_role, "read", contact)
    role_upsert(name="Seller", levels=OWN_RECORDS, users=[no_role])
    assert policy.can(no_role, "read", contact)
    assert not policy.can(no_role, "read", task)


def test_role_privileges_set_replaces_the_whole_grid(make_user):  # type: ignore[no-untyped-def]
    role = role_upsert(name="R", levels={("contact", "read"): "organization", ("task", "write"): 2})
    role_privileges_set(role=role, levels={("contact", "read"): "user", ("task", "write"): 0})
    assert role.levels() == {("contact", "read"): AccessLevel.USER}
    assert RolePrivilege.objects.filter(role=role).count() == 1
    with pytest.raises(ValueError, match="read, write only"):
        role_privileges_set(role=role, levels={("sync_settings", "delete"): 4})
    with pytest.raises(ValueError, match="Unknown access level 'everyone'"):
        role_privileges_set(role=role, levels={("contact", "read"): "everyone"})


def test_field_profile_upsert_secures_the_column_and_is_idempotent(make_user):  # type: ignore[no-untyped-def]
    user = make_user("fay")
    for _ in range(2):
        field_profile_upsert(name="HR", grants={("contact", "birthday"): ["read"]}, users=[user])
    assert list(SecuredField.objects.values_list("entity", "column")) == [("contact", "birthday")]
    access = policy.field_access(user, "contact")
    assert access.can_read("birthday") and not access.can_update("birthday")


# ---- the demo --------------------------------------------------------------------------


@pytest.fixture
def demo(make_user, business_units):  # type: ignore[no-untyped-def]
    from security.models import BusinessUnit

    east = BusinessUnit.objects.create(name="Sales East", parent=business_units["sales"])
    people = {
        "admin": make_user("ada", bu="root"),  # not a superuser: the role must do the work
        "sally": make_user("sally"),
        "sam": make_user("sam"),
        "eve": make_user("eve", bu="service"),
        "mona": make_user("mona"),
    }
    people["east"] = make_user("ernie")
    people["east"].business_unit = east
    people["east"].save()
    seed_security_demo(
        admin=people["admin"],
        salespeople=[people["sally"], people["sam"], people["eve"], people["east"]],
        managers=[people["mona"]],
    )
    return people


def test_demo_setup_is_idempotent(demo):  # type: ignore[no-untyped-def]
    before = (
        list(RolePrivilege.objects.values_list("role__name", "entity", "action", "level")),
        list(SecuredField.objects.values_list("entity", "column")),
        SecurityRole.objects.count(),
        FieldSecurityProfile.objects.count(),
    )
    seed_security_demo(admin=demo["admin"], salespeople=[demo["sally"]], managers=[demo["mona"]])
    after = (
        list(RolePrivilege.objects.values_list("role__name", "entity", "action", "level")),
        list(SecuredField.objects.values_list("entity", "column")),
        SecurityRole.objects.count(),
        FieldSecurityProfile.objects.count(),
    )
    assert after == before
    assert set(SecurityRole.objects.values_list("name", flat=True)) == {
        "Salesperson",
        "Sales Manager",
        "System Administrator",
    }
    assert ("contact", "government_id") in before[1]


def test_demo_salesperson_sees_own_contacts_only_and_cannot_change_settings(demo):  # type: ignore[no-untyped-def]
    sally, sam = demo["sally"], demo["sam"]
    mine = Contact.objects.create(owner=sally, government_id="123-45")
    Contact.objects.create(owner=sam)
    assert list(policy.restrict(Contact.objects.all(), sally)) == [mine]
    for action in ("create", "read", "write", "delete", "sync"):
        assert policy.access_level(sally, "task", action) == AccessLevel.USER
    assert policy.can_view_sync_settings(sally)
    assert not policy.can_change_sync_settings(sally)
    assert policy.field_access(sally, "contact").hidden() == {"government_id"}
    (row,) = policy.readable_values(Contact.objects.all(), sally, "last_name", "government_id")
    assert "government_id" not in row


def test_demo_manager_reads_down_the_tree_and_changes_own_unit_only(demo):  # type: ignore[no-untyped-def]
    mona = demo["mona"]
    same_unit = Contact.objects.create(owner=demo["sally"], government_id="1")
    child_unit = Contact.objects.create(owner=demo["east"])
    other_unit = Contact.objects.create(owner=demo["eve"])
    readable = set(policy.restrict(Contact.objects.all(), mona))
    assert readable == {same_unit, child_unit}
    assert set(policy.restrict(Contact.objects.all(), mona, "write")) == {same_unit}
    assert not policy.can(mona, "read", other_unit)
    access = policy.field_access(mona, "contact")
    assert access.can_read("government_id") and access.can_update("government_id")
    assert not access.can_create("government_id")
    assert not policy.can_change_sync_settings(mona)


def test_demo_system_administrator_role_reaches_everything(demo):  # type: ignore[no-untyped-def]
    admin = demo["admin"]
    contact = Contact.objects.create(owner=demo["eve"])
    assert not admin.is_superuser
    assert policy.can(admin, "delete", contact)
    assert policy.can_change_sync_settings(admin)
    # Field security is separate from roles: the Managers profile is not the admin's.
    assert not policy.field_access(admin, "contact").can_read("government_id")
