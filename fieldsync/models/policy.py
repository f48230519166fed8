"""The audit log of the organization's sync policy (Settings > ... > Sync policy): one row per
changed setting, whoever changed it and however (the page, the API, the admin)."""

from __future__ import annotations

from django.db import models


class SyncPolicyChange(models.Model):
    """One changed setting of the single SyncPolicy row: who, when, which setting, old and new.

    Values are kept as the stored value's text ("latest_wins", "True", "50"), so the log stays
    readable after a choice is renamed; the pages show them with their current labels."""

    class Source(models.TextChoices):
        WEB = "web", "Settings page"
        API = "api", "REST API"
        ADMIN = "admin", "Django admin"
        SYSTEM = "system", "System"

    changed_on = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        "security.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    setting = models.CharField(max_length=40, db_index=True)
    old_value = models.CharField(max_length=200, blank=True)
    new_value = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEB)

    class Meta:
        ordering = ["-changed_on", "-id"]

    def __str__(self) -> str:
        return f"{self.setting}: {self.old_value} -> {self.new_value}"
