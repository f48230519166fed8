"""The product: admins choose, field by field, how CRM records sync with Exchange/Outlook.

One folder per feature, each with its services/selectors, views, forms, urls and api/:
fields/ (the Synchronized fields settings: catalog directions, mappings, audit), policy/ (the
organization's sync policy), service/ (one mailbox's server-side sync: read, plan, apply,
preview, conflicts), mailboxes/ (profiles, credentials, scheduling, locks, the worker's runs and
tasks, the dashboard) and client/ (the Outlook client path over REST). Below them: engine/ (the
pure sync core), models/ (the app's tables, split the same way), catalog.py and directions.py
(the shared vocabulary). Imports run downwards only (import-linter's layers contract in
pyproject.toml): urls, api, admin and commands on top, then the features, then the models, then
the engine, the catalog and the directions.
"""
