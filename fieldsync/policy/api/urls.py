"""Routes of the sync policy API (included by fieldsync/api/urls.py, namespace "api")."""

from django.urls import path

from fieldsync.policy.api import views

urlpatterns = [
    path("sync-policy/", views.SyncPolicyView.as_view(), name="sync-policy"),
    path(
        "sync-policy/changes/",
        views.SyncPolicyChangeListView.as_view(),
        name="sync-policy-changes",
    ),
]
