"""Routes of fieldsync's REST API (included under /api/v1/ in the "api" namespace): each
feature's API routes, in one place."""

from fieldsync.client.api import urls as client_urls
from fieldsync.fields.api import urls as fields_urls
from fieldsync.mailboxes.api import urls as mailboxes_urls
from fieldsync.policy.api import urls as policy_urls

urlpatterns = [
    *fields_urls.urlpatterns,
    *policy_urls.urlpatterns,
    *mailboxes_urls.urlpatterns,
    *client_urls.urlpatterns,
]
