"""An admin screen of CRM records built on RestrictedAdminMixin shows what the policy allows."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from crm.models import Contact
from security.mixins import RestrictedAdminMixin
from security.models import AccessLevel
from security.services import field_profile_upsert, role_upsert

pytestmark = pytest.mark.django_db


class ContactAdmin(RestrictedAdminMixin, admin.ModelAdmin):
    list_display = ("last_name", "government_id")


@pytest.fixture
def screen():  # type: ignore[no-untyped-def]
    return ContactAdmin(Contact, admin.AdminSite())


def _request(user):  # type: ignore[no-untyped-def]
    request = RequestFactory().get("/")
    request.user = user
    return request


def test_the_screen_lists_and_changes_only_what_the_policy_allows(screen, make_user):  # type: ignore[no-untyped-def]
    seller = make_user("sal", is_staff=True)
    other = make_user("oz", bu="service")
    role_upsert(
        name="Seller",
        levels={("contact", "read"): AccessLevel.BUSINESS_UNIT, ("contact", "write"): 1},
        users=[seller],
    )
    mine = Contact.objects.create(owner=seller)
    colleague = Contact.objects.create(owner=make_user("cy"))
    Contact.objects.create(owner=other)
    request = _request(seller)

    assert set(screen.get_queryset(request)) == {mine, colleague}
    assert screen.has_module_permission(request)
    assert screen.has_change_permission(request, mine)
    assert not screen.has_change_permission(request, colleague)
    assert not screen.has_delete_permission(request, mine)
    assert not screen.has_add_permission(request)


def test_secured_columns_are_left_out_or_read_only(screen, make_user):  # type: ignore[no-untyped-def]
    seller = make_user("sal", is_staff=True)
    manager = make_user("max", is_staff=True)
    role_upsert(name="Seller", levels={("contact", "read"): 1}, users=[seller, manager])
    field_profile_upsert(
        name="Managers", grants={("contact", "government_id"): ["read"]}, users=[manager]
    )
    assert screen.get_list_display(_request(seller)) == ["last_name"]
    assert "government_id" in screen.get_exclude(_request(seller))
    assert screen.get_list_display(_request(manager)) == ["last_name", "government_id"]
    assert "government_id" not in screen.get_exclude(_request(manager))
    assert "government_id" in screen.get_readonly_fields(_request(manager), Contact())
