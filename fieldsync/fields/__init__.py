"""The *Synchronized fields* settings: which catalog field syncs in which direction, per entity.

Owns the FieldMapping rows (read in selectors.py, changed only through services.py, every change
audited as a DirectionChange), the admin's arrows page and the end users' read-only copy
(views.py, forms.py, urls.py) and the settings API under /api/v1/entities/ (api/). Named
`fields`, not `settings`, so that it is never mistaken for Django's settings. It may import the
catalog, the directions, fieldsync.models and security; the server-side sync reads its
selectors, and the sync policy's API reuses its permission class.
"""
