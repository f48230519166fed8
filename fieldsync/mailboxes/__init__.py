"""*Mailboxes and the worker*: who syncs, with which credentials, when, and what happened.

Owns email server profiles and mailboxes with encrypted credentials (services.py,
credentials.py), the connector for a mailbox, the scheduling, locks and back-off
(scheduling.py), one locked run of one mailbox recorded in the history (run.py), the Celery
tasks (tasks.py), the dashboard, history and charts (selectors.py, charts.py) and their pages
and API (views.py, forms.py, urls.py, api/). It may import fieldsync.service (a run calls the
sync), the models, the catalog, crm, security and connectors.
"""
