"""Assigning a record to another owner needs create rights over the new owner's records."""

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command

from crm.models import Contact
from crm.services import record_update
from security.models import User


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--contacts", "2")
    return {u.username: u for u in User.objects.all()}


def test_salesperson_cannot_hand_a_contact_to_a_colleague(demo):
    contact = Contact.objects.filter(owner=demo["sally"]).first()
    with pytest.raises(PermissionDenied, match="may not assign this contact to sam"):
        record_update(record=contact, values={"owner": demo["sam"]}, actor=demo["sally"])
    contact.refresh_from_db()
    assert contact.owner == demo["sally"]


def test_manager_assigns_within_the_unit_and_the_record_follows_the_owner(demo):
    contact = Contact.objects.filter(owner=demo["mona"]).first()
    record_update(record=contact, values={"owner": demo["sally"]}, actor=demo["mona"])
    contact.refresh_from_db()
    assert contact.owner == demo["sally"]
    assert contact.business_unit == demo["sally"].business_unit
    # Sam's unit is outside Mona's business-unit scope.
    with pytest.raises(PermissionDenied):
        record_update(record=contact, values={"owner": demo["sam"]}, actor=demo["mona"])


def test_administrator_assigns_anywhere(demo):
    contact = Contact.objects.filter(owner=demo["sally"]).first()
    record_update(record=contact, values={"owner": demo["sam"]}, actor=demo["admin"])
    contact.refresh_from_db()
    assert contact.business_unit.name == "Sales West"
