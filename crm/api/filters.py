"""List filters of the CRM records; a filter on a column the caller may not read is ignored.

Filtering (or searching) on a hidden column would let a caller guess its value from which
records come back, so such filters are dropped before the query is built.
"""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django import forms
from django.db.models import Q, QuerySet
from django_filters.rest_framework import DjangoFilterBackend

from crm.models import (
    Appointment,
    Contact,
    Fax,
    Letter,
    PhoneCall,
    RecurringAppointment,
    ServiceActivity,
    Task,
    TaskStatus,
)
from syncadmin.api import UtcIsoDateTimeFilter

_MAX_BIGINT = 2**63 - 1


class IntegerFilter(filters.Filter):
    """An exact integer within the database's range (NumberFilter would accept 1e999)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", _MAX_BIGINT)
        super().__init__(*args, **kwargs)


class RecordFilterSet(filters.FilterSet):
    """What every record list can be narrowed by. `columns` maps each filter to the data
    columns it reads, for the field-security check; `search_columns` feed `q`."""

    q = filters.CharFilter(method="search", max_length=200, help_text="Text search.")
    owner = IntegerFilter(field_name="owner_id", help_text="Owner's user id.")
    changed_after = IntegerFilter(
        field_name="change_number",
        lookup_expr="gt",
        help_text="Records changed after this change number (the sync cursor).",
    )
    modified_after = UtcIsoDateTimeFilter(field_name="modified_on", lookup_expr="gte")

    columns: dict[str, tuple[str, ...]] = {}
    search_columns: tuple[str, ...] = ()

    def __init__(self, *args: Any, hidden: frozenset[str] = frozenset(), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hidden = hidden
        for name, cols in self.columns.items():
            if hidden.intersection(cols):
                self.filters.pop(name, None)

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        q = Q()
        for column in self.search_columns:
            if column not in self.hidden:
                q |= Q(**{f"{column}__icontains": value})
        return queryset.filter(q) if q else queryset.none()


class FieldSecurityFilterBackend(DjangoFilterBackend):
    """django-filter, told which columns the caller may not read (see RecordFilterSet)."""

    def get_filterset_kwargs(self, request: Any, queryset: QuerySet, view: Any) -> dict:
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        kwargs["hidden"] = view.field_access.hidden()
        return kwargs


class ContactFilterSet(RecordFilterSet):
    last_name = filters.CharFilter(lookup_expr="iexact", max_length=100)
    email = filters.CharFilter(lookup_expr="iexact", max_length=254)
    company_name = filters.CharFilter(lookup_expr="icontains", max_length=160)

    columns = {
        "last_name": ("last_name",),
        "email": ("email",),
        "company_name": ("company_name",),
    }
    search_columns = ("first_name", "last_name", "email", "company_name", "description")

    class Meta:
        model = Contact
        fields: list[str] = []


class AppointmentFilterSet(RecordFilterSet):
    subject = filters.CharFilter(lookup_expr="icontains", max_length=200)
    start_after = UtcIsoDateTimeFilter(field_name="scheduled_start", lookup_expr="gte")
    start_before = UtcIsoDateTimeFilter(field_name="scheduled_start", lookup_expr="lt")

    columns = {
        "subject": ("subject",),
        "start_after": ("scheduled_start",),
        "start_before": ("scheduled_start",),
    }
    search_columns = ("subject", "location")

    class Meta:
        model = Appointment
        fields: list[str] = []


class RecurringAppointmentFilterSet(AppointmentFilterSet):
    class Meta:
        model = RecurringAppointment
        fields: list[str] = []


class TaskFilterSet(RecordFilterSet):
    subject = filters.CharFilter(lookup_expr="icontains", max_length=200)
    status = filters.ChoiceFilter(choices=TaskStatus.choices)
    due_after = filters.DateFilter(field_name="due_date", lookup_expr="gte")
    due_before = filters.DateFilter(field_name="due_date", lookup_expr="lt")

    columns = {
        "subject": ("subject",),
        "status": ("status",),
        "due_after": ("due_date",),
        "due_before": ("due_date",),
    }
    search_columns = ("subject",)

    class Meta:
        model = Task
        fields: list[str] = []


class ServiceActivityFilterSet(AppointmentFilterSet):
    class Meta:
        model = ServiceActivity
        fields: list[str] = []


class PhoneCallFilterSet(TaskFilterSet):
    class Meta:
        model = PhoneCall
        fields: list[str] = []


class LetterFilterSet(TaskFilterSet):
    class Meta:
        model = Letter
        fields: list[str] = []


class FaxFilterSet(TaskFilterSet):
    class Meta:
        model = Fax
        fields: list[str] = []
