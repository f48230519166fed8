"""fieldsync's REST API routes: urls.py gathers each feature's api/urls.py.

Mounted under /api/v1/ by syncadmin/api_urls.py. The serializers and views live in the features
(fields/api, policy/api, mailboxes/api, client/api); this package only routes.
"""
