"""DavConnector: the Connector protocol over CardDAV (contacts) and CalDAV (appointments, recurring
appointments, tasks), with RFC 6578 sync tokens and ETag preconditions on every write.
"""

from __future__ import annotations

import logging
import re
import uuid
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..base import (
    NOT_FOUND,
    ChangePage,
    Folder,
    ItemRef,
    ItemResult,
    ItemUpdate,
    NewItem,
    RemoteItem,
)
from . import ical, vcard, writes
from .state import SyncState, etag_digest
from .webdav import (
    CALDAV,
    CARDDAV,
    SyncUnsupported,
    TokenRefused,
    WebDav,
    chunks,
    mkcol_body,
    multiget_body,
    property_query_body,
)

log = logging.getLogger(__name__)

CORRUPT = "ErrorCorruptData"

# entity -> CRM column -> why vCard/iCalendar cannot hold it (shown on the settings page).
UNSUPPORTED: dict[str, dict[str, str]] = {
    "contact": dict(vcard.UNSUPPORTED),
    "appointment": dict(ical.UNSUPPORTED_ACTIVITY),
    "recurring_appointment": dict(ical.UNSUPPORTED_ACTIVITY),
    "task": dict(ical.UNSUPPORTED_ACTIVITY),
}
COLUMNS: dict[str, tuple[str, ...]] = {
    "contacts": vcard.COLUMNS,
    "calendar": ical.EVENT_COLUMNS,
    "tasks": ical.TASK_COLUMNS,
}
_FOLDER_ENTITIES = {
    "contacts": ("contact",),
    "calendar": ("appointment", "recurring_appointment"),
    "tasks": ("task",),
}


@dataclass(frozen=True)
class _Collection:
    href: str  # as configured (absolute URL or relative to the server URL)
    path: str  # server path with a trailing slash: what multistatus answers name
    kind: str  # "CR" (CardDAV) or "C" (CalDAV)
    component: str  # VCARD, VEVENT or VTODO
    ext: str
    content_type: str


@dataclass
class _Fetched:
    href: str
    etag: str
    data: str


