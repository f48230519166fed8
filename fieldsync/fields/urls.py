"""Routes of the Synchronized fields pages: the admin's page under Settings, the change history
and the end users' read-only copy under My options (included by fieldsync/urls.py)."""

from django.urls import path

from fieldsync.fields import views

_FIELDS = "settings/email-configuration/synchronization/synchronized-fields/"
_MINE = "my-options/synchronized-fields/"

urlpatterns = [
    path("settings/", views.settings_index, name="settings"),
    path(_FIELDS, views.synchronized_fields, name="fields_default"),
    path(_FIELDS + "<slug:entity>/", views.synchronized_fields, name="fields"),
    path(
        "settings/email-configuration/synchronization/change-history/",
        views.change_history,
        name="audit",
    ),
    path("my-options/synchronized-fields/", views.my_synchronized_fields, name="my_fields_default"),
    path(
        "my-options/synchronized-fields/<slug:entity>/",
        views.my_synchronized_fields,
        name="my_fields",
    ),
]
