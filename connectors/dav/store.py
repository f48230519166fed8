"""What the DAV connector's reads and writes share: the three collections, the item names the
connector gives, checks of the columns asked for, and the multiget of items by href.

connector.py (listing, reading) and writes.py (PUT/DELETE) both build on DavStore; neither
imports the other's internals.
"""

from __future__ import annotations

import re
import uuid
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin

from ..base import Folder
from . import ical, vcard
from .webdav import CALDAV, CARDDAV, WebDav, canonical_path, chunks, multiget_body

# entity -> CRM column -> why vCard/iCalendar cannot hold it (shown on the settings page).
UNSUPPORTED: dict[str, dict[str, str]] = {
    "contact": dict(vcard.UNSUPPORTED),
    "appointment": dict(ical.UNSUPPORTED_ACTIVITY),
    "recurring_appointment": dict(ical.UNSUPPORTED_ACTIVITY),
    "task": dict(ical.UNSUPPORTED_ACTIVITY),
    **{e: dict(ical.UNSUPPORTED_ACTIVITY) for e in ("phone_call", "letter", "fax")},
    "service_activity": dict(ical.UNSUPPORTED_ACTIVITY),
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "contacts": vcard.COLUMNS,
    "calendar": ical.EVENT_COLUMNS,
    "tasks": ical.TASK_COLUMNS,
}
FOLDER_ENTITIES = {
    "contacts": ("contact",),
    "calendar": ("appointment", "recurring_appointment", "service_activity"),
    "tasks": ("task", "phone_call", "letter", "fax"),
}


@dataclass(frozen=True)
class Collection:
    href: str  # as configured (absolute URL or relative to the server URL)
    url: str  # absolute URL (a home set may sit on another host than the profile's URL)
    path: str  # canonical server path with a trailing slash: what multistatus answers name
    kind: str  # "CR" (CardDAV) or "C" (CalDAV)
    component: str  # VCARD, VEVENT or VTODO
    ext: str
    content_type: str

    def resolve(self, href: str) -> str:
        """The absolute URL of an item href of this collection (hrefs stay percent-encoded)."""
        return urljoin(self.url, href)


@dataclass
class Fetched:
    href: str
    etag: str
    data: str


class DavStore:
    """The collections of one user on one server, and the plumbing reads and writes share."""

    def __init__(
        self,
        dav: WebDav,
        *,
        addressbook: str,
        calendar: str,
        tasks: str,
        timezone: str,
        page_size: int,
        organizer: str = "",
    ) -> None:
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.page_size = page_size
        self.dav = dav
        self.codec = ical.Codec(self.tz, organizer=organizer)
        self.collections: dict[str, Collection] = {}
        for folder, href, kind, component, ext, ctype in (
            ("contacts", addressbook, "CR", "VCARD", "vcf", "text/vcard"),
            ("calendar", calendar, "C", "VEVENT", "ics", "text/calendar"),
            ("tasks", tasks, "C", "VTODO", "ics", "text/calendar"),
        ):
            href = href if href.endswith("/") else href + "/"
            path = self.dav.path(href).rstrip("/") + "/"
            self.collections[folder] = Collection(
                href, dav.absolute(href), path, kind, component, ext, f"{ctype}; charset=utf-8"
            )

    def _check(self, folder: Folder, columns: Sequence[str]) -> None:
        known = COLUMNS[folder]
        bad = [c for c in columns if c not in known]
        if not bad:
            return
        reasons = [
            f"{c}: {reason}"
            for c in bad
            for entity in FOLDER_ENTITIES[folder]
            if (reason := UNSUPPORTED[entity].get(c))
        ]
        raise ValueError(
            f"Not held by {'vCard' if folder == 'contacts' else 'iCalendar'} in {folder}: "
            f"{', '.join(bad)}" + (f" ({'; '.join(dict.fromkeys(reasons))})" if reasons else "")
        )

    def _name(self, folder: Folder, crm_id: str) -> str:
        """The resource name a CRM record's item gets, the same on every attempt."""
        safe = crm_id if re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", crm_id) else None
        return f"syncadmin-{safe or uuid.uuid5(uuid.NAMESPACE_URL, crm_id)}"

    def _href(self, folder: Folder, crm_id: str) -> str:
        coll = self.collections[folder]
        return f"{coll.path}{self._name(folder, crm_id)}.{coll.ext}"

    def _crm_from_href(self, folder: Folder, href: str) -> str | None:
        coll = self.collections[folder]
        match = re.fullmatch(
            re.escape(coll.path) + r"syncadmin-([A-Za-z0-9_.-]+)\." + coll.ext, href
        )
        return match.group(1) if match else None

    def _short(self, folder: Folder, href: str) -> str:
        path = self.collections[folder].path
        return href[len(path) :] if href.startswith(path) else href

    def _long(self, folder: Folder, name: str) -> str:
        return name if name.startswith("/") else self.collections[folder].path + name

    @staticmethod
    def _item_id(item_id: str) -> str:
        """An item id as the engine keeps it, in the canonical encoding (ids saved before hrefs
        were kept encoded were decoded paths: "a b.vcf" becomes "a%20b.vcf")."""
        return canonical_path(item_id)

    def _data_tag(self, folder: Folder) -> str:
        if self.collections[folder].kind == "CR":
            return f"{{{CARDDAV}}}address-data"
        return f"{{{CALDAV}}}calendar-data"

    def _fetched(self, folder: Folder, entries: Sequence) -> dict[str, Fetched]:
        tag = self._data_tag(folder)
        out: dict[str, Fetched] = {}
        for entry in entries:
            data = entry.text(tag)
            if entry.status == 200 and data is not None and entry.etag:
                out[entry.href] = Fetched(entry.href, entry.etag, data)
        return out

    def _multiget(self, folder: Folder, hrefs: Sequence[str]) -> dict[str, Fetched]:
        coll = self.collections[folder]
        out: dict[str, Fetched] = {}
        wanted = list(dict.fromkeys(hrefs))
        for chunk in chunks(wanted, self.page_size):
            entries, _ = self.dav.report(coll.url, multiget_body(coll.kind, chunk))
            out.update(self._fetched(folder, entries))
        # Some servers decode a multiget's hrefs and cut them at "#" or "?" (Xandikos 0.4):
        # an encoded name the answer left out is fetched on its own.
        for href in wanted:
            if href not in out and "%" in href:
                got = self._get(coll, href)
                if got is not None:
                    out[href] = got
        return out

    def _get(self, coll: Collection, href: str) -> Fetched | None:
        response = self.dav.request("GET", coll.resolve(href), ok=(200,), passthrough=(404, 410))
        etag = response.headers.get("ETag")
        if response.status_code != 200 or not etag:
            return None
        return Fetched(href, etag, response.content.decode("utf-8"))
