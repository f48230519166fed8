"""Small input and output serializers of the settings API; no logic beyond shaping data.

Outputs read plain objects (catalog entities, FieldRow, DirectionChange); inputs only validate.
"""

from __future__ import annotations

from rest_framework import serializers

from fieldsync.directions import CYCLE

DIRECTIONS = [d.value for d in CYCLE]
_VALID = ", ".join(DIRECTIONS)


def direction_field(**kwargs) -> serializers.ChoiceField:  # type: ignore[no-untyped-def]
    return serializers.ChoiceField(
        choices=DIRECTIONS,
        error_messages={"invalid_choice": f"'{{input}}' is not a direction (valid: {_VALID})."},
        **kwargs,
    )


# ---- outputs -------------------------------------------------------------------------------


class EntityOutputSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="The entity's key in URLs, e.g. `contact`.")
    label = serializers.CharField()
    crm_model = serializers.CharField(
        allow_null=True, help_text="The CRM model holding its records (null: not stored here)."
    )
    field_count = serializers.IntegerField(help_text="Synchronized fields in the catalog.")
    settable_field_count = serializers.IntegerField(
        help_text="Fields whose direction an administrator can change."
    )
    version = serializers.IntegerField(help_text="The entity's settings version.")
    fields_url = serializers.CharField()


class FieldRowOutputSerializer(serializers.Serializer):
    """One row of the Synchronized fields table."""

    entity = serializers.CharField(source="field.entity")
    crm_field = serializers.CharField(source="field.crm_field")
    crm_label = serializers.CharField(source="field.crm_label")
    outlook_fields = serializers.ListField(
        child=serializers.CharField(), source="field.outlook_fields"
    )
    direction = direction_field()
    default_direction = direction_field(source="field.default_direction")
    allowed_directions = serializers.ListField(
        child=direction_field(), source="field.allowed_directions"
    )
    settable = serializers.BooleanField(source="field.settable")
    computed = serializers.BooleanField(source="field.computed")
    note = serializers.CharField(source="field.note")
    version = serializers.SerializerMethodField(
        help_text="The entity's settings version; send it back with a change."
    )

    def get_version(self, row: object) -> int:
        return self.context["version"]


class DirectionChangeOutputSerializer(serializers.Serializer):
    """One audit log row."""

    id = serializers.IntegerField()
    changed_on = serializers.DateTimeField()
    actor = serializers.CharField(
        source="actor.username",
        allow_null=True,
        default=None,
        help_text="Username (null: the system).",
    )
    entity = serializers.CharField()
    crm_field = serializers.CharField()
    old_direction = direction_field()
    new_direction = direction_field()
    version = serializers.IntegerField(help_text="The settings version this change made.")
    source = serializers.ChoiceField(choices=["web", "api", "admin", "system"])


class UpdateResultOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="The settings version after the save.")
    changed = DirectionChangeOutputSerializer(many=True)


# ---- inputs --------------------------------------------------------------------------------


class FieldDirectionInputSerializer(serializers.Serializer):
    direction = direction_field()
    version = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text="The settings version this change is based on (recommended). Omitted: the "
        "current version, so the change is applied whatever was saved in between.",
    )


class FieldChangeInputSerializer(serializers.Serializer):
    crm_field = serializers.CharField(max_length=80)
    direction = direction_field()


class FieldsBulkInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, help_text="The settings version the page showed."
    )
    fields = FieldChangeInputSerializer(many=True, allow_empty=False, max_length=500)

    def validate_fields(self, value: list[dict]) -> list[dict]:
        seen: set[str] = set()
        for row in value:
            if row["crm_field"] in seen:
                raise serializers.ValidationError(f"{row['crm_field']!r} appears more than once.")
            seen.add(row["crm_field"])
        return value
