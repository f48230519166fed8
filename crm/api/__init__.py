"""REST API of the CRM records with the security policy applied: contacts, appointments,
recurring appointments (with their changed and cancelled occurrences), tasks, phone calls,
letters, faxes and service activities.

Mounted under /api/v1/ by syncadmin/api_urls.py.
"""
