"""Pages of the field-sync settings: the admin's Synchronized fields under Settings, the change
history, and the end users' read-only copy under My options.
"""

from django.urls import path

from fieldsync.fields import views
from fieldsync.mailboxes import urls as sync_urls
from fieldsync.policy import views as policy_views

app_name = "fieldsync"

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
    path(
        "settings/email-configuration/synchronization/sync-policy/",
        policy_views.sync_policy,
        name="sync_policy",
    ),
    path("my-options/synchronized-fields/", views.my_synchronized_fields, name="my_fields_default"),
    path(
        "my-options/synchronized-fields/<slug:entity>/",
        views.my_synchronized_fields,
        name="my_fields",
    ),
]

# The server-side sync: dashboard, mailboxes, history (fieldsync/sync_urls.py).
urlpatterns += sync_urls.urlpatterns
