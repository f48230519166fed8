"""The field catalog matches Microsoft's published table, row for row."""

from pathlib import Path

import pytest

from fieldsync.catalog import get_catalog
from fieldsync.directions import Direction
from tests.fieldsync.reference_table import parse_reference_table

FIXTURE = Path(__file__).parent / "fixtures" / "outlook_sync_table.md"
COMPARED = (
    "crm_label",
    "outlook_fields",
    "default_direction",
    "allowed_directions",
    "computed",
    "note",
)


@pytest.fixture(scope="module")
def reference():
    return parse_reference_table(FIXTURE)


def test_every_entity_of_the_table_is_catalogued(reference):
    assert {e.key for e in get_catalog().entities} == set(reference)
    assert {"appointment", "recurring_appointment", "contact", "task"} <= set(reference)


@pytest.mark.parametrize("entity", [e.key for e in get_catalog().entities])
def test_rows_match_the_published_table(reference, entity):
    ours = [
        {
            "crm_label": f.crm_label,
            "outlook_fields": list(f.outlook_fields),
            "default_direction": f.default_direction.value,
            "allowed_directions": [d.value for d in f.allowed_directions],
            "computed": f.computed,
            "note": f.note,
        }
        for f in get_catalog().entity(entity).fields
    ]
    theirs = [{k: row[k] for k in COMPARED} for row in reference[entity]]
    assert len(ours) == len(theirs)
    assert ours == theirs


def test_row_counts_per_entity():
    counts = {e.key: len(e.fields) for e in get_catalog().entities}
    assert counts == {
        "appointment": 11,
        "contact": 34,
        "fax": 8,
        "letter": 8,
        "phone_call": 8,
        "recurring_appointment": 10,
        "service_activity": 10,
        "task": 9,
    }


def test_sample_rows_decode_the_arrows():
    cat = get_catalog()
    notes = cat.entity("contact").field("description")
    assert notes.outlook_fields == ("Notes",)
    assert notes.default_direction is Direction.BOTH
    assert notes.allowed_directions == tuple(Direction)  # Personal notes can be set to none
    attachments = cat.entity("appointment").field("attachments")
    assert attachments.computed and attachments.allowed_directions == (Direction.NONE,)
    assert cat.entity("service_activity").field("subject").allowed_directions == (
        Direction.TO_OUTLOOK,
    )
    assert cat.entity("contact").field("full_name").allowed_directions == (Direction.BOTH,)
    assert cat.entity("task").field("percent_complete").outlook_fields == ("% Complete",)


def test_catalog_columns_exist_on_the_crm_models():
    from django.apps import apps

    for entity in get_catalog().entities:
        if entity.crm_model is None:
            continue
        model = apps.get_model(entity.crm_model)
        names = {f.name for f in model._meta.get_fields()}
        for field in entity.fields:
            missing = set(field.crm_columns) - names
            assert not missing, f"{entity.key}.{field.crm_field}: {missing}"


def test_every_note_is_in_our_own_words():
    """The pages show `help`, written for this product; Microsoft's `note` stays only to check
    the catalog against its table. No help points at a "below" or a setting this product lacks."""
    borrowed = ("see below", "see notes below", "system settings", "customer engagement")
    for f in get_catalog().all_fields():
        if f.note:
            assert f.help, f"{f.entity}.{f.crm_field} has Microsoft's note and none of ours"
        assert f.help != f.note or not f.note
        assert not any(b in f.help.lower() for b in borrowed), (f.entity, f.crm_field, f.help)
    catalog = get_catalog()
    assert "Business address" in catalog.entity("contact").field("address_1").help
    assert "never synchronized" in catalog.entity("appointment").field("attachments").help
    assert "no fax records" in catalog.entity("fax").field("subject").help
