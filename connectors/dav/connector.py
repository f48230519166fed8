"""DavConnector: the Connector protocol over CardDAV (contacts) and CalDAV (appointments, recurring
appointments, tasks), with RFC 6578 sync tokens and ETag preconditions on every write.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..base import (
    NOT_FOUND,
    ChangePage,
    ConnectorError,
    Folder,
    ItemRef,
    ItemResult,
    ItemUpdate,
    NewItem,
    RemoteItem,
)
from . import ical, vcard, writes
from .discovery import Discovery, discover
from .state import SyncState, etag_digest
from .store import COLUMNS, UNSUPPORTED, Collection, DavStore, Fetched
from .webdav import (
    CollectionInfo,
    Entry,
    SyncUnsupported,
    TokenRefused,
    WebDav,
    chunks,
    mkcol_body,
    parse_multistatus,
    property_query_body,
)

log = logging.getLogger(__name__)

CORRUPT = "ErrorCorruptData"
_KIND_NAMES = {"CR": ("addressbook", "an address book"), "C": ("calendar", "a calendar")}


@dataclass(frozen=True)
class CollectionProblem:
    """Why a collection a mailbox uses cannot be used, in words an administrator can act on."""

    folder: str
    url: str
    code: str  # missing, wrong_type, component
    message: str


class DavConnector(DavStore):
    """A Connector for one user's address book, calendar and task list on a CalDAV/CardDAV server.

    Collections are given relative to `url` (or as absolute URLs, as discovery finds them);
    `calendar` and `tasks` may be the same collection. Item ids are hrefs (percent-encoded as the
    server spells them), change keys are ETags, the sync state is opaque. `verify` is True, False
    or the path of a CA bundle; `organizer` is the calendar owner's address, written as ORGANIZER
    on an event with attendees that has none.
    """

    # A series' changed and cancelled occurrences: RECURRENCE-ID overrides and EXDATE.
    holds_exceptions = True

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
        organizer: str = "",
    ) -> None:
        dav = WebDav(
            url,
            username=username,
            password=password,
            timeout=timeout,
            max_wait=max_wait,
            verify=verify,
        )
        super().__init__(
            dav,
            addressbook=addressbook,
            calendar=calendar,
            tasks=tasks,
            timezone=timezone,
            page_size=page_size,
            organizer=organizer,
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

    def discover(self) -> Discovery:
        """The user's address books and calendars as discovery finds them from the URL."""
        return discover(self.dav)

    def _by_url(self) -> dict[str, list[tuple[str, Collection]]]:
        """The collections by URL: calendar and tasks may share one."""
        by_url: dict[str, list[tuple[str, Collection]]] = {}
        for folder, coll in self.collections.items():
            by_url.setdefault(coll.url, []).append((folder, coll))
        return by_url

    def check_collections(self, folders: Sequence[str] | None = None) -> list[CollectionProblem]:
        """Every collection this connector uses (or those of `folders`): there, of the right
        resource type, taking the components it will hold. [] when all is well. The messages
        name the collection as an administrator chose it ("The tasks collection ...")."""
        problems: list[CollectionProblem] = []
        for url, users in self._by_url().items():
            users = [(f, c) for f, c in users if folders is None or f in folders]
            if not users:
                continue
            info = self.dav.collection(url)
            for folder, coll in users:
                problem = _problem(folder, coll, url, info)
                if problem is not None:
                    problems.append(problem)
        return problems

    def ensure_collections(self) -> None:
        """Create the address book and calendars that do not exist yet (extended MKCOL), and
        check that every collection is there and of the right type afterwards."""
        for url, users in self._by_url().items():
            if self.dav.collection(url) is not None:
                continue
            first = users[0][1]
            components = ",".join(c.component for _, c in users)
            response = self.dav.request("MKCOL", url, body=mkcol_body(first.kind, components))
            _refused_in(response.status_code, response.content, f"Creating {url}")
        problems = self.check_collections()
        if problems:
            raise ConnectorError("; ".join(p.message for p in problems), "ErrorFolderNotFound")

    def _remote(self, folder: Folder, got: Fetched, columns: Sequence[str]) -> RemoteItem | None:
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

    def _parse_or_none(
        self, folder: Folder, got: Fetched, columns: Sequence[str]
    ) -> RemoteItem | None:
        try:
            return self._remote(folder, got, columns)
        except Exception as e:  # a client's malformed vCard/iCalendar must not stop the sync
            log.warning("Skipping unreadable item %s: %s", got.href, e)
            return None

    # -- listing changes -----------------------------------------------------------------------
    def _listing(self, coll: Collection, state: SyncState) -> tuple[list[Entry], str, bool]:
        """(entries, new token, whether the entries are a full listing to compare)."""
        try:
            entries, token = self.dav.sync_collection(coll.url, state.token)
            return entries, token or "", not state.token
        except TokenRefused:
            # Tokens expire (Radicale: 30 days) or the server lost them: list and compare.
            log.info("Sync token refused for %s; comparing a full listing", coll.path)
            entries, token = self.dav.sync_collection(coll.url, "")
            return entries, token or "", True
        except SyncUnsupported:
            return self.dav.propfind_children(coll.url), "", True

    def _diff(
        self, folder: Folder, entries: list[Entry], seen: dict[str, str], full: bool
    ) -> tuple[list[str], list[str]]:
        """(changed names, deleted names) against the snapshot `seen`."""
        if full:
            listed = {
                self._short(folder, e.href): e.etag for e in entries if e.status == 200 and e.etag
            }
            deleted = [name for name in seen if name not in listed]
            changed = [n for n, tag in listed.items() if seen.get(n) != etag_digest(tag)]
            return changed, deleted
        changed, deleted = [], []
        for entry in entries:
            name = self._short(folder, entry.href)
            if entry.status == 404:
                if name in seen:
                    deleted.append(name)
            elif entry.etag and seen.get(name) != etag_digest(entry.etag):
                changed.append(name)
        return changed, deleted

    def list_changes(self, folder: Folder, sync_state: str | None) -> Iterator[ChangePage]:
        coll = self.collections[folder]
        state = SyncState.decode(sync_state, coll.path) if sync_state else SyncState(coll.path)
        entries, token, full = self._listing(coll, state)
        seen = dict(state.items)
        changed, deleted = self._diff(folder, entries, seen, full)
        for name in deleted:
            seen.pop(name, None)
        deleted_ids = [self._long(folder, n) for n in deleted]
        if not changed:
            unchanged = token == state.token and not deleted and sync_state and state.current
            new_state = sync_state if unchanged else SyncState(coll.path, token, seen).encode()
            yield ChangePage([], [], deleted_ids, new_state, complete=True)  # type: ignore[arg-type]
            return
        yield from self._changed_pages(folder, changed, seen, token, deleted_ids)

    def _changed_pages(
        self,
        folder: Folder,
        changed: list[str],
        seen: dict[str, str],
        token: str,
        deleted_ids: list[str],
    ) -> Iterator[ChangePage]:
        coll = self.collections[folder]
        pages = list(chunks(changed, self.page_size))
        for number, names in enumerate(pages):
            last = number == len(pages) - 1
            created, updated, gone = self._read_page(folder, names, seen)
            # A page before the last keeps no token: resuming from it lists and compares.
            new_state = SyncState(coll.path, token if last else "", seen).encode()
            yield ChangePage(created, updated, deleted_ids + gone, new_state, complete=last)
            deleted_ids = []

    def _read_page(
        self, folder: Folder, names: Sequence[str], seen: dict[str, str]
    ) -> tuple[list[RemoteItem], list[RemoteItem], list[str]]:
        fetched = self._multiget(folder, [self._long(folder, n) for n in names])
        created: list[RemoteItem] = []
        updated: list[RemoteItem] = []
        gone: list[str] = []
        for name in names:
            got = fetched.get(self._long(folder, name))
            if got is None:  # deleted between the listing and the fetch
                if seen.pop(name, None) is not None:
                    gone.append(self._long(folder, name))
                continue
            remote = self._parse_or_none(folder, got, COLUMNS[folder])
            if remote is None:
                continue
            (updated if name in seen else created).append(remote)
            seen[name] = etag_digest(got.etag)
        return created, updated, gone

    # -- Connector -----------------------------------------------------------------------------
    def get_items(
        self, folder: Folder, ids: Sequence[str], field_names: Sequence[str]
    ) -> list[RemoteItem | ItemResult]:
        self._check(folder, field_names)
        ids = [self._item_id(i) for i in ids]
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

        def take(got: Fetched) -> None:
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
            entries, _ = self.dav.report(coll.url, body)
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