class DavConnector:
    """A Connector for one user's address book, calendar and task list on a CalDAV/CardDAV server.

    Collections are given relative to `url` (or absolute); `calendar` and `tasks` may be the same
    collection. Item ids are hrefs, change keys are ETags, the sync state is opaque.
    """

    def __init__(
        self,
        *,
        url: str,
        username: str = "",
        password: str = "",
        addressbook: str = "contacts/",
        calendar: str = "calendar/",
        tasks: str = "tasks/",
        timezone: str = "UTC",
        page_size: int = 100,
        timeout: float = 60.0,
        max_wait: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.page_size = page_size
        self.dav = WebDav(
            url,
            username=username,
            password=password,
            timeout=timeout,
            max_wait=max_wait,
            verify=verify,
        )
        self.codec = ical.Codec(self.tz)
        self.collections: dict[str, _Collection] = {}
        for folder, href, kind, component, ext, ctype in (
            ("contacts", addressbook, "CR", "VCARD", "vcf", "text/vcard"),
            ("calendar", calendar, "C", "VEVENT", "ics", "text/calendar"),
            ("tasks", tasks, "C", "VTODO", "ics", "text/calendar"),
        ):
            href = href if href.endswith("/") else href + "/"
            path = self.dav.path(href).rstrip("/") + "/"
            self.collections[folder] = _Collection(
                href, path, kind, component, ext, f"{ctype}; charset=utf-8"
            )

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        """HTTP requests sent so far (benchmarks report it)."""
        return self.dav.requests

    def close(self) -> None:
        self.dav.close()

    @staticmethod
    def supported_columns(folder: Folder) -> tuple[str, ...]:
        return COLUMNS[folder]

    def ensure_collections(self) -> None:
        """Create the address book and calendars that do not exist yet (extended MKCOL)."""
        by_path: dict[str, list[_Collection]] = {}
        for coll in self.collections.values():
            by_path.setdefault(coll.path, []).append(coll)
        for colls in by_path.values():
            first = colls[0]
            if self.dav.exists(first.href):
                continue
            components = ",".join(c.component for c in colls)
            self.dav.request("MKCOL", first.href, body=mkcol_body(first.kind, components))

    def _check(self, folder: Folder, columns: Sequence[str]) -> None:
        known = COLUMNS[folder]
        bad = [c for c in columns if c not in known]
        if not bad:
            return
        reasons = [
            f"{c}: {reason}"
            for c in bad
            for entity in _FOLDER_ENTITIES[folder]
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

    def _remote(self, folder: Folder, got: _Fetched, columns: Sequence[str]) -> RemoteItem | None:
        """None when the resource is of another component (calendar and tasks shared)."""
        if folder == "contacts":
            card = vcard.read(got.data, columns)
            crm_id, categories, fields = card.crm_id, card.categories, card.fields
            modified = card.modified
        else:
            parsed = self.codec.read(got.data, columns)
            if parsed.component != self.collections[folder].component:
                return None
            crm_id, categories, fields = parsed.crm_id, parsed.categories, parsed.fields
            modified = parsed.modified
        return RemoteItem(
            item_id=got.href,
            change_key=got.etag,
            crm_id=crm_id or self._crm_from_href(folder, got.href),
            categories=categories,
            fields=fields,
            modified=modified,
        )

    def _data_tag(self, folder: Folder) -> str:
        if self.collections[folder].kind == "CR":
            return f"{{{CARDDAV}}}address-data"
        return f"{{{CALDAV}}}calendar-data"

    def _fetched(self, folder: Folder, entries: Sequence) -> dict[str, _Fetched]:
        tag = self._data_tag(folder)
        out: dict[str, _Fetched] = {}
        for entry in entries:
            data = entry.text(tag)
            if entry.status == 200 and data is not None and entry.etag:
                out[entry.href] = _Fetched(entry.href, entry.etag, data)
        return out

    def _multiget(self, folder: Folder, hrefs: Sequence[str]) -> dict[str, _Fetched]:
        coll = self.collections[folder]
        out: dict[str, _Fetched] = {}
        for chunk in chunks(list(dict.fromkeys(hrefs)), self.page_size):
            entries, _ = self.dav.report(coll.href, multiget_body(coll.kind, chunk))
            out.update(self._fetched(folder, entries))
        return out

    def _parse_or_none(
        self, folder: Folder, got: _Fetched, columns: Sequence[str]
    ) -> RemoteItem | None:
        try:
            return self._remote(folder, got, columns)
        except Exception as e:  # a client's malformed vCard/iCalendar must not stop the sync
            log.warning("Skipping unreadable item %s: %s", got.href, e)
            return None

    # -- Connector -----------------------------------------------------------------------------
    def list_changes(self, folder: Folder, sync_state: str | None) -> Iterator[ChangePage]:
        coll = self.collections[folder]
        state = SyncState.decode(sync_state, coll.path) if sync_state else SyncState(coll.path)
        seen = dict(state.items)
        full = not state.token
        try:
            entries, token = self.dav.sync_collection(coll.href, state.token)
        except TokenRefused:
            # Tokens expire (Radicale: 30 days) or the server lost them: list and compare.
            log.info("Sync token refused for %s; comparing a full listing", coll.path)
            entries, token = self.dav.sync_collection(coll.href, "")
            full = True
        except SyncUnsupported:
            entries, token, full = self.dav.propfind_children(coll.href), "", True
        token = token or ""
        changed: list[str] = []
        deleted: list[str] = []
        if full:
            listed = {
                self._short(folder, e.href): e.etag for e in entries if e.status == 200 and e.etag
            }
            deleted = [name for name in seen if name not in listed]
            changed = [n for n, tag in listed.items() if seen.get(n) != etag_digest(tag)]
        else:
            for entry in entries:
                name = self._short(folder, entry.href)
                if entry.status == 404:
                    if name in seen:
                        deleted.append(name)
                elif entry.etag and seen.get(name) != etag_digest(entry.etag):
                    changed.append(name)
        for name in deleted:
            seen.pop(name, None)
        deleted_ids = [self._long(folder, n) for n in deleted]
        if not changed:
            unchanged = token == state.token and not deleted and sync_state
            new_state = sync_state if unchanged else SyncState(coll.path, token, seen).encode()
            yield ChangePage([], [], deleted_ids, new_state, complete=True)  # type: ignore[arg-type]
            return
        columns = COLUMNS[folder]
        pages = list(chunks(changed, self.page_size))
        for number, names in enumerate(pages):
            last = number == len(pages) - 1
            fetched = self._multiget(folder, [self._long(folder, n) for n in names])
            created: list[RemoteItem] = []
            updated: list[RemoteItem] = []
            for name in names:
                got = fetched.get(self._long(folder, name))
                if got is None:  # deleted between the listing and the fetch
                    if seen.pop(name, None) is not None:
                        deleted_ids.append(self._long(folder, name))
                    continue
                remote = self._parse_or_none(folder, got, columns)
                if remote is None:
                    continue
                (updated if name in seen else created).append(remote)
                seen[name] = etag_digest(got.etag)
            # A page before the last keeps no token: resuming from it lists and compares.
            new_state = SyncState(coll.path, token if last else "", seen).encode()
            yield ChangePage(created, updated, deleted_ids, new_state, complete=last)
            deleted_ids = []

    def get_items(
        self, folder: Folder, ids: Sequence[str], field_names: Sequence[str]
    ) -> list[RemoteItem | ItemResult]:
        self._check(folder, field_names)
        fetched = self._multiget(folder, ids)
        out: list[RemoteItem | ItemResult] = []
        for index, item_id in enumerate(ids):
            got = fetched.get(item_id)
            if got is None:
                out.append(ItemResult(False, item_id, None, NOT_FOUND, "Not found", index))
                continue
            try:
                remote = self._remote(folder, got, field_names)
            except Exception as e:  # unreadable data is this item's error, not the batch's
                out.append(ItemResult(False, item_id, got.etag, CORRUPT, str(e), index))
                continue
            if remote is None:
                out.append(ItemResult(False, item_id, None, NOT_FOUND, "Not in " + folder, index))
            else:
                out.append(remote)
        return out

    def find_by_crm_ids(self, folder: Folder, crm_ids: Sequence[str]) -> dict[str, RemoteItem]:
        wanted = list(dict.fromkeys(crm_ids))
        columns = COLUMNS[folder]
        found: dict[str, RemoteItem] = {}

        def take(got: _Fetched) -> None:
            remote = self._parse_or_none(folder, got, columns)
            if remote is not None and remote.crm_id in wanted and remote.crm_id not in found:
                found[remote.crm_id] = remote

        # Items this connector created sit at a name derived from the CRM id: one multiget.
        for got in self._multiget(folder, [self._href(folder, c) for c in wanted]).values():
            take(got)
        missing = [c for c in wanted if c not in found]
        if not missing:
            return found
        # Items made elsewhere and linked later: ask the server to filter by the property.
        coll = self.collections[folder]
        prop = vcard.CRM_ID if folder == "contacts" else ical.CRM_ID
        values: list[str | None] = list(missing) if len(missing) <= 20 else [None]
        for value in values:
            body = property_query_body(coll.kind, coll.component, prop, value)
            entries, _ = self.dav.report(coll.href, body)
            for got in self._fetched(folder, entries).values():
                take(got)
        return found

    def create_items(self, folder: Folder, items: Sequence[NewItem]) -> list[ItemResult]:
        return writes.create_items(self, folder, items)

    def update_items(
        self, folder: Folder, updates: Sequence[ItemUpdate], *, overwrite: bool = False
    ) -> list[ItemResult]:
        return writes.update_items(self, folder, updates, overwrite=overwrite)

    def delete_items(self, folder: Folder, refs: Sequence[ItemRef]) -> list[ItemResult]:
        return writes.delete_items(self, folder, refs)


__all__ = ["COLUMNS", "UNSUPPORTED", "DavConnector"]
