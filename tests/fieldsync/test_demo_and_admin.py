"""The demo organization seeds idempotently and its admin can use the Django admin."""

import pytest
from django.core.management import call_command

from crm.models import Appointment, Contact, RecurringAppointment, Task
from security.models import User


@pytest.mark.django_db
def test_seed_demo_is_idempotent():
    call_command("seed_demo", "--contacts", "20")
    counts = [m.objects.count() for m in (Contact, Appointment, RecurringAppointment, Task)]
    assert counts[0] == 80 and all(counts)  # 20 for each of the four salespeople
    call_command("seed_demo", "--contacts", "20")
    assert [m.objects.count() for m in (Contact, Appointment, RecurringAppointment, Task)] == counts
    sally = User.objects.get(username="sally")
    assert sally.check_password("sally")
    assert sally.business_unit.name == "Sales East"
    assert Contact.objects.filter(owner=sally).count() == 20


@pytest.mark.django_db
def test_demo_admin_logs_in_and_sees_every_catalogued_entity(client):
    call_command("seed_demo", "--contacts", "1")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "admin", "password": "admin"}, follow=True
    )
    assert response.status_code == 200 and response.wsgi_request.user.username == "admin"
    page = client.get("/admin/fieldsync/fieldmapping/?all=")
    html = page.content.decode()
    assert page.status_code == 200
    assert "98 field mappings" in html
    for label in ("Appointment", "Recurring Appointment", "Contact", "Task", "Service Activity"):
        assert f">{label}<" in html
    # The catalog's settable directions show on a row's page.
    from fieldsync.models import FieldMapping

    row = FieldMapping.objects.get(entity="contact", crm_field="description")
    detail = client.get(f"/admin/fieldsync/fieldmapping/{row.pk}/change/").content.decode()
    assert "Synchronize to the CRM only" in detail and "Don&#x27;t synchronize" in detail


@pytest.mark.django_db
def test_demo_users_land_on_the_pages_their_roles_allow(client):
    call_command("seed_demo", "--contacts", "1")
    client.login(username="admin", password="admin")
    home = client.get("/").content.decode()
    assert "Synchronized fields<br>" in home and "Change history" in home
    client.logout()
    client.login(username="sally", password="sally")
    home = client.get("/").content.decode()
    assert "My options" in home and "Synchronized fields<br>" not in home
