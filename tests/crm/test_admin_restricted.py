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


@pytest.mark.django_db
def test_the_new_activities_have_admin_screens_and_a_series_page_lists_its_occurrences(client):
    from crm.models import AppointmentException, RecurringAppointment

    call_command("seed_demo", "--contacts", "3")
    sally = User.objects.get(username="sally")
    sally.is_staff = True
    sally.save()
    client.force_login(sally)
    for path in ("phonecall", "letter", "fax", "serviceactivity"):
        listing = client.get(f"/admin/crm/{path}/")
        assert listing.status_code == 200, path
    series = RecurringAppointment.objects.get(owner=sally)
    moved = AppointmentException.objects.get(series=series, is_cancelled=False)
    listing = client.get("/admin/crm/recurringappointment/").content.decode()
    assert "changed or cancelled occurrences" in listing.lower()
    page = client.get(f"/admin/crm/recurringappointment/{series.pk}/change/").content.decode()
    assert "Changed or cancelled occurrences" in page
    assert moved.subject in page
    # Saved from the page, an occurrence the pattern does not have is refused in words.
    form = {
        "exceptions-TOTAL_FORMS": "1",
        "exceptions-INITIAL_FORMS": "0",
        "exceptions-0-series": str(series.pk),
        "exceptions-0-original_start_0": "2001-01-01",
        "exceptions-0-original_start_1": "09:00:00",
        "exceptions-0-is_cancelled": "on",
    }
    for name in ("subject", "location", "scheduled_start", "scheduled_end", "recurrence_pattern"):
        value = getattr(series, name)
        if name.startswith("scheduled"):
            form[f"{name}_0"], form[f"{name}_1"] = f"{value:%Y-%m-%d}", f"{value:%H:%M:%S}"
        else:
            form[name] = value
    form.update(
        {
            "owner": str(sally.pk),
            "business_unit": str(series.business_unit_id),
            "priority": str(series.priority),
            "appointment_status": series.appointment_status,
        }
    )
    refused = client.post(f"/admin/crm/recurringappointment/{series.pk}/change/", form)
    assert refused.status_code == 200
    assert "has no occurrence starting at 2001-01-01" in refused.content.decode()
