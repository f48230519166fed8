"""The *server-side sync* of one mailbox: read both sides, plan with the pure engine, apply.

Owns sync.py (read what changed since the last run, let fieldsync.engine decide, guard against
mass changes, save where it left off), apply.py (the plan sink: CRM writes, connector writes in
bulk, conflicts and rejected changes to their tables) and values.py (one canonical value form
per catalog field). It is called with a connector and an owner, and knows nothing of
mailboxes, queues or pages: it may import the engine, the catalog, the directions,
fieldsync.models, fieldsync.fields' selectors, crm and security.
"""
