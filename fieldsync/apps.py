from django.apps import AppConfig


class FieldsyncConfig(AppConfig):
    name = "fieldsync"
    verbose_name = "Field synchronization"
