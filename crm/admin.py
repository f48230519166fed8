"""Admin screens for CRM records and the deletion journal.

The record screens obey the security policy (security.mixins.RestrictedAdminMixin) and write
through crm.services, like the pages and the API: what the API refuses, the admin refuses.
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from security.mixins import RestrictedAdminMixin

from .models import Appointment, Contact, CrmRecord, RecurringAppointment, Task, Tombstone
from .services import record_create, record_delete, record_update

RECORD_READONLY = ("id", "created_on", "modified_on", "change_number")


class RecordAdmin(RestrictedAdminMixin, admin.ModelAdmin):
    """Creates, changes and deletes records through crm.services (record rights, field
    security, assignment, the change journal)."""

    def save_model(self, request: HttpRequest, obj: CrmRecord, form: Any, change: bool) -> None:
        columns = {f.name for f in obj._meta.concrete_fields}
        if change:
            values = {n: form.cleaned_data[n] for n in form.changed_data if n in columns}
            stored = type(obj)._default_manager.get(pk=obj.pk)
            record = record_update(record=stored, values=values, actor=request.user)
        else:
            values = {n: v for n, v in form.cleaned_data.items() if n in columns}
            record = record_create(model=type(obj), values=values, actor=request.user)
        obj.pk = record.pk
        obj._state.adding = False
        obj._state.db = record._state.db

    def delete_model(self, request: HttpRequest, obj: CrmRecord) -> None:
        record_delete(record=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for record in queryset:
            record_delete(record=record, actor=request.user)


@admin.register(Contact)
class ContactAdmin(RecordAdmin):
    list_display = ("__str__", "email", "company_name", "owner", "business_unit", "modified_on")
    list_filter = ("business_unit",)
    search_fields = ("first_name", "last_name", "email", "company_name")
    readonly_fields = RECORD_READONLY
    list_select_related = ("owner", "business_unit")


@admin.register(Appointment, RecurringAppointment)
class AppointmentAdmin(RecordAdmin):
    list_display = ("subject", "scheduled_start", "scheduled_end", "owner", "business_unit")
    list_filter = ("business_unit", "appointment_status")
    search_fields = ("subject", "location")
    readonly_fields = RECORD_READONLY
    list_select_related = ("owner", "business_unit")


@admin.register(Task)
class TaskAdmin(RecordAdmin):
    list_display = ("subject", "status", "percent_complete", "due_date", "owner")
    list_filter = ("status", "business_unit")
    search_fields = ("subject",)
    readonly_fields = RECORD_READONLY
    list_select_related = ("owner",)


@admin.register(Tombstone)
class TombstoneAdmin(admin.ModelAdmin):
    list_display = ("entity", "record_id", "change_number", "deleted_on")
    list_filter = ("entity",)

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
