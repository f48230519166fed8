"""manage.py commands of fieldsync (seed_demo, run_demo, sync_mailbox, ...): thin entry points
that parse arguments and call one feature's services; nothing in fieldsync imports them.
"""
