"""Field mappings are seeded from the catalog and refuse directions it does not allow."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from fieldsync.catalog import get_catalog
from fieldsync.fields.services import catalog_sync
from fieldsync.models import FieldMapping


@pytest.mark.django_db
def test_every_catalog_field_is_seeded_at_its_default():
    rows = {(m.entity, m.crm_field): m for m in FieldMapping.objects.all()}
    fields = get_catalog().all_fields()
    assert len(rows) == len(fields) == 98
    for f in fields:
        row = rows[(f.entity, f.crm_field)]
        assert row.direction == f.default_direction.value
        assert row.allowed_directions == f.allowed_directions


@pytest.mark.django_db
def test_allowed_direction_is_saved():
    m = FieldMapping.objects.get(entity="contact", crm_field="description")
    m.direction = "none"
    m.full_clean()
    m.save()
    assert FieldMapping.objects.get(pk=m.pk).direction == "none"


@pytest.mark.django_db
def test_disallowed_direction_is_refused_with_a_clear_message():
    m = FieldMapping.objects.get(entity="appointment", crm_field="attachments")
    m.direction = "to_crm"
    with pytest.raises(ValidationError) as exc:
        m.full_clean()
    assert "Direction 'to_crm' is not allowed for Appointment.Attachments (allowed: none)" in str(
        exc.value
    )


@pytest.mark.django_db
def test_database_refuses_a_disallowed_direction_even_past_validation():
    with pytest.raises(IntegrityError), transaction.atomic():
        FieldMapping.objects.filter(entity="contact", crm_field="full_name").update(
            direction="to_crm"
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        FieldMapping.objects.filter(entity="contact", crm_field="email").update(direction="up")


@pytest.mark.django_db
def test_catalog_sync_is_idempotent_and_keeps_choices():
    FieldMapping.objects.filter(entity="contact", crm_field="description").update(direction="none")
    assert catalog_sync() == 0
    assert FieldMapping.objects.get(entity="contact", crm_field="description").direction == "none"
    FieldMapping.objects.filter(entity="task", crm_field="subject").delete()
    assert catalog_sync() == 1
    assert FieldMapping.objects.count() == 98
