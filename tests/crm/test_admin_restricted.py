"""The CRM records' admin screens show a staff user only what the security policy allows."""

import pytest
from django.core.management import call_command

from crm.models import Contact
from security.models import User


@pytest.mark.django_db
def test_staff_salesperson_sees_only_own_contacts_in_the_admin(client):
    call_command("seed_demo", "--contacts", "3")
    sally = User.objects.get(username="sally")
    sally.is_staff = True
    sally.save()
    client.force_login(sally)
    listing = client.get("/admin/crm/contact/")
    assert listing.status_code == 200
    assert "3 contacts" in listing.content.decode()
    others = Contact.objects.exclude(owner=sally).first()
    page = client.get(f"/admin/crm/contact/{others.pk}/change/", follow=True)
    # Another's record is "not found", exactly as a record that does not exist.
    assert page.redirect_chain and page.redirect_chain[-1][0] == "/admin/"
    assert f"ID “{others.pk}” doesn’t exist" in page.content.decode()
