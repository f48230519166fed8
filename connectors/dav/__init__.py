"""The CardDAV/CalDAV connector: contacts as vCards, appointments and tasks as iCalendar
VEVENT/VTODO, incremental through RFC 6578 sync tokens, every write guarded by an ETag precondition.

connector.py holds DavConnector and UNSUPPORTED (entity -> CRM column -> why vCard/iCalendar cannot
hold it); vcard.py and ical.py the field conversions; webdav.py the HTTP/XML plumbing; state.py the
opaque sync state; radicale.py a local Radicale server for tests, benchmarks and the demo.
"""

from .connector import COLUMNS, UNSUPPORTED, DavConnector

__all__ = ["COLUMNS", "UNSUPPORTED", "DavConnector"]
