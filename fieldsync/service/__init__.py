"""The *server-side sync* of one mailbox: read both sides, plan with the pure engine, apply.

Owns sync.py (read what changed since the last run, let fieldsync.engine decide, save where it
left off), apply.py (the plan sink: CRM writes, connector writes in bulk, conflicts and rejected
changes to their tables), values.py (one canonical value form per catalog field), preview.py
(a dry run with an estimate) and conflicts.py (conflicts and rejected changes as people see
them). It may import the engine, the catalog, the directions, fieldsync.models,
fieldsync.fields' selectors, crm, security and connectors; it does not import the worker.
"""
