"""Routes of the server-side sync pages; included by fieldsync/urls.py (namespace fieldsync)."""

from django.urls import path

from fieldsync.mailboxes import views as v

urlpatterns = [
    path("sync/", v.dashboard, name="sync_dashboard"),
    path("sync/history/", v.history, name="sync_history"),
    path("sync/mailboxes/new/", v.mailbox_edit, name="sync_mailbox_new"),
    path("sync/mailboxes/<int:pk>/", v.mailbox_detail, name="sync_mailbox"),
    path("sync/mailboxes/<int:pk>/edit/", v.mailbox_edit, name="sync_mailbox_edit"),
    path("sync/mailboxes/<int:pk>/sync/", v.mailbox_sync_now, name="sync_mailbox_sync"),
    path("sync/mailboxes/<int:pk>/test/", v.mailbox_test, name="sync_mailbox_test"),
    path("sync/mailboxes/<int:pk>/verify/", v.mailbox_verify_view, name="sync_mailbox_verify"),
    path(
        "sync/mailboxes/<int:pk>/confirm-mass-change/",
        v.mailbox_guard_confirm_view,
        name="sync_mailbox_guard_confirm",
    ),
    path("sync/mailboxes/<int:pk>/preview/", v.mailbox_preview_page, name="sync_mailbox_preview"),
    path("sync/conflicts/", v.conflicts, name="sync_conflicts"),
    path("sync/conflicts/<int:pk>/apply/", v.conflict_apply, name="sync_conflict_apply"),
    path("sync/rejected-changes/", v.rejected_changes, name="sync_rejected"),
    path("sync/profiles/", v.profiles, name="sync_profiles"),
    path("sync/profiles/new/", v.profile_edit, name="sync_profile_new"),
    path("sync/profiles/<int:pk>/", v.profile_edit, name="sync_profile_edit"),
]
