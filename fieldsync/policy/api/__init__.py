"""REST API of the sync policy: GET/PATCH /api/v1/sync-policy/ and its change log."""
