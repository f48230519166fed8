"""The CardDAV/CalDAV connector: contacts as vCards, appointments and tasks as iCalendar
VEVENT/VTODO, incremental through RFC 6578 sync tokens, every write guarded by an ETag precondition.
"""

# connector.py: DavConnector, COLUMNS and UNSUPPORTED (entity -> CRM column -> why vCard/iCalendar
# cannot hold it); vcard.py, ical.py: field conversions; writes.py: PUT/DELETE with preconditions;
# webdav.py: HTTP/XML; state.py: the sync state; radicale.py: a local server (tests, bench, demo).

from .connector import COLUMNS, UNSUPPORTED, DavConnector

__all__ = ["COLUMNS", "UNSUPPORTED", "DavConnector"]
