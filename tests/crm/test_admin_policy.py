"""The CRM record admin obeys the same policy as the pages and the API (issue #15.3): no
lookup, search, filter or ordering on a secured column the user may not read, and no
reassignment of a record's owner or business unit beyond the user's rights."""

from __future__ import annotations

import pytest
from django.test import Client

from crm.models import Contact
from security.models import SecuredField
from security.services import field_profile_upsert, role_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user):
    sally = make_user("sally", is_staff=True)
    sam = make_user("sam", bu="service", is_staff=True)
    mona = make_user("mona", is_staff=True)
    own = {("contact", a): "user" for a in ("create", "read", "write", "delete")}
    role_upsert(name="Salesperson", levels=own, users=[sally, sam])
    role_upsert(
        name="Manager",
        levels={("contact", a): "business_unit" for a in ("create", "read", "write")},
        users=[mona],
    )
    SecuredField.objects.get_or_create(entity="contact", column="government_id")
    field_profile_upsert(
        name="Managers", grants={("contact", "government_id"): ("read", "update")}, users=[mona]
    )
    return {"sally": sally, "sam": sam, "mona": mona}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "query",
    [
        {"government_id__startswith": "4"},
        {"government_id": "4711"},
        {"government_id__isnull": "False"},
        {"o": "government_id"},
    ],
)
def test_a_secured_column_cannot_be_probed_through_list_lookups(people, query):
    Contact.objects.create(owner=people["sally"], last_name="Adler", government_id="4711")
    Contact.objects.create(owner=people["sally"], last_name="Brandt", government_id="9999")
    page = _client(people["sally"]).get("/admin/crm/contact/", query)
    text = page.content.decode()
    # Refused outright (the admin's "incorrect lookup" page or an error flag), never narrowed.
    assert page.status_code in (200, 302, 400)
    if page.status_code == 200 and "o" not in query:
        assert ("Adler" in text and "Brandt" in text) or "?e=1" in page.get("Location", "")
    # A manager who reads the column may filter on it.
    managed = _client(people["mona"]).get("/admin/crm/contact/", {"government_id__startswith": "4"})
    assert managed.status_code == 200


def test_search_leaves_out_secured_columns(people, settings):
    from crm.admin import ContactAdmin

    ContactAdmin.search_fields = (*ContactAdmin.search_fields, "government_id")
    try:
        Contact.objects.create(owner=people["sally"], last_name="Adler", government_id="4711")
        page = _client(people["sally"]).get("/admin/crm/contact/", {"q": "4711"})
        assert "Adler" not in page.content.decode()
        page = _client(people["mona"]).get("/admin/crm/contact/", {"q": "4711"})
        assert "Adler" in page.content.decode()
    finally:
        ContactAdmin.search_fields = tuple(
            f for f in ContactAdmin.search_fields if f != "government_id"
        )


def test_own_records_rights_cannot_reassign_in_the_admin(people):
    contact = Contact.objects.create(owner=people["sally"], last_name="Adler")
    form = {"first_name": "", "last_name": "Adler", "owner": people["sam"].pk, "email": ""}
    page = _client(people["sally"]).post(f"/admin/crm/contact/{contact.pk}/change/", form)
    assert page.status_code == 200  # the form again, with the reason next to the owner
    assert "You may not give this contact to sam" in page.content.decode()
    contact.refresh_from_db()
    assert contact.owner == people["sally"]
    assert contact.business_unit == people["sally"].business_unit


def test_the_business_unit_follows_the_owner_and_is_not_editable(people):
    contact = Contact.objects.create(owner=people["sally"], last_name="Adler")
    other_unit = people["sam"].business_unit
    form = {"last_name": "Adler", "owner": people["sally"].pk, "business_unit": other_unit.pk}
    _client(people["sally"]).post(f"/admin/crm/contact/{contact.pk}/change/", form)
    contact.refresh_from_db()
    assert contact.business_unit != other_unit


def test_a_change_in_the_admin_goes_through_the_services(people):
    contact = Contact.objects.create(owner=people["sally"], last_name="Adler")
    before = contact.change_number
    page = _client(people["sally"]).post(
        f"/admin/crm/contact/{contact.pk}/change/",
        {"last_name": "Adler-Berg", "owner": people["sally"].pk},
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    contact.refresh_from_db()
    assert contact.last_name == "Adler-Berg" and contact.change_number > before


def test_share_lists_name_only_records_the_user_may_read(people):
    from django.contrib.auth.models import Permission

    from security.services import share_record

    theirs = Contact.objects.create(owner=people["sam"], last_name="Secretsson")
    share_record(record=theirs, user_or_team=people["mona"], rights=["read"], actor=people["sam"])
    sally = people["sally"]
    sally.user_permissions.set(Permission.objects.filter(codename="view_contactusershare"))
    page = _client(sally).get("/admin/security/contactusershare/")
    assert page.status_code == 200
    assert "Secretsson" not in page.content.decode()


def test_a_staff_user_cannot_make_anyone_a_system_administrator(people):
    from django.contrib.auth.models import Permission

    sally = people["sally"]
    sally.user_permissions.set(Permission.objects.filter(codename__in=["change_user", "view_user"]))
    form = _client(sally).get(f"/admin/security/user/{sally.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in form and 'name="user_permissions"' not in form


def test_field_mappings_are_read_only_in_the_admin(make_user):
    from fieldsync.models import DirectionChange, FieldMapping

    root = make_user("root", is_superuser=True, is_staff=True)
    mapping = FieldMapping.objects.filter(entity="contact").first()
    allowed = [d for d in mapping.allowed_directions if d != mapping.direction]
    page = _client(root).post(
        f"/admin/fieldsync/fieldmapping/{mapping.pk}/change/", {"direction": allowed[0]}
    )
    assert page.status_code == 403
    mapping.refresh_from_db()
    assert mapping.direction != allowed[0]
    assert not DirectionChange.objects.exists()
