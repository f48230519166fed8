"""Input and output serializers of the CRM records, one small pair per model.

An output serializer drops the columns the caller may not read (context["hidden_columns"]), so
a secured field is absent from the response, not null.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from crm.models import (
    Appointment,
    AppointmentException,
    Contact,
    CrmRecord,
    Fax,
    Letter,
    PhoneCall,
    RecurringAppointment,
    ServiceActivity,
    Task,
)

# Columns that decide access or are kept by the CRM itself; never secured, never written here.
STRUCTURAL_COLUMNS = ("id", "owner", "business_unit", "created_on", "modified_on", "change_number")
_MAX_ID = 2**63 - 1


def data_columns(model: type[CrmRecord]) -> list[str]:
    """The record's own columns in model order: the ones field security can secure."""
    return [f.name for f in model._meta.concrete_fields if f.name not in STRUCTURAL_COLUMNS]


class UserBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class BusinessUnitBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RecordOutputSerializer(serializers.ModelSerializer):
    """Base of the outputs. Data columns are optional in the schema: a secured column the
    caller may not read is left out of the object."""

    owner = UserBriefSerializer(read_only=True)
    business_unit = BusinessUnitBriefSerializer(read_only=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for column in self.context.get("hidden_columns", ()):
            self.fields.pop(column, None)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name in data_columns(self.Meta.model):
            fields[name].required = False
        return fields

    def to_representation(self, instance: CrmRecord) -> dict[str, Any]:
        # DRF's generic path costs about half of a 100-record page; text columns are stored
        # as the str they render to, so they are copied as they are.
        out: dict[str, Any] = {}
        for field in self._readable_fields:
            name = field.field_name
            if type(field) in _AS_STORED and field.source == name:
                out[name] = getattr(instance, name)
                continue
            attribute = field.get_attribute(instance)
            out[name] = None if attribute is None else field.to_representation(attribute)
        return out


# Serializer fields whose representation of a model value is the value itself.
_AS_STORED = (serializers.CharField, serializers.EmailField, serializers.BooleanField)


def _output_meta(model: type[CrmRecord]) -> type:
    return type("Meta", (), {"model": model, "fields": [*STRUCTURAL_COLUMNS, *data_columns(model)]})


class ContactOutputSerializer(RecordOutputSerializer):
    Meta = _output_meta(Contact)


class AppointmentOutputSerializer(RecordOutputSerializer):
    Meta = _output_meta(Appointment)


EXCEPTION_COLUMNS = ["id", "original_start", "is_cancelled", *AppointmentException.OVERRIDES]


class AppointmentExceptionSerializer(serializers.ModelSerializer):
    """A changed or cancelled occurrence of a series. An override left null is "as the
    series"; an override of a column the caller may not read on the series is left out."""

    class Meta:
        model = AppointmentException
        fields = [*EXCEPTION_COLUMNS, "modified_on"]
        read_only_fields = ["id", "modified_on"]
        extra_kwargs = {c: {"required": False} for c in AppointmentException.OVERRIDES}

    def to_representation(self, instance: AppointmentException) -> dict[str, Any]:
        out = super().to_representation(instance)
        for column in self.context.get("hidden_columns", ()):
            out.pop(column, None)
        return out

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("scheduled_start"), attrs.get("scheduled_end")
        if start and end and end < start:
            raise serializers.ValidationError(
                {"scheduled_end": "The end cannot be before the start."}
            )
        return attrs


class RecurringAppointmentOutputSerializer(RecordOutputSerializer):
    exceptions = AppointmentExceptionSerializer(
        many=True,
        read_only=True,
        help_text="The series' changed and cancelled occurrences, by original start.",
    )

    class Meta:
        model = RecurringAppointment
        fields = [*STRUCTURAL_COLUMNS, *data_columns(RecurringAppointment), "exceptions"]


class TaskOutputSerializer(RecordOutputSerializer):
    Meta = _output_meta(Task)


class PhoneCallOutputSerializer(RecordOutputSerializer):
    Meta = _output_meta(PhoneCall)


class LetterOutputSerializer(RecordOutputSerializer):
    Meta = _output_meta(Letter)


class FaxOutputSerializer(RecordOutputSerializer):
    Meta = _output_meta(Fax)


class ServiceActivityOutputSerializer(RecordOutputSerializer):
    Meta = _output_meta(ServiceActivity)


class OwnerField(serializers.PrimaryKeyRelatedField):
    """A user id; out-of-range numbers are a 400, not a database overflow."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int) or not 0 < data <= _MAX_ID:
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class RecordInputSerializer(serializers.ModelSerializer):
    """Base of the inputs: the data columns and, optionally, the owner (default: you)."""

    owner = OwnerField(
        queryset=get_user_model().objects.all(),
        required=False,
        help_text="The owning user's id; default: you. Their business unit becomes the record's.",
    )


def _input_meta(model: type[CrmRecord], **extra_kwargs: dict) -> type:
    return type(
        "Meta",
        (),
        {"model": model, "fields": ["owner", *data_columns(model)], "extra_kwargs": extra_kwargs},
    )


class ContactInputSerializer(RecordInputSerializer):
    Meta = _input_meta(Contact)


class AppointmentInputSerializer(RecordInputSerializer):
    Meta = _input_meta(Appointment)


class RecurringAppointmentInputSerializer(RecordInputSerializer):
    Meta = _input_meta(RecurringAppointment)


class TaskInputSerializer(RecordInputSerializer):
    Meta = _input_meta(Task, percent_complete={"max_value": 100})


class PhoneCallInputSerializer(RecordInputSerializer):
    Meta = _input_meta(PhoneCall)


class LetterInputSerializer(RecordInputSerializer):
    Meta = _input_meta(Letter)


class FaxInputSerializer(RecordInputSerializer):
    Meta = _input_meta(Fax)


class ServiceActivityInputSerializer(RecordInputSerializer):
    Meta = _input_meta(ServiceActivity)
