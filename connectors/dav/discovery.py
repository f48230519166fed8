"""Finding a user's address books and calendars as CalDAV/CardDAV clients do: RFC 6764
/.well-known/carddav and /.well-known/caldav, DAV:current-user-principal (RFC 5397), the
addressbook-home-set (RFC 6352) and calendar-home-set (RFC 4791), then a Depth 1 PROPFIND of each
home listing collections by resource type and supported components.

Every URL found is absolute (a home set may sit on another host). Servers without discovery, and
the fixed layout this product used to assume (contacts/, calendar/, tasks/ under the URL given),
fall back to those names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urljoin, urlsplit

from .webdav import (
    COLLECTION_PROPS,
    DAV,
    NSMAP,
    CollectionInfo,
    Entry,
    WebDav,
    parse_multistatus,
    propfind_body,
)

_REDIRECTS = (301, 302, 303, 307, 308)
_PRINCIPAL_PROPS = (
    "D:current-user-principal",
    "CR:addressbook-home-set",
    "C:calendar-home-set",
    "C:calendar-user-address-set",
    *COLLECTION_PROPS,
)
_FIXED = {"contacts": "contacts/", "calendar": "calendar/", "tasks": "tasks/"}
_PREFERRED = {
    "contacts": ("contacts", "addressbook", "default", "card"),
    "calendar": ("calendar", "personal", "default", "home", "events"),
    "tasks": ("tasks", "todo", "todos", "task"),
}


@dataclass(frozen=True)
class Found:
    """An address book or calendar: its absolute URL, what it holds and its display name."""

    url: str
    kind: Literal["addressbook", "calendar"]
    components: tuple[str, ...] = ()  # a calendar's supported components; () = not said (all)
    name: str = ""

    def takes(self, component: str) -> bool:
        if self.kind == "addressbook":
            return component == "VCARD"
        return not self.components or component in self.components

    @property
    def segment(self) -> str:
        return urlsplit(self.url).path.rstrip("/").rpartition("/")[2].lower()


@dataclass(frozen=True)
class Discovery:
    """What discovery found, and the collection it proposes for contacts, events and tasks."""

    start: str
    principal: str | None
    addressbook_homes: tuple[str, ...]
    calendar_homes: tuple[str, ...]
    collections: tuple[Found, ...]
    addresses: tuple[str, ...] = ()  # the user's calendar addresses (mailto: stripped)
    choice: dict[str, str] = field(default_factory=dict)  # folder -> absolute URL

    def found(self, url: str) -> Found | None:
        return next((c for c in self.collections if c.url == url), None)

    def missing(self) -> dict[str, str]:
        """The proposed collections that do not exist yet (a fixed-name fallback)."""
        return {folder: url for folder, url in self.choice.items() if self.found(url) is None}


def discover(dav: WebDav, url: str | None = None) -> Discovery:
    """Discover the collections of the user `dav` signs in as, from `url` (default: the
    connection's URL): a server root, a principal, a home set or a collection all do."""
    start = dav.absolute(url or dav.url)
    here = _propfind_one(dav, start, _PRINCIPAL_PROPS)
    if here is None or _href_prop(here[1], "D:current-user-principal") is None:
        here = _well_known(dav, start) or here
    principal: str | None = None
    props: Entry | None = here[1] if here else None
    if here is not None:
        principal_href = _href_prop(here[1], "D:current-user-principal")
        if principal_href is not None:
            principal = urljoin(here[0], principal_href)
            if principal.rstrip("/") != here[0].rstrip("/"):
                got = _propfind_one(dav, principal, _PRINCIPAL_PROPS)
                props = got[1] if got else props
    base = principal or start
    books = _hrefs(props, "CR:addressbook-home-set", base)
    cals = _hrefs(props, "C:calendar-home-set", base)
    homes = list(dict.fromkeys([*books, *cals])) or [start]
    collections = _listing(dav, homes, start, props if principal is None else None)
    addresses = tuple(
        h[7:]
        for h in _hrefs(props, "C:calendar-user-address-set", "")
        if h[:7].lower() == "mailto:"
    )
    found = Discovery(start, principal, tuple(books), tuple(cals), tuple(collections), addresses)
    found.choice.update(choose(found))
    return found


def choose(found: Discovery) -> dict[str, str]:
    """A proposal: the address book and the event and task calendars a user most likely means;
    the fixed names under the home (or the URL given) when there is none."""
    books = [c for c in found.collections if c.kind == "addressbook"]
    events = [c for c in found.collections if c.kind == "calendar" and c.takes("VEVENT")]
    todos = [c for c in found.collections if c.kind == "calendar" and c.takes("VTODO")]
    book_home = found.addressbook_homes[0] if found.addressbook_homes else found.start
    cal_home = found.calendar_homes[0] if found.calendar_homes else found.start
    contacts = _best(books, "contacts")
    calendar = _best(events, "calendar")
    only_todos = [c for c in todos if c.components == ("VTODO",)]
    tasks = _best(only_todos, "tasks") or _named(todos, "tasks")
    if tasks is None and calendar is not None and calendar.takes("VTODO"):
        tasks = calendar
    tasks = tasks or _best(todos, "tasks")
    return {
        "contacts": contacts.url if contacts else urljoin(book_home, _FIXED["contacts"]),
        "calendar": calendar.url if calendar else urljoin(cal_home, _FIXED["calendar"]),
        "tasks": tasks.url if tasks else urljoin(cal_home, _FIXED["tasks"]),
    }


def _named(candidates: Sequence[Found], folder: str) -> Found | None:
    for name in _PREFERRED[folder]:
        for coll in candidates:
            if coll.segment == name or coll.name.lower() == name:
                return coll
    return None


def _best(candidates: Sequence[Found], folder: str) -> Found | None:
    return _named(candidates, folder) or (candidates[0] if candidates else None)


# -- requests --------------------------------------------------------------------------------------
def _propfind_one(
    dav: WebDav, url: str, names: Sequence[str], depth: str = "0"
) -> tuple[str, Entry] | None:
    """(the URL answered, its entry) of a Depth 0 PROPFIND, following redirects as PROPFIND
    (requests would turn a 302 into a GET); None when nothing is there."""
    for _ in range(5):
        response = dav.request(
            "PROPFIND", url, body=propfind_body(*names), headers={"Depth": depth},
            ok=(207,), passthrough=(*_REDIRECTS, 400, 403, 404, 405, 501), redirects=False,
        )  # fmt: skip
        if response.status_code in _REDIRECTS and response.headers.get("Location"):
            url = urljoin(url, response.headers["Location"])
            continue
        if response.status_code != 207:
            return None
        entries, _ = parse_multistatus(response.content)
        for entry in entries:
            if entry.status < 300:
                return url, entry
        return None
    return None


def _well_known(dav: WebDav, start: str) -> tuple[str, Entry] | None:
    for service in ("carddav", "caldav"):
        got = _propfind_one(dav, urljoin(start, f"/.well-known/{service}"), _PRINCIPAL_PROPS)
        if got is not None and _href_prop(got[1], "D:current-user-principal") is not None:
            return got
    return None


def _clark(name: str) -> str:
    prefix, _, local = name.partition(":")
    return f"{{{NSMAP[prefix]}}}{local}"


def _href_prop(entry: Entry, name: str) -> str | None:
    element = entry.props.get(_clark(name))
    if element is None:
        return None
    href = element.findtext(f"{{{DAV}}}href")
    return href.strip() if href else None


def _hrefs(entry: Entry | None, name: str, base: str) -> list[str]:
    if entry is None:
        return []
    element = entry.props.get(_clark(name))
    if element is None:
        return []
    hrefs = [(h.text or "").strip() for h in element.iterfind(f"{{{DAV}}}href")]
    return [urljoin(base, h) if base else h for h in hrefs if h]


def _listing(dav: WebDav, homes: Sequence[str], start: str, itself: Entry | None) -> list[Found]:
    """The address books and calendars in each home (and the URL given, if it is one)."""
    found: dict[str, Found] = {}
    if itself is not None and (coll := _as_found(start, CollectionInfo.of(itself))) is not None:
        found[coll.url] = coll
    for home in homes:
        for entry in dav.propfind(home, COLLECTION_PROPS, depth="1"):
            url = urljoin(home, entry.href)
            coll = _as_found(url, CollectionInfo.of(entry))
            if coll is not None:
                found.setdefault(coll.url, coll)
    return list(found.values())


def _as_found(url: str, info: CollectionInfo) -> Found | None:
    url = url if url.endswith("/") else url + "/"
    if "addressbook" in info.types:
        return Found(url, "addressbook", (), info.name)
    if "calendar" in info.types:
        return Found(url, "calendar", info.components, info.name)
    return None
