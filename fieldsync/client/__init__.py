"""The *Outlook client path* over REST: a client pulls pages of changes since a signed cursor and
pushes batches of its own changes, merged by the server-side sync's own per-field rules.

Owns common.py (scope, rules, cursor), pull.py (GET), push.py (POST, idempotent), batch.py (one
entity's items merged), changes.py (an item parsed, each column's outcome), records.py
(conflicts, rejected changes and runs written to the server-side sync's tables), sealing.py
(the versions and stored answers, secured values only as keyed digests) and the API
(api/). It may import fieldsync.service (rules and values), the engine, the models, crm and
security; nothing in fieldsync imports it except the API routes.
"""
