"""REST API of the field-sync settings: entities, their field directions, and the audit log.

Mounted under /api/v1/ by syncadmin/api_urls.py.
"""
