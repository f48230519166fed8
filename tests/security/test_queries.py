"""The policy answers in a fixed number of queries, however many roles, teams, shares and
business units a user has."""

from __future__ import annotations

import pytest

from crm.models import Contact
from security import policy
from security.models import AccessLevel, BusinessUnit, SecuredField, User
from security.services import field_profile_upsert, role_upsert, share_record

pytestmark = pytest.mark.django_db


def _organization(size: int) -> tuple[User, int]:
    """A user at the top of a chain of `size` units, with `size` roles of their own, `size`
    teams each holding `size` roles, and `size` contacts shared with them directly and via a
    team. Returns the user and how many contacts they may read."""
    admin = User.objects.create(username="root", is_superuser=True)
    top = BusinessUnit.objects.create(name="Top")
    units = [top]
    for i in range(size):
        units.append(BusinessUnit.objects.create(name=f"Level {i}", parent=units[-1]))
    outside = BusinessUnit.objects.create(name="Outside")
    user = User.objects.create(username="reader", business_unit=top)
    stranger = User.objects.create(username="stranger", business_unit=outside)
    teams = [user.groups.create(name=f"team {i}") for i in range(size)]
    for i in range(size):
        level = AccessLevel.PARENT_CHILD if i == 0 else AccessLevel.USER
        role_upsert(name=f"own {i}", levels={("contact", "read"): level}, users=[user])
        for t, team in enumerate(teams):
            role_upsert(
                name=f"team {t} role {i}",
                levels={("contact", "read"): AccessLevel.BUSINESS_UNIT, ("task", "read"): 4},
                teams=[team],
            )
    below = [
        Contact.objects.create(owner=stranger, business_unit=unit, last_name=unit.name)
        for unit in units
    ]
    for i in range(size):
        share_record(
            record=Contact.objects.create(owner=stranger, last_name=f"shared {i}"),
            user_or_team=user if i % 2 else teams[i],
            rights=["read"],
            actor=admin,
        )
    Contact.objects.create(owner=stranger, last_name="never")
    return user, len(below) + size


@pytest.mark.parametrize("size", [1, 4, 12])
def test_visible_contact_ids_are_one_query(size, django_assert_num_queries):  # type: ignore[no-untyped-def]
    user, readable = _organization(size)
    with django_assert_num_queries(1):
        ids = list(policy.restrict(Contact.objects.all(), user).values_list("pk", flat=True))
    assert len(ids) == readable
    assert not Contact.objects.filter(pk__in=ids, last_name="never").exists()


@pytest.mark.parametrize("size", [1, 12])
def test_other_answers_take_a_fixed_number_of_queries(size, django_assert_num_queries):  # type: ignore[no-untyped-def]
    user, _ = _organization(size)
    SecuredField.objects.create(entity="contact", column="government_id")
    field_profile_upsert(name="p", grants={("contact", "birthday"): ["read"]}, users=[user])
    record = Contact.objects.filter(last_name="shared 0").get()
    with django_assert_num_queries(1):
        assert policy.can(user, "read", record)
    with django_assert_num_queries(1):
        assert policy.access_level(user, "contact", "read") == AccessLevel.PARENT_CHILD
    with django_assert_num_queries(1):
        access = policy.field_access(user, "contact")
    assert access.secured == {"government_id", "birthday"}
    assert access.readable == {"birthday"}
    with django_assert_num_queries(2):
        rows = list(policy.readable_values(Contact.objects.all(), user, "government_id"))
    assert rows and all("government_id" not in row for row in rows)
    with django_assert_num_queries(1):
        assert policy.can(user, "create", Contact(owner=user)) is False  # no create privilege
