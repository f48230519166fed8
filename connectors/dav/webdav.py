"""WebDAV plumbing for the DAV connector: requests with typed errors, and the few XML bodies
CardDAV/CalDAV need (sync-collection, multiget, query, PROPFIND, extended MKCOL).
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
from lxml import etree

from ..base import AuthError, ConnectorError, ThrottledError, TransientError

DAV = "DAV:"
CARDDAV = "urn:ietf:params:xml:ns:carddav"
CALDAV = "urn:ietf:params:xml:ns:caldav"
NSMAP = {"D": DAV, "CR": CARDDAV, "C": CALDAV}

# Servers may answer with entities or DTDs; never resolve them.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class TokenRefused(ConnectorError):
    """The server no longer accepts a sync token (RFC 6578 DAV:valid-sync-token)."""


class SyncUnsupported(ConnectorError):
    """The collection does not answer sync-collection REPORTs at all."""


class CertificateRefused(AuthError):
    """The server's TLS certificate could not be verified: a setting to fix, not a retry."""


# Characters a path segment may carry as they are (RFC 3986 pchar, less "%"): escapes of these
# are decoded, every other byte is written as an upper-case escape, so that one resource has one
# spelling whatever the server or the client sent ("/" stays "/", "%2F" stays "%2F").
_PCHAR = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@"
)


def canonical_path(href: str) -> str:
    """The path of an href or URL in one canonical percent-encoding (never decoded to text:
    a name holding an encoded "%", "#" or "?" must go back to the server encoded)."""
    path = urlsplit(href).path if "://" in href[:12] else href
    raw = path.encode("utf-8")
    out: list[str] = []
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x25 and re.fullmatch(rb"[0-9A-Fa-f]{2}", raw[i + 1 : i + 3]):
            value = int(raw[i + 1 : i + 3], 16)
            out.append(chr(value) if chr(value) in _PCHAR else f"%{value:02X}")
            i += 3
            continue
        char = chr(byte)
        out.append(char if char in _PCHAR or char == "/" else f"%{byte:02X}")
        i += 1
    return "".join(out)


@dataclass
class Entry:
    """One DAV:response of a multistatus: href, its status and the properties found."""

    href: str
    status: int
    props: dict[str, etree._Element] = field(default_factory=dict)
    # Properties answered with another status than 200 (404: not there, 403/424: refused).
    refused: dict[str, int] = field(default_factory=dict)

    def text(self, clark: str) -> str | None:
        element = self.props.get(clark)
        return None if element is None else (element.text or "")

    @property
    def etag(self) -> str | None:
        return self.text(f"{{{DAV}}}getetag")