_FOLDER_LABELS = {"contacts": "contacts", "calendar": "events", "tasks": "tasks"}
_COMPONENT_WORDS = {"VEVENT": "events", "VTODO": "tasks", "VJOURNAL": "journal entries"}


def _what(types: frozenset[str]) -> str:
    if "addressbook" in types:
        return "an address book"
    if "calendar" in types:
        return "a calendar"
    return "a plain collection"


def _problem(
    folder: str, coll: Collection, url: str, info: CollectionInfo | None
) -> CollectionProblem | None:
    resource, article = _KIND_NAMES[coll.kind]
    name = f"The {_FOLDER_LABELS[folder]} collection {url}"
    if info is None:
        return CollectionProblem(folder, url, "missing", f"{name} does not exist")
    if resource not in info.types:
        return CollectionProblem(
            folder, url, "wrong_type", f"{name} is {_what(info.types)}, not {article}"
        )
    if coll.kind == "C" and not info.takes(coll.component):
        takes = ", ".join(f"{_COMPONENT_WORDS.get(c, c)} ({c})" for c in info.components)
        return CollectionProblem(
            folder,
            url,
            "component",
            f"{name} is a calendar that does not take {coll.component} "
            f"({_COMPONENT_WORDS[coll.component]}); it takes {takes}",
        )
    return None


def _refused_in(status: int, content: bytes, what: str) -> None:
    """Raise when a 207 answer (an extended MKCOL's) refused a property: the server then made
    nothing, or a collection without the resource type asked for."""
    if status != 207 or not content:
        return
    entries, _ = parse_multistatus(content)
    refused = [
        f"{name.rpartition('}')[2]} ({code})" for e in entries for name, code in e.refused.items()
    ]
    failed = [f"HTTP {e.status}" for e in entries if e.status >= 300]
    if refused or failed:
        raise ConnectorError(
            f"{what}: the server refused {', '.join(refused + failed)}", "ErrorFolderNotFound"
        )


__all__ = ["COLUMNS", "UNSUPPORTED", "CollectionProblem", "DavConnector"]
