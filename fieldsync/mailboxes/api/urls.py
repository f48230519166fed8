"""Routes of the server-side sync API (included by fieldsync/api/urls.py, namespace "api")."""

from django.urls import path

from fieldsync.mailboxes.api import views as v

urlpatterns = [
    path("mailboxes/", v.MailboxListView.as_view(), name="mailbox-list"),
    path("mailboxes/<int:pk>/", v.MailboxDetailView.as_view(), name="mailbox-detail"),
    path("mailboxes/<int:pk>/sync/", v.MailboxSyncView.as_view(), name="mailbox-sync"),
    path(
        "mailboxes/<int:pk>/confirm-mass-change/",
        v.MailboxConfirmMassChangeView.as_view(),
        name="mailbox-confirm-mass-change",
    ),
    path(
        "mailboxes/<int:pk>/test-connection/",
        v.MailboxTestConnectionView.as_view(),
        name="mailbox-test-connection",
    ),
    path(
        "mailboxes/<int:pk>/collections/",
        v.MailboxCollectionsView.as_view(),
        name="mailbox-collections",
    ),
    path("server-profiles/", v.ServerProfileListView.as_view(), name="server-profile-list"),
    path(
        "server-profiles/<int:pk>/",
        v.ServerProfileDetailView.as_view(),
        name="server-profile-detail",
    ),
    path("sync-runs/", v.SyncRunListView.as_view(), name="sync-run-list"),
    path("sync-runs/<int:pk>/", v.SyncRunDetailView.as_view(), name="sync-run-detail"),
    path("conflicts/", v.ConflictListView.as_view(), name="conflict-list"),
    path("conflicts/<int:pk>/", v.ConflictDetailView.as_view(), name="conflict-detail"),
    path(
        "conflicts/<int:pk>/apply-losing-value/",
        v.ConflictApplyView.as_view(),
        name="conflict-apply-losing-value",
    ),
    path("rejected-changes/", v.RejectedChangeListView.as_view(), name="rejected-change-list"),
]
