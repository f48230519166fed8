"""The *server-side sync* of one mailbox: read both sides, plan with the pure engine, apply.

Owns sync.py (one run: gather what changed since the last run, let fieldsync.engine decide,
guard against mass changes, save where it left off), rules.py (field rules, policy, sync
filter), crm_side.py and exchange_side.py (reading each side), status.py (the saved statuses),
apply.py (the plan sink: CRM writes, connector writes in bulk, conflicts and rejected changes
to their tables), values.py (one canonical value form per catalog field) and verify.py
(*Verify*). It is called with a connector and an owner, and knows nothing of mailboxes, queues
or pages: it may import the engine, the catalog, the directions, fieldsync.models,
fieldsync.fields' selectors, crm and security.
"""
