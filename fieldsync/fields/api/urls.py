"""Routes of the Synchronized fields API (included by fieldsync/api/urls.py, namespace "api")."""

from django.urls import path

from fieldsync.fields.api import views

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
]
