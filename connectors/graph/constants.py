"""Names and numbers the Graph connector's modules share: error codes, the permissions it needs,
the calendar window, and the column that holds a series' exceptions.
"""

from __future__ import annotations

INVALID_SYNC_STATE = "ErrorInvalidSyncStateData"  # what the sync engine relists on
CORRUPT = "ErrorCorruptData"
REQUIRED_PERMISSIONS = (
    "Contacts.ReadWrite",
    "Calendars.ReadWrite",
    "Tasks.ReadWrite.All",
    "MailboxSettings.ReadWrite",
)
# The calendar window: a year back (recent meetings still get notes and outcomes), two years
# ahead (recurring series and planned events); it rolls forward once its end is 30 days nearer.
PAST_DAYS = 365
FUTURE_DAYS = 730
ROLL_DAYS = 30
EXCEPTIONS = (
    "exceptions"  # a series' changed and cancelled occurrences (connectors.graph.exceptions)
)
