"""Pages of the server-side sync, one module per page family: the overview (dashboard, run
history), a mailbox's pages, email server profiles, and conflicts and rejected changes. Users see
their own mailbox, admins all; a mailbox you may not see answers 404. Routes: ../urls.py.
"""
