"""REST API of the Synchronized fields settings: entities, their field directions, the audit log.

Thin views over fieldsync.fields' selectors and services; mounted by fieldsync/api/urls.py.
"""
