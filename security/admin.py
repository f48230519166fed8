"""Admin screens for users and business units."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import BusinessUnit, User


@admin.register(BusinessUnit)
class BusinessUnitAdmin(admin.ModelAdmin):
    list_display = ("name", "parent")
    search_fields = ("name",)
    autocomplete_fields = ("parent",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "business_unit", "is_staff")
    list_filter = ("business_unit", "is_staff", "is_superuser", "is_active")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Organization", {"fields": ("business_unit",)}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Organization", {"fields": ("business_unit",)}),
    )