def _status_code(line: str | None) -> int:
    # "HTTP/1.1 404 Not Found" -> 404
    parts = (line or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 200


def parse_multistatus(body: bytes) -> tuple[list[Entry], str | None]:
    """The responses of a 207 answer and its DAV:sync-token (if any)."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as e:
        raise TransientError(f"Malformed multistatus: {e}", "ErrorMalformedResponse") from e
    entries: list[Entry] = []
    for response in root.iterfind(f"{{{DAV}}}response"):
        href = canonical_path((response.findtext(f"{{{DAV}}}href") or "").strip())
        status = response.findtext(f"{{{DAV}}}status")
        entry = Entry(href, _status_code(status))
        for propstat in response.iterfind(f"{{{DAV}}}propstat"):
            code = _status_code(propstat.findtext(f"{{{DAV}}}status"))
            prop = propstat.find(f"{{{DAV}}}prop")
            for element in prop if prop is not None else ():
                if code == 200:
                    entry.props[element.tag] = element
                else:
                    entry.refused[element.tag] = code
        entries.append(entry)
    return entries, root.findtext(f"{{{DAV}}}sync-token")


def _xml(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _el(parent: etree._Element | None, tag: str, text: str | None = None, **attrs: str):  # type: ignore[no-untyped-def]
    prefix, _, local = tag.partition(":")
    clark = f"{{{NSMAP[prefix]}}}{local}"
    element = (
        etree.Element(clark, nsmap=NSMAP) if parent is None else etree.SubElement(parent, clark)
    )
    for key, value in attrs.items():
        element.set(key.replace("_", "-"), value)
    if text is not None:
        element.text = text
    return element


def _props(parent: etree._Element, data_tag: str | None) -> None:
    prop = _el(parent, "D:prop")
    _el(prop, "D:getetag")
    if data_tag:
        _el(prop, data_tag)


def sync_collection_body(token: str) -> bytes:
    root = _el(None, "D:sync-collection")
    _el(root, "D:sync-token", token)
    _el(root, "D:sync-level", "1")
    _props(root, None)
    return _xml(root)


def multiget_body(kind: str, hrefs: Sequence[str]) -> bytes:
    """addressbook-multiget (kind 'CR') or calendar-multiget (kind 'C') of these hrefs."""
    name = "CR:addressbook-multiget" if kind == "CR" else "C:calendar-multiget"
    root = _el(None, name)
    _props(root, "CR:address-data" if kind == "CR" else "C:calendar-data")
    for href in hrefs:
        _el(root, "D:href", href)
    return _xml(root)


def property_query_body(kind: str, component: str, prop_name: str, value: str | None) -> bytes:
    """Items whose `prop_name` equals `value` (or that have it at all, when value is None)."""
    if kind == "CR":
        root = _el(None, "CR:addressbook-query")
        _props(root, "CR:address-data")
        prop_filter = _el(_el(root, "CR:filter"), "CR:prop-filter", name=prop_name)
        if value is not None:
            _el(prop_filter, "CR:text-match", value, collation="i;octet", match_type="equals")
        return _xml(root)
    root = _el(None, "C:calendar-query")
    _props(root, "C:calendar-data")
    outer = _el(_el(root, "C:filter"), "C:comp-filter", name="VCALENDAR")
    prop_filter = _el(_el(outer, "C:comp-filter", name=component), "C:prop-filter", name=prop_name)
    if value is not None:
        # CalDAV text-match is a substring match: the caller compares exactly.
        _el(prop_filter, "C:text-match", value, collation="i;octet")
    return _xml(root)


def propfind_body(*names: str) -> bytes:
    """A PROPFIND for these properties ("D:getetag", "C:calendar-home-set"...)."""
    root = _el(None, "D:propfind")
    prop = _el(root, "D:prop")
    for name in names:
        _el(prop, name)
    return _xml(root)


def propfind_etags_body() -> bytes:
    return propfind_body("D:getetag", "D:resourcetype")


COLLECTION_PROPS = (
    "D:resourcetype",
    "D:displayname",
    "C:supported-calendar-component-set",
)


@dataclass(frozen=True)
class CollectionInfo:
    """What a PROPFIND says of a collection: its resource types and the components it takes."""

    path: str
    types: frozenset[str]  # local names: collection, addressbook, calendar, principal...
    components: tuple[str, ...]  # supported-calendar-component-set; () = not said (all)
    name: str = ""

    @classmethod
    def of(cls, entry: Entry) -> CollectionInfo:
        rtype = entry.props.get(f"{{{DAV}}}resourcetype")
        types = [etree.QName(e).localname for e in rtype] if rtype is not None else []
        comps = entry.props.get(f"{{{CALDAV}}}supported-calendar-component-set")
        components = [(c.get("name") or "").upper() for c in (comps if comps is not None else [])]
        name = entry.text(f"{{{DAV}}}displayname") or ""
        return cls(entry.href, frozenset(types), tuple(components), name)

    def takes(self, component: str) -> bool:
        return not self.components or component in self.components


def mkcol_body(kind: str, component: str | None = None, name: str = "") -> bytes:
    """Extended MKCOL (RFC 5689) of an address book or a calendar for one component type."""
    root = _el(None, "D:mkcol")
    prop = _el(_el(root, "D:set"), "D:prop")
    resourcetype = _el(prop, "D:resourcetype")
    _el(resourcetype, "D:collection")
    if kind == "CR":
        _el(resourcetype, "CR:addressbook")
    else:
        _el(resourcetype, "C:calendar")
        components = _el(prop, "C:supported-calendar-component-set")
        for comp in (component or "VEVENT").split(","):
            _el(components, "C:comp", name=comp)
    if name:
        _el(prop, "D:displayname", name)
    return _xml(root)


def precondition(body: bytes) -> str:
    """The local name of the first precondition element of a DAV:error body, if any."""
    with contextlib.suppress(etree.XMLSyntaxError, ValueError):
        root = etree.fromstring(body, _PARSER)
        if etree.QName(root).localname == "error" and len(root):
            return etree.QName(root[0]).localname
    return ""


class WebDav:
    """A requests session bound to one server; raises the connector's typed errors."""

    def __init__(
        self,
        url: str,
        *,
        username: str = "",
        password: str = "",
        timeout: float = 60.0,
        max_wait: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.session = requests.Session()
        if username:
            self.session.auth = (username, password)
        self.session.verify = verify
        self.verify = verify
        self.session.headers["User-Agent"] = "syncadmin-dav/1"
        self.timeout = timeout
        self.max_wait = max_wait
        self.requests = 0

    def close(self) -> None:
        self.session.close()

    def absolute(self, href: str) -> str:
        return urljoin(self.url, href)

    def path(self, href: str) -> str:
        """The server-relative path of a URL or href (what multistatus answers carry)."""
        return canonical_path(urlsplit(self.absolute(href)).path)

    def request(
        self,
        method: str,
        href: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: Sequence[int] = (200, 201, 204, 207),
        passthrough: Sequence[int] = (),
        redirects: bool = True,
    ) -> requests.Response:
        """Send one request; statuses in `ok` or `passthrough` are returned, others raise."""
        all_headers = {"Content-Type": "application/xml; charset=utf-8"} if body else {}
        all_headers.update(headers or {})
        waited = 0.0
        while True:
            self.requests += 1
            try:
                response = self.session.request(
                    method,
                    self.absolute(href),
                    data=body,
                    headers=all_headers,
                    timeout=self.timeout,
                    allow_redirects=redirects,
                    # Given on each request: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE
                    # override a session's own `verify` (a CA bundle, or False).
                    verify=self.verify,
                )
            except requests.exceptions.SSLError as e:
                raise self._tls_error(href, e) from e
            except requests.exceptions.RequestException as e:
                raise TransientError(f"{method} {href}: {e}", type(e).__name__) from e
            status = response.status_code
            if status in ok or status in passthrough:
                return response
            if status in (429, 503):
                wait = _retry_after(response)
                if wait is not None and waited + wait <= self.max_wait:
                    time.sleep(wait)
                    waited += wait
                    continue
                raise ThrottledError(
                    f"{method} {href}: HTTP {status}, retry after {wait}s",
                    "ErrorServerBusy",
                    wait=wait,
                )
            raise self._error(method, href, response)

    def _tls_error(self, href: str, error: Exception) -> ConnectorError:
        url = self.absolute(href)
        if "CERTIFICATE_VERIFY_FAILED" in str(error) or "certificate" in str(error).lower():
            bundle = (
                f"the CA bundle {self.verify}" if isinstance(self.verify, str) else "the system CAs"
            )
            return CertificateRefused(
                f"The TLS certificate of {url} could not be verified against {bundle}: give the "
                "profile the CA bundle that signed it (or fix the server's certificate chain). "
                f"Details: {error}",
                "ErrorCertificate",
            )
        return TransientError(f"TLS with {url} failed: {error}", type(error).__name__)

    def _error(self, method: str, href: str, response: requests.Response) -> ConnectorError:
        status = response.status_code
        message = f"{method} {href}: HTTP {status} {response.reason}"
        if status == 401:
            return AuthError(message, "ErrorUnauthorized")
        rule = precondition(response.content)
        if rule == "valid-sync-token":
            return TokenRefused(message, "ErrorInvalidSyncStateData")
        if rule == "supported-report" or (method == "REPORT" and status in (400, 501)):
            return SyncUnsupported(message, "ErrorInvalidOperation")
        if status == 403:
            return AuthError(message, "ErrorAccessDenied")
        if status == 404:
            return ConnectorError(message, "ErrorFolderNotFound")
        if status >= 500:
            return TransientError(message, "ErrorInternalServerError")
        return ConnectorError(message, f"HTTP{status}")

    def report(self, href: str, body: bytes, depth: str = "1") -> tuple[list[Entry], str | None]:
        response = self.request("REPORT", href, body=body, headers={"Depth": depth}, ok=(207,))
        return parse_multistatus(response.content)

    def sync_collection(self, href: str, token: str) -> tuple[list[Entry], str | None]:
        """Changes since `token` ('' = everything), following truncated answers (HTTP 507)."""
        entries: list[Entry] = []
        collection = self.path(href).rstrip("/")
        while True:
            # RFC 6578 3.2: the Depth header of a sync-collection REPORT is 0.
            got, new_token = self.report(href, sync_collection_body(token), depth="0")
            truncated = any(e.status == 507 and e.href.rstrip("/") == collection for e in got)
            entries += [e for e in got if e.href.rstrip("/") != collection]
            if not truncated or not new_token or new_token == token:
                return entries, new_token
            token = new_token

    def propfind_children(self, href: str) -> list[Entry]:
        response = self.request(
            "PROPFIND", href, body=propfind_etags_body(), headers={"Depth": "1"}, ok=(207,)
        )
        entries, _ = parse_multistatus(response.content)
        collection = self.path(href).rstrip("/")
        return [
            e
            for e in entries
            if e.href.rstrip("/") != collection
            and e.props.get(f"{{{DAV}}}resourcetype") is not None
            and not len(e.props[f"{{{DAV}}}resourcetype"])
        ]

    def propfind(self, href: str, names: Sequence[str], depth: str = "0") -> list[Entry]:
        """The answers of a PROPFIND; [] when the resource does not exist (HTTP 404, or a 207
        whose only answer is a 404 inside, as Xandikos says it)."""
        response = self.request(
            "PROPFIND", href, body=propfind_body(*names), headers={"Depth": depth},
            ok=(207,), passthrough=(404,),
        )  # fmt: skip
        if response.status_code == 404:
            return []
        entries, _ = parse_multistatus(response.content)
        return [e for e in entries if e.status < 300]

    def collection(self, href: str) -> CollectionInfo | None:
        """The collection at `href`, or None when nothing is there."""
        # Depth 0 answers for the resource itself (the href may be spelt otherwise).
        for entry in self.propfind(href, COLLECTION_PROPS):
            if f"{{{DAV}}}resourcetype" in entry.props:
                return CollectionInfo.of(entry)
        return None

    def exists(self, href: str) -> bool:
        return self.collection(href) is not None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def chunks(seq: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(seq), size):
        yield seq[start : start + size]
