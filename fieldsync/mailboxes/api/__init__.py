"""REST API of mailboxes and the worker: mailboxes (+ sync, test connection, confirm), email
server profiles, sync runs, conflicts and rejected changes.
"""
