"""Admin screen for the field mappings (the catalog's current directions)."""

from django.contrib import admin

from fieldsync.catalog import get_catalog
from fieldsync.models import FieldMapping


@admin.register(FieldMapping)
class FieldMappingAdmin(admin.ModelAdmin):
    list_display = ("entity_label", "crm_label", "outlook_fields", "direction", "default_direction")
    list_filter = ("entity", "direction")
    search_fields = ("crm_field",)
    readonly_fields = ("entity", "crm_field", "default_direction", "allowed")
    fields = ("entity", "crm_field", "direction", "default_direction", "allowed")

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False  # rows come from the catalog

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    @admin.display(description="Entity", ordering="entity")
    def entity_label(self, obj: FieldMapping) -> str:
        return get_catalog().entity(obj.entity).label

    @admin.display(description="CRM field")
    def crm_label(self, obj: FieldMapping) -> str:
        return obj.catalog_field.crm_label

    @admin.display(description="Outlook field(s)")
    def outlook_fields(self, obj: FieldMapping) -> str:
        return ", ".join(obj.catalog_field.outlook_fields)

    @admin.display(description="Allowed directions")
    def allowed(self, obj: FieldMapping) -> str:
        return ", ".join(d.label for d in obj.allowed_directions)
