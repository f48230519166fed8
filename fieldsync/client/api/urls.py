"""Routes of the Outlook client sync API (included by fieldsync/api/urls.py, namespace "api")."""

from django.urls import path

from fieldsync.client.api.views import ClientChangesView

urlpatterns = [
    path("sync/<str:entity>/changes/", ClientChangesView.as_view(), name="client-sync-changes"),
]
