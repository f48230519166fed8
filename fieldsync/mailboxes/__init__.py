"""*Mailboxes and the worker*: who syncs, with which credentials, when, and what came of it.

Owns server profiles and mailboxes with encrypted credentials (services.py, credentials.py,
demo.py), connecting to a mailbox (connection.py), when mailboxes are due, their locks and
back-off (scheduling.py), one locked run of one mailbox recorded in the history (run.py), the
Celery tasks and the beat tick (tasks.py), the preview of a run (preview.py), conflicts and
rejected changes as people see them (conflicts.py), the dashboard, history and charts
(selectors.py, charts.py), and their pages and API (views/, forms.py, urls.py, api/).
A run and the preview call fieldsync.service, so this package sits above it: it may import
fieldsync.service, fields, the models, the catalog, crm, security and connectors.
"""
