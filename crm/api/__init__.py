"""REST API of the CRM records (contacts, appointments, tasks) with the security policy applied.

Mounted under /api/v1/ by syncadmin/api_urls.py.
"""
