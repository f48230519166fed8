"""Routes of the settings API (included under /api/v1/ in the "api" namespace)."""

from django.urls import path

from fieldsync.client.api.urls import urlpatterns as client_urlpatterns
from fieldsync.fields.api import views
from fieldsync.mailboxes.api.urls import urlpatterns as sync_urlpatterns
from fieldsync.policy.api import views as policy_views

urlpatterns = [
    path("entities/", views.EntityListView.as_view(), name="entity-list"),
    path("entities/<str:entity>/", views.EntityDetailView.as_view(), name="entity-detail"),
    path("entities/<str:entity>/fields/", views.EntityFieldsView.as_view(), name="entity-fields"),
    path(
        "entities/<str:entity>/fields/<str:crm_field>/",
        views.EntityFieldView.as_view(),
        name="entity-field",
    ),
    path("audit/", views.AuditListView.as_view(), name="audit-list"),
    path("sync-policy/", policy_views.SyncPolicyView.as_view(), name="sync-policy"),
    path(
        "sync-policy/changes/",
        policy_views.SyncPolicyChangeListView.as_view(),
        name="sync-policy-changes",
    ),
    *sync_urlpatterns,
    *client_urlpatterns,
]
