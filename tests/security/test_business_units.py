"""The business-unit tree keeps its materialized paths true when units are added and moved."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from crm.models import Contact
from security import policy
from security.models import AccessLevel, BusinessUnit
from security.services import role_upsert

pytestmark = pytest.mark.django_db


def _paths() -> dict[str, str]:
    return dict(BusinessUnit.objects.values_list("name", "path"))


def test_new_units_get_the_path_of_their_ancestors():
    root = BusinessUnit.objects.create(name="Root")
    child = BusinessUnit.objects.create(name="Child", parent=root)
    grandchild = BusinessUnit.objects.create(name="Grandchild", parent=child)
    assert grandchild.path == f"/{root.pk}/{child.pk}/{grandchild.pk}/"
    assert set(child.descendants()) == {child, grandchild}
    assert set(root.descendants(include_self=False)) == {child, grandchild}


def test_moving_a_unit_moves_its_whole_subtree():
    root = BusinessUnit.objects.create(name="Root")
    east = BusinessUnit.objects.create(name="East", parent=root)
    west = BusinessUnit.objects.create(name="West", parent=root)
    team = BusinessUnit.objects.create(name="Team", parent=east)
    squad = BusinessUnit.objects.create(name="Squad", parent=team)

    team.parent = west
    team.save()
    assert _paths()["Team"] == f"/{root.pk}/{west.pk}/{team.pk}/"
    assert _paths()["Squad"] == f"/{root.pk}/{west.pk}/{team.pk}/{squad.pk}/"
    assert set(east.descendants()) == {east}


def test_moving_a_unit_moves_what_a_parent_child_role_reaches(make_user):  # type: ignore[no-untyped-def]
    root = BusinessUnit.objects.create(name="Root")
    east = BusinessUnit.objects.create(name="East", parent=root)
    west = BusinessUnit.objects.create(name="West", parent=root)
    team = BusinessUnit.objects.create(name="Team", parent=east)
    boss = make_user("boss")
    boss.business_unit = east
    boss.save()
    member = make_user("member")
    member.business_unit = team
    member.save()
    role_upsert(name="Head", levels={("contact", "read"): AccessLevel.PARENT_CHILD}, users=[boss])
    contact = Contact.objects.create(owner=member)
    assert policy.can(boss, "read", contact)

    team.parent = west
    team.save()
    assert not policy.can(boss, "read", contact)


def test_a_unit_cannot_move_below_itself():
    root = BusinessUnit.objects.create(name="Root")
    child = BusinessUnit.objects.create(name="Child", parent=root)
    grandchild = BusinessUnit.objects.create(name="Grandchild", parent=child)
    child.parent = grandchild
    with pytest.raises(ValidationError, match="own ancestor"):
        child.full_clean()
    with pytest.raises(ValidationError, match="own ancestor"):
        child.save()
    assert BusinessUnit.objects.get(pk=child.pk).parent_id == root.pk
    assert _paths()["Grandchild"] == f"/{root.pk}/{child.pk}/{grandchild.pk}/"
