"""Every write gets a higher change number; deletes leave tombstones."""

import datetime as dt

import pytest
from django.utils import timezone

from crm.models import Appointment, Contact, Task, Tombstone


@pytest.fixture
def owner(make_user):
    return make_user("sally")


@pytest.mark.django_db
def test_saves_and_updates_increase_the_change_number(owner):
    a = Contact.objects.create(owner=owner, first_name="Ann")
    b = Contact.objects.create(owner=owner, first_name="Bob")
    assert b.change_number > a.change_number
    first = a.change_number
    a.job_title = "CTO"
    a.save()
    assert a.change_number > b.change_number > first
    Contact.objects.filter(pk=b.pk).update(job_title="CEO")
    b.refresh_from_db()
    assert b.change_number > a.change_number


@pytest.mark.django_db
def test_bulk_create_numbers_each_record_and_fills_business_unit(owner):
    made = Contact.objects.bulk_create([Contact(owner=owner, first_name=f"C{i}") for i in range(5)])
    numbers = [c.change_number for c in made]
    assert numbers == sorted(numbers) and len(set(numbers)) == 5
    assert {c.business_unit_id for c in Contact.objects.all()} == {owner.business_unit_id}


@pytest.mark.django_db
def test_delete_leaves_a_tombstone_after_the_last_change(owner):
    c = Contact.objects.create(owner=owner, first_name="Gone")
    t = Task.objects.create(owner=owner, subject="Call back")
    pk, last = c.pk, t.change_number
    c.delete()
    Task.objects.filter(pk=t.pk).delete()
    stones = list(Tombstone.objects.order_by("change_number"))
    assert [(s.entity, s.record_id) for s in stones] == [("contact", pk), ("task", t.pk)]
    assert stones[0].change_number > last
    assert stones[0].owner_id == owner.pk


@pytest.mark.django_db
def test_appointment_end_before_start_is_refused(owner):
    from django.db import IntegrityError

    start = timezone.now()
    with pytest.raises(IntegrityError):
        Appointment.objects.create(
            owner=owner,
            subject="x",
            scheduled_start=start,
            scheduled_end=start - dt.timedelta(hours=1),
        )
