"""Route of the Sync policy page (included by fieldsync/urls.py)."""

from django.urls import path

from fieldsync.policy import views

urlpatterns = [
    path(
        "settings/email-configuration/synchronization/sync-policy/",
        views.sync_policy,
        name="sync_policy",
    ),
]
