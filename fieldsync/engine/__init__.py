"""The pure sync core: per-field three-way merge from plain data to a plan of actions.

No Django and no I/O may be imported here (an import-linter contract checks it).
"""
