"""Admin screens for CRM records and the deletion journal."""

from django.contrib import admin

from security.mixins import RestrictedAdminMixin

from .models import Appointment, Contact, RecurringAppointment, Task, Tombstone

RECORD_READONLY = ("id", "created_on", "modified_on", "change_number")


@admin.register(Contact)
class ContactAdmin(RestrictedAdminMixin, admin.ModelAdmin):
    list_display = ("__str__", "email", "company_name", "owner", "business_unit", "modified_on")
    list_filter = ("business_unit",)
    search_fields = ("first_name", "last_name", "email", "company_name")
    readonly_fields = RECORD_READONLY
    list_select_related = ("owner", "business_unit")


@admin.register(Appointment, RecurringAppointment)
class AppointmentAdmin(RestrictedAdminMixin, admin.ModelAdmin):
    list_display = ("subject", "scheduled_start", "scheduled_end", "owner", "business_unit")
    list_filter = ("business_unit", "appointment_status")
    search_fields = ("subject", "location")
    readonly_fields = RECORD_READONLY
    list_select_related = ("owner", "business_unit")


@admin.register(Task)
class TaskAdmin(RestrictedAdminMixin, admin.ModelAdmin):
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
