from django.apps import AppConfig


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM records"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (tombstones for every delete path)
