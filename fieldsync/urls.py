"""Pages of fieldsync (namespace "fieldsync"): each feature's routes, in one place."""

from fieldsync.fields import urls as fields_urls
from fieldsync.mailboxes import urls as mailboxes_urls
from fieldsync.policy import urls as policy_urls

app_name = "fieldsync"

urlpatterns = [
    *fields_urls.urlpatterns,
    *policy_urls.urlpatterns,
    # The server-side sync: dashboard, mailboxes, history, conflicts.
    *mailboxes_urls.urlpatterns,
]
