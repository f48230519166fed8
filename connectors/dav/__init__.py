"""The CardDAV/CalDAV connector: contacts as vCards, appointments and tasks as iCalendar
VEVENT/VTODO, incremental through RFC 6578 sync tokens, every write guarded by an ETag precondition.
"""

# connector.py: DavConnector, COLUMNS and UNSUPPORTED (entity -> CRM column -> why vCard/iCalendar
# cannot hold it); vcard.py, ical.py: field conversions; writes.py: PUT/DELETE with preconditions;
# webdav.py: HTTP/XML; discovery.py: RFC 6764 discovery of address books and calendars; store.py:
# what reads and writes share; state.py: the sync state; radicale.py, xandikos.py: local servers
# (tests, bench, demo).

from .connector import COLUMNS, UNSUPPORTED, CollectionProblem, DavConnector
from .discovery import Discovery, Found, discover

__all__ = [
    "COLUMNS",
    "UNSUPPORTED",
    "CollectionProblem",
    "DavConnector",
    "Discovery",
    "Found",
    "discover",
]
