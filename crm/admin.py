"""Admin screens for CRM records and the deletion journal.

The record screens obey the security policy (security.mixins.RestrictedAdminMixin) and write
through crm.services, like the pages and the API: what the API refuses, the admin refuses.
"""

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from security import policy
from security.mixins import RestrictedAdminMixin

from .models import (
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
    Tombstone,
)
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


@admin.register(Appointment, ServiceActivity)
class AppointmentAdmin(RecordAdmin):
    list_display = ("subject", "scheduled_start", "scheduled_end", "owner", "business_unit")
    list_filter = ("business_unit", "appointment_status")
    search_fields = ("subject", "location")
    readonly_fields = RECORD_READONLY
    list_select_related = ("owner", "business_unit")


class AppointmentExceptionInline(admin.TabularInline):
    """The series' changed and cancelled occurrences, on the series' page. They follow the
    series' rights; an override of a column the user may not read is left out."""

    model = AppointmentException
    extra = 0
    fields = (
        "original_start",
        "is_cancelled",
        "scheduled_start",
        "scheduled_end",
        "subject",
        "location",
        "description",
    )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        hidden = policy.field_access(request.user, RecurringAppointment.ENTITY).hidden()
        return [f for f in self.fields if f not in hidden]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        access = policy.field_access(request.user, RecurringAppointment.ENTITY)
        locked = (access.secured & access.readable) - access.updatable
        return [f for f in self.fields if f in locked]

    # The inline's rights are the series' rights (the records have none of their own).
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or policy.can(request.user, policy.Action.READ, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and policy.can(request.user, policy.Action.WRITE, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and policy.can(request.user, policy.Action.WRITE, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is not None and policy.can(request.user, policy.Action.WRITE, obj)


@admin.register(RecurringAppointment)
class RecurringAppointmentAdmin(AppointmentAdmin):
    list_display = (
        "subject",
        "recurrence_pattern",
        "scheduled_start",
        "exception_count",
        "owner",
        "business_unit",
    )
    inlines = [AppointmentExceptionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(n_exceptions=Count("exceptions"))

    @admin.display(description="changed or cancelled occurrences")
    def exception_count(self, obj: RecurringAppointment) -> int:
        return getattr(obj, "n_exceptions", 0)


@admin.register(Task)
class TaskAdmin(RecordAdmin):
    list_display = ("subject", "status", "percent_complete", "due_date", "owner")
    list_filter = ("status", "business_unit")
    search_fields = ("subject",)
    readonly_fields = RECORD_READONLY
    list_select_related = ("owner",)


@admin.register(PhoneCall, Letter, Fax)
class TaskLikeAdmin(RecordAdmin):
    """Phone calls, letters and faxes: the activities Outlook shows as tasks."""

    list_display = ("subject", "status", "due_date", "owner")
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
