"""Routes of the server-side sync pages; included by fieldsync/urls.py (namespace fieldsync)."""

from django.urls import path

from fieldsync.mailboxes.views import issues, mailboxes, overview, profiles

urlpatterns = [
    path("sync/", overview.dashboard, name="sync_dashboard"),
    path("sync/history/", overview.history, name="sync_history"),
    path("sync/mailboxes/new/", mailboxes.mailbox_edit, name="sync_mailbox_new"),
    path("sync/mailboxes/<int:pk>/", mailboxes.mailbox_detail, name="sync_mailbox"),
    path("sync/mailboxes/<int:pk>/edit/", mailboxes.mailbox_edit, name="sync_mailbox_edit"),
    path("sync/mailboxes/<int:pk>/sync/", mailboxes.mailbox_sync_now, name="sync_mailbox_sync"),
    path("sync/mailboxes/<int:pk>/test/", mailboxes.mailbox_test, name="sync_mailbox_test"),
    path(
        "sync/mailboxes/<int:pk>/verify/", mailboxes.mailbox_verify_view, name="sync_mailbox_verify"
    ),
    path(
        "sync/mailboxes/<int:pk>/confirm-mass-change/",
        mailboxes.mailbox_guard_confirm_view,
        name="sync_mailbox_guard_confirm",
    ),
    path(
        "sync/mailboxes/<int:pk>/preview/",
        mailboxes.mailbox_preview_page,
        name="sync_mailbox_preview",
    ),
    path("sync/conflicts/", issues.conflicts, name="sync_conflicts"),
    path("sync/conflicts/<int:pk>/apply/", issues.conflict_apply, name="sync_conflict_apply"),
    path("sync/conflicts/apply/", issues.conflicts_apply, name="sync_conflicts_apply"),
    path("sync/rejected-changes/", issues.rejected_changes, name="sync_rejected"),
    path("sync/profiles/", profiles.profiles, name="sync_profiles"),
    path("sync/profiles/new/", profiles.profile_edit, name="sync_profile_new"),
    path("sync/profiles/<int:pk>/", profiles.profile_edit, name="sync_profile_edit"),
]
