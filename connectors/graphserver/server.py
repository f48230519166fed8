"""The Graph test server's HTTP side: Entra's token endpoint, the Graph v1.0 endpoints the Graph
connector uses (contacts, calendarView delta, events, To Do lists and tasks, $batch), every body
checked against the CSDL extract, etags, throttling, and fault injection under /_control/.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import schema
from .auth import GRAPH_RESOURCE, App, Directory, TokenError
from .faults import Faults
from .store import (
    Collection,
    Mailbox,
    Record,
    Store,
    format_local,
    instances,
    new_id,
    now_iso,
    occurrence_starts,
    parse_local,
)

log = logging.getLogger(__name__)

MAX_BATCH = 20
MAX_CONCURRENT = 4  # Outlook's limit per app and mailbox
TYPES = {"contacts": "contact", "calendar": "event", "tasks": "todoTask"}
_PERMS = {"contacts": "Contacts", "calendar": "Calendars", "tasks": "Tasks", "settings": "Mailbox"}
_RAOP = (
    "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy "
    "settings."
)
_EXPAND = re.compile(r"singleValueExtendedProperties\(\$filter=(.*)\)", re.I)
_EXPAND_ID = re.compile(r"id eq '([^']*)'", re.I)
_ANY_EXT = re.compile(
    r"^singleValueExtendedProperties/any\((\w+):\s*\1/id eq '([^']*)' "
    r"and \1/value eq '((?:[^']|'')*)'\)$",
    re.I,
)
_ANY_LINK = re.compile(
    r"^linkedResources/any\((\w+):\s*\1/externalId eq '((?:[^']|'')*)'\)$",
    re.I,
)


# Entra's instance discovery answer (msal asks for it to know the authority's aliases).
INSTANCE_METADATA = {
    "tenant_discovery_endpoint": "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
    "api-version": "1.1",
    "metadata": [
        {
            "preferred_network": "login.microsoftonline.com",
            "preferred_cache": "login.windows.net",
            "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com"],
        }
    ],
}


class GraphError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def body(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {"date": now_iso(), "request-id": new_id()[:36]},
            }
        }


def ext_key(prop_id: str) -> str:
    """Extended property ids as Graph answers them: GUIDs and hex tags in lower case."""
    return re.sub(r"\{[0-9A-Fa-f-]+\}|0x[0-9A-Fa-f]+", lambda m: m.group(0).lower(), prop_id)


def _token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _untoken(text: str) -> dict:
    try:
        return json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, TypeError) as e:
        raise GraphError(400, "badRequest", "The delta token is malformed.") from e


def _html_to_text(markup: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


class Request:
    """One Graph request (outer, or one of a $batch)."""

    def __init__(
        self, method: str, url: str, headers: dict[str, str], body: object, claims: dict
    ) -> None:
        parts = urlsplit(url)
        path = parts.path
        if path.startswith("/v1.0"):
            path = path[len("/v1.0") :]
        self.method = method.upper()
        self.path = unquote(path if path.startswith("/") else "/" + path)
        self.query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body
        self.claims = claims

    def prefer(self, name: str) -> str | None:
        for part in self.headers.get("prefer", "").split(","):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == name.lower():
                return value.strip().strip('"')
        return None


class GraphServer:
    """A stand-in for Microsoft Graph and Entra ID's token endpoint. start() serves in a thread."""

    def __init__(
        self,
        mailboxes: list[str] | None = None,
        *,
        apps: list[App] | None = None,
        store_path: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        validate: bool = True,
        page_size: int = 100,
        token_lifetime: int = 3600,
    ) -> None:
        self.store = Store(store_path)
        for address in mailboxes or []:
            self.store.add_mailbox(address)
        self.directory = Directory(apps, token_lifetime=token_lifetime)
        self.schema = schema.load() if validate else None
        self.page_size = page_size
        self.faults = Faults()
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.violations: list[str] = []
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: Counter[str] = Counter()
        self.expiry: dict[str, str] = {}  # mailbox -> how an expired delta token is answered
        self._occurrences: dict[str, str] = {}  # occurrence id -> series master id
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- life cycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL: Graph under /v1.0, the token endpoint under /{tenant}/oauth2/v2.0."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="graph-test-server", daemon=True
        )
        self._thread.start()
        if self.store.path:
            threading.Thread(target=self._save_loop, name="graph-store-saver", daemon=True).start()
        return self.url

    def serve_forever(self) -> None:
        if self.store.path:
            threading.Thread(target=self._save_loop, name="graph-store-saver", daemon=True).start()
        try:
            self.httpd.serve_forever()
        finally:
            self.store.save()

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.store.save()

    def _save_loop(self) -> None:
        while not self._stopping.wait(1.0):
            if self.store.dirty:
                self.store.save()

    def reset(self) -> None:
        """Forget faults, counters, recorded violations and in-flight peaks (items stay)."""
        self.faults.clear()
        with self.lock:
            self.counts.clear()
            self.violations.clear()
            self.max_in_flight.clear()
            self.expiry.clear()

    def add_app(self, app: App) -> None:
        self.directory.add(app)

    def add_mailbox(self, address: str, time_zone: str = "UTC") -> Mailbox:
        return self.store.add_mailbox(address, time_zone)

    def expire_delta(self, mailbox: str, how: str = "gone") -> None:
        """Make every delta token of the mailbox unknown: `gone` (410), `syncStateNotFound`
        or `resyncRequired`."""
        box = self._box(mailbox)
        with self.store.lock:
            box.generation += 1
        self.expiry[mailbox.lower()] = how

    def count(self, key: str) -> int:
        with self.lock:
            return self.counts[key]

    def _count(self, *keys: str) -> None:
        with self.lock:
            for key in keys:
                self.counts[key] += 1

    # -- control API ---------------------------------------------------------------------------
    def control(self, action: str, payload: dict) -> dict:
        if action == "stats":
            with self.lock:
                return {
                    "counts": dict(self.counts),
                    "violations": list(self.violations),
                    "max_in_flight": dict(self.max_in_flight),
                }
        if action == "reset":
            self.reset()
            return {"ok": True}
        if action == "mailbox":
            self.add_mailbox(payload["address"], payload.get("time_zone", "UTC"))
            return {"ok": True}
        if action == "app":
            perms = payload.pop("permissions", None)
            scope = payload.pop("mailboxes", None)
            app = App(**payload)
            if perms is not None:
                app.permissions = set(perms)
            if scope is not None:
                app.mailboxes = {m.lower() for m in scope}
            self.add_app(app)
            return {"ok": True}
        if action == "expire_delta":
            self.expire_delta(payload["mailbox"], payload.get("how", "gone"))
            return {"ok": True}
        methods: dict[str, Callable[..., None]] = {
            "throttle": self.faults.throttle,
            "batch_throttle": self.faults.batch_throttle,
            "item_error": self.faults.item_error,
            "garbage": self.faults.garbage,
            "delay": self.faults.delay,
            "delta_empty": self.faults.delta_empty,
            "delta_replay": self.faults.delta_replay,
        }
        if action not in methods:
            raise KeyError(action)
        methods[action](**payload)
        return {"ok": True}

    # -- schema --------------------------------------------------------------------------------
    def check_request(self, type_name: str, body: object) -> None:
        if self.schema is None:
            return
        errors = self.schema.errors(type_name, body)
        if errors:
            raise GraphError(400, "RequestBodyRead", "; ".join(errors))

    def checked(self, type_name: str, body: dict) -> dict:
        """A response body, its schema violations recorded (tests fail on them)."""
        if self.schema is not None:
            errors = self.schema.errors(type_name, body)
            if errors:
                with self.lock:
                    self.violations.extend(errors)
                log.error("Graph test server answer breaks the schema: %s", errors)
        return body

    # -- token endpoint ------------------------------------------------------------------------
    def handle_token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict]:
        self._count("token")
        try:
            return 200, self.directory.token(tenant, form, _audience(form.get("scope", "")))
        except TokenError as e:
            return e.status, e.body()

    def handle_openid(self, tenant: str) -> tuple[int, dict]:
        try:
            return 200, self.directory.openid_configuration(tenant, "login.microsoftonline.com")
        except TokenError as e:
            return e.status, e.body()

    def authenticate(self, header: str) -> dict:
        if not header.startswith("Bearer "):
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token is empty.",
                {"WWW-Authenticate": "Bearer"},
            )
        claims = self.directory.verify(header[7:], GRAPH_RESOURCE)
        if claims is None:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
                {"WWW-Authenticate": "Bearer"},
            )
        return claims

    # -- dispatch ------------------------------------------------------------------------------
    def handle(self, req: Request) -> tuple[int, dict[str, str], object]:
        """One Graph request: (status, headers, JSON body or None)."""
        target = f"{req.method} {req.path}"
        try:
            rule = self.faults.take("delay", target)
            if rule:
                time.sleep(float(rule.params["seconds"]))
            rule = self.faults.take("item_error", target) or (
                self.faults.take("item_error", json.dumps(req.body)) if req.body else None
            )
            if rule:
                raise GraphError(
                    int(rule.params["status"]), rule.params["code"], rule.params["message"]
                )
            if self.faults.take("garbage", target):
                return 200, {}, "<html>Gateway says hello</html>"
            status, headers, body = self._route(req)
            return status, headers, body
        except GraphError as e:
            return e.status, e.headers, e.body()

    def _route(self, req: Request) -> tuple[int, dict[str, str], object]:
        m = re.match(r"^/users/([^/]+)(/.*)?$", req.path)
        if not m:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{req.path}'.")
        address, rest = m.group(1).strip("'"), m.group(2) or ""
        area = (
            "contacts"
            if rest.startswith(("/contactFolders", "/contacts"))
            else "calendar"
            if rest.startswith(("/calendar", "/events"))
            else "tasks"
            if rest.startswith("/todo")
            else "settings"
        )
        self._authorize(req, address, area)
        box = self.store.mailbox(address)
        if box is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{address}' is invalid.")
        self._count(f"{req.method} {area}")
        with self.store.lock:
            return self._dispatch(req, box, rest)

    def _authorize(self, req: Request, address: str, area: str) -> None:
        claims = req.claims
        app = self.directory.app(claims.get("tid", ""), claims.get("appid", ""))
        roles = set(claims.get("roles") or [])
        prefix = _PERMS[area]
        write = req.method != "GET"
        suffix = ".All" if area == "tasks" else ""
        wanted = {f"{prefix}.ReadWrite{suffix}"} | (set() if write else {f"{prefix}.Read{suffix}"})
        if area == "settings":
            wanted = {"MailboxSettings.ReadWrite"} | (set() if write else {"MailboxSettings.Read"})
        if not roles & wanted:
            raise GraphError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        scope = app.mailboxes if app is not None else None
        if scope is not None and area != "tasks" and address.lower() not in scope:
            raise GraphError(403, "ErrorAccessDenied", _RAOP)

    def _dispatch(self, req: Request, box: Mailbox, rest: str) -> tuple[int, dict, object]:
        for pattern, methods, handler in _ROUTES:
            m = pattern.fullmatch(rest)
            if m and (methods is None or req.method in methods):
                return handler(self, req, box, m)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest}'.")

    # -- one handler per route: (server, request, mailbox, the path's match) ------------------
    def _route_settings(self, req: Request, box: Mailbox, m: re.Match) -> tuple[int, dict, object]:
        return 200, {}, self.checked("mailboxSettings", {"timeZone": box.time_zone})

    def _route_categories(
        self, req: Request, box: Mailbox, m: re.Match
    ) -> tuple[int, dict, object]:
        if req.method == "GET":
            return 200, {}, {"value": [self.checked("outlookCategory", c) for c in box.categories]}
        self.check_request("outlookCategory", req.body)
        body = dict(req.body) | {"id": new_id()[:36]}  # type: ignore[arg-type]
        body.setdefault("color", "preset0")
        if any(c["displayName"] == body.get("displayName") for c in box.categories):
            raise GraphError(409, "ErrorDuplicateItem", "The category already exists.")
        box.categories.append(body)
        return 201, {}, self.checked("outlookCategory", body)

    def _route_contacts(self, req: Request, box: Mailbox, m: re.Match) -> tuple[int, dict, object]:
        coll = box.collections["contacts"]
        folder = m.group("folder") or ""
        if folder not in ("", "contacts", coll.id):
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if not (m.group("items") or m.group("items2")):
            return 200, {}, self.checked("contactFolder", {"id": coll.id, "displayName": coll.name})
        return self._items(req, box, coll, m.group("item") or m.group("item2"))

    def _route_calendar(self, req: Request, box: Mailbox, m: re.Match) -> tuple[int, dict, object]:
        coll = box.collections["calendar"]
        body = {"id": coll.id, "name": coll.name, "canEdit": True, "isDefaultCalendar": True}
        return 200, {}, self.checked("calendar", body)

    def _route_calendar_delta(
        self, req: Request, box: Mailbox, m: re.Match
    ) -> tuple[int, dict, object]:
        return self._calendar_delta(req, box, box.collections["calendar"])

    def _route_events(self, req: Request, box: Mailbox, m: re.Match) -> tuple[int, dict, object]:
        if m.group(2):
            return self._instances(req, box, m.group(1))
        return self._items(req, box, box.collections["calendar"], m.group(1))

    def _route_lists(self, req: Request, box: Mailbox, m: re.Match) -> tuple[int, dict, object]:
        coll = box.collections["tasks"]
        return 200, {}, {"value": [self.checked("todoTaskList", self._list_body(coll))]}

    def _route_todo(self, req: Request, box: Mailbox, m: re.Match) -> tuple[int, dict, object]:
        coll = box.collections["tasks"]
        if m.group(1) != coll.id:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if not m.group(2):
            return 200, {}, self.checked("todoTaskList", self._list_body(coll))
        if m.group(4):
            return self._links(req, box, coll, m.group(3), m.group(5))
        return self._items(req, box, coll, m.group(3))

    @staticmethod
    def _list_body(coll: Collection) -> dict:
        return {
            "id": coll.id,
            "displayName": coll.name,
            "isOwner": True,
            "isShared": False,
            "wellknownListName": "defaultList",
        }

    # -- items ---------------------------------------------------------------------------------
    def _items(
        self, req: Request, box: Mailbox, coll: Collection, item: str | None
    ) -> tuple[int, dict, object]:
        method = req.method
        if item == "delta" and method == "GET":
            return self._delta(req, box, coll)
        if item is None:
            if method == "POST":
                return self._create(req, box, coll)
            if method == "GET":
                return self._list(req, box, coll)
            raise GraphError(405, "ErrorInvalidRequest", f"{method} is not allowed here.")
        occurrence = coll.kind == "calendar" and item not in coll.records
        if occurrence and item in self._occurrences and method == "GET":
            return self._occurrence(req, box, coll, item)
        record = coll.records.get(item)
        if record is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if method == "GET":
            return 200, {"ETag": record.etag}, self.render(req, coll, record)
        match = req.headers.get("if-match")
        if match and match != "*" and match != record.etag:
            raise GraphError(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )
        if method == "DELETE":
            self._delete(box, coll, record)
            return 204, {}, None
        if method == "PATCH":
            self._update(req, box, coll, record)
            return 200, {"ETag": record.etag}, self.render(req, coll, record)
        raise GraphError(405, "ErrorInvalidRequest", f"{method} is not allowed here.")

    def _create(self, req: Request, box: Mailbox, coll: Collection) -> tuple[int, dict, object]:
        type_name = TYPES[coll.kind]
        self.check_request(type_name, req.body)
        body = dict(req.body)  # type: ignore[arg-type]
        if coll.kind == "calendar" and body.get("transactionId"):
            for rec in coll.records.values():
                if rec.transaction_id == body["transactionId"]:
                    return 201, {"ETag": rec.etag}, self.render(req, coll, rec)
        record = Record(new_id(), {})
        self._apply(box, coll, record, body, creating=True)
        if coll.kind == "calendar":
            record.transaction_id = body.get("transactionId")
            record.data.setdefault(
                "organizer", {"emailAddress": {"address": box.address, "name": box.address}}
            )
        coll.records[record.id] = record
        self.store.touch(box, record)
        return 201, {"ETag": record.etag}, self.render(req, coll, record)

    def _update(self, req: Request, box: Mailbox, coll: Collection, record: Record) -> None:
        self.check_request(TYPES[coll.kind], req.body)
        before = self._instance_ids(record) if coll.kind == "calendar" else set()
        self._apply(box, coll, record, dict(req.body), creating=False)  # type: ignore[arg-type]
        self.store.touch(box, record)
        if coll.kind == "calendar":
            for gone in before - self._instance_ids(record):
                coll.tombstones[gone] = record.seq

    def _apply(
        self, box: Mailbox, coll: Collection, record: Record, body: dict, *, creating: bool
    ) -> None:
        for prop in ("id", "changeKey", "createdDateTime", "lastModifiedDateTime", "@odata.etag"):
            body.pop(prop, None)
        self._apply_extras(coll, record, body, creating=creating)
        data = dict(record.data) if not creating else {}
        if coll.kind == "contacts" and "emailAddresses" in body:
            addresses = body.pop("emailAddresses") or []
            for i, name in enumerate(
                ("primaryEmailAddress", "secondaryEmailAddress", "tertiaryEmailAddress")
            ):
                body[name] = addresses[i] if i < len(addresses) else None
        for key, value in body.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        self._complete(coll, data, body)
        record.data = data

    def _apply_extras(
        self, coll: Collection, record: Record, body: dict, *, creating: bool
    ) -> None:
        """Takes the extended properties and linked resources out of the body into the record."""
        for ext in body.pop("singleValueExtendedProperties", None) or []:
            if ext.get("value") is None:
                raise GraphError(400, "ErrorInvalidProperty", "An extended property needs a value.")
            record.ext[ext_key(ext["id"])] = ext["value"]
        links = body.pop("linkedResources", None)
        if links:
            if coll.kind != "tasks" or not creating:
                raise GraphError(400, "BadRequest", "linkedResources cannot be set here.")
            for link in links:
                self.check_request("linkedResource", link)
                record.links.append(dict(link) | {"id": new_id()[:36]})

    def _complete(self, coll: Collection, data: dict, body: dict) -> None:
        """What Graph derives or checks once the body is applied, per kind of item."""
        if coll.kind == "calendar":
            self._check_event(data)
        if coll.kind == "tasks":
            if data.get("status") == "completed" and "completedDateTime" not in data:
                data["completedDateTime"] = format_local(datetime.now(UTC), "UTC")
            if "body" in body:
                data["bodyLastModifiedDateTime"] = now_iso()
        if coll.kind == "contacts" and not data.get("displayName"):
            names = [data.get(k) for k in ("givenName", "middleName", "surname")]
            data["displayName"] = " ".join(n for n in names if n)

    @staticmethod
    def _check_event(data: dict) -> None:
        if "start" not in data or "end" not in data:
            raise GraphError(
                400, "ErrorPropertyValidationFailure", "An event needs a start and an end."
            )
        try:
            start, end = parse_local(data["start"]), parse_local(data["end"])
        except ValueError as e:
            raise GraphError(400, "ErrorTimeZoneNotSupported", str(e)) from e
        if end < start:
            raise GraphError(400, "ErrorPropertyValidationFailure", "The end is before the start.")
        if data.get("isAllDay") and (
            start.time() != datetime.min.time() or end.time() != datetime.min.time()
        ):
            raise GraphError(
                400,
                "ErrorPropertyValidationFailure",
                "All-day events must start and end at midnight.",
            )
        if data.get("recurrence"):
            try:
                occurrence_starts(data, start + timedelta(days=400), limit=3)
            except (KeyError, ValueError, TypeError) as e:
                raise GraphError(
                    400, "ErrorPropertyValidationFailure", f"Invalid recurrence: {e}"
                ) from e

    def _delete(self, box: Mailbox, coll: Collection, record: Record) -> None:
        gone = self._instance_ids(record) if coll.kind == "calendar" else {record.id}
        del coll.records[record.id]
        seq = box.next_seq()
        for item_id in gone | {record.id}:
            coll.tombstones[item_id] = seq
        self.store.dirty = True

    def _instance_ids(self, record: Record) -> set[str]:
        now = datetime.now(UTC)
        found = instances(record, now - timedelta(days=800), now + timedelta(days=1900))
        for occ_id, _ in found:
            if occ_id != record.id:
                self._occurrences[occ_id] = record.id
        return {i for i, _ in found}

    def _list(self, req: Request, box: Mailbox, coll: Collection) -> tuple[int, dict, object]:
        text = (req.query.get("$filter") or "").strip()
        records = list(coll.records.values())
        if text:
            m_ext, m_link = _ANY_EXT.match(text), _ANY_LINK.match(text)
            if m_ext and coll.kind != "tasks":
                key, value = ext_key(m_ext.group(2)).lower(), m_ext.group(3).replace("''", "'")
                records = [
                    r
                    for r in records
                    if any(k.lower() == key and v == value for k, v in r.ext.items())
                ]
            elif m_link and coll.kind == "tasks":
                value = m_link.group(2).replace("''", "'")
                records = [r for r in records if any(x.get("externalId") == value for x in r.links)]
            else:
                raise GraphError(
                    400, "ErrorInvalidUrlQueryFilter", f"The $filter '{text}' is not supported."
                )
        records.sort(key=lambda r: r.seq)
        top = int(req.query.get("$top") or self.page_size)
        skip = int(req.query.get("$skip") or 0)
        page = records[skip : skip + top]
        body: dict = {"value": [self.render(req, coll, r) for r in page]}
        if skip + top < len(records):
            body["@odata.nextLink"] = self._link(req, {"$skip": str(skip + top)})
        return 200, {}, body

    def _link(self, req: Request, params: dict[str, str]) -> str:
        query = dict(req.query) | params
        text = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        return f"{self.graph_url}{req.path}?{text}"

    # -- rendering -----------------------------------------------------------------------------
    def render(
        self, req: Request, coll: Collection, record: Record, *, delta: bool = False
    ) -> dict:
        type_name = TYPES[coll.kind]
        data = record.data
        body: dict = {"@odata.etag": record.etag, "id": record.id}
        body["createdDateTime"] = record.created
        body["lastModifiedDateTime"] = record.modified
        if coll.kind != "tasks":
            body["changeKey"] = record.change_key
            body["categories"] = list(data.get("categories") or [])
        for key, value in data.items():
            if key == "categories" and coll.kind != "tasks":
                continue
            body[key] = value
        if coll.kind == "contacts":
            body["parentFolderId"] = coll.id
            body["emailAddresses"] = [
                data[k]
                for k in ("primaryEmailAddress", "secondaryEmailAddress", "tertiaryEmailAddress")
                if data.get(k)
            ]
        elif coll.kind == "calendar":
            self._render_event(req, body, data)
            body["type"] = "seriesMaster" if data.get("recurrence") else "singleInstance"
            if record.transaction_id:
                body["transactionId"] = record.transaction_id
        else:
            body.setdefault("status", "notStarted")
            body.setdefault("importance", "normal")
            body.setdefault("isReminderOn", False)
            body.setdefault("bodyLastModifiedDateTime", record.created)
            body.setdefault("categories", [])
            if "body" in body:
                body["body"] = self._body(req, body["body"])
            if "linkedresources" in (req.query.get("$expand") or "").lower():
                body["linkedResources"] = [dict(x) for x in record.links]
        if not delta:
            wanted = self._expanded(req)
            if wanted is not None:
                body["singleValueExtendedProperties"] = [
                    {"id": k, "value": v}
                    for k, v in record.ext.items()
                    if wanted == {"*"} or k.lower() in wanted
                ]
        return self.checked(type_name, self._select(req, body))

    @staticmethod
    def _expanded(req: Request) -> set[str] | None:
        text = req.query.get("$expand") or ""
        m = _EXPAND.search(text)
        if m:
            return {ext_key(i).lower() for i in _EXPAND_ID.findall(m.group(1))}
        if "singlevalueextendedproperties" in text.lower():
            return {"*"}
        return None

    @staticmethod
    def _select(req: Request, body: dict) -> dict:
        select = req.query.get("$select")
        if not select:
            return body
        keep = {s.strip() for s in select.split(",")} | {"id", "singleValueExtendedProperties"}
        return {k: v for k, v in body.items() if k in keep or k.startswith("@")}

    def _render_event(self, req: Request, body: dict, data: dict) -> None:
        tz_name = req.prefer("outlook.timezone") or "UTC"
        if data.get("isAllDay"):
            # All-day events are floating dates: the day, whatever the zone asked for.
            for key in ("start", "end"):
                body[key] = {
                    "dateTime": data[key]["dateTime"][:10] + "T00:00:00.0000000",
                    "timeZone": tz_name,
                }
        else:
            for key in ("start", "end"):
                body[key] = format_local(parse_local(data[key]), tz_name)
        if "body" in data:
            body["body"] = self._body(req, data["body"])

    @staticmethod
    def _body(req: Request, value: dict) -> dict:
        want = (req.prefer("outlook.body-content-type") or "html").lower()
        content = value.get("content") or ""
        is_html = (value.get("contentType") or "text").lower() == "html"
        if want == "text":
            return {
                "contentType": "text",
                "content": _html_to_text(content) if is_html else content,
            }
        if not is_html:
            content = f"<html><body>{html.escape(content)}</body></html>"
        return {"contentType": "html", "content": content}

    # -- delta ---------------------------------------------------------------------------------
    def _state(self, req: Request, box: Mailbox) -> dict | None:
        raw = req.query.get("$deltatoken") or req.query.get("$skiptoken")
        if raw is None:
            return None
        state = _untoken(raw)
        if state.get("g") != box.generation:
            how = self.expiry.get(box.address.lower(), "gone")
            if how == "gone":
                raise GraphError(
                    410,
                    "SyncStateNotFound",
                    "The sync state generation is not found. Resync from the start.",
                    {"Location": f"{self.graph_url}{req.path}"},
                )
            raise GraphError(400, how, "The delta token has expired or is no longer valid.")
        return state

    def _page_size(self, req: Request) -> int:
        text = req.prefer("odata.maxpagesize")
        return max(1, min(int(text), 1000)) if text and text.isdigit() else self.page_size

    def _delta(self, req: Request, box: Mailbox, coll: Collection) -> tuple[int, dict, object]:
        self._count("delta")
        state = self._state(req, box)
        low = state["w"] if state else 0
        high = state.get("t") if state and state.get("t") is not None else box.seq
        offset = state.get("o", 0) if state else 0
        entries: list[tuple[int, str, Record | None]] = [
            (r.seq, r.id, r) for r in coll.records.values() if low < r.seq <= high
        ]
        if low:
            entries += [(s, i, None) for i, s in coll.tombstones.items() if low < s <= high]
        entries.sort(key=lambda e: (e[0], e[1]))

        def rendered(entry: tuple[int, str, Record | None]) -> dict:
            _, item_id, rec = entry
            if rec is None:
                return {"id": item_id, "@removed": {"reason": "deleted"}}
            return self.render(req, coll, rec, delta=True)

        # Only the page asked for is rendered (and checked): paging stays linear.
        values = _Rendered(entries, rendered)
        return self._delta_answer(req, box, values, low, high, offset, coll, {})

    def _delta_answer(
        self,
        req: Request,
        box: Mailbox,
        values: Sequence[dict],
        low: int,
        high: int,
        offset: int,
        coll: Collection,
        extra: dict,
    ) -> tuple[int, dict, object]:
        size = self._page_size(req)
        base = {"g": box.generation, **extra}
        if self.faults.take("delta_empty"):
            link = f"{self.graph_url}{req.path}?$skiptoken=" + _token(
                base | {"w": low, "t": high, "o": offset}
            )
            return 200, {}, {"value": [], "@odata.nextLink": link}
        page = list(values[offset : offset + size])
        rule = self.faults.take("delta_replay")
        if rule and low:
            seen = [r for r in coll.records.values() if r.seq <= low][: int(rule.params["items"])]
            page = [self.render(req, coll, r, delta=True) for r in seen] + page
        body: dict = {"value": page}
        if offset + size < len(values):
            body["@odata.nextLink"] = f"{self.graph_url}{req.path}?$skiptoken=" + _token(
                base | {"w": low, "t": high, "o": offset + size}
            )
        else:
            body["@odata.deltaLink"] = f"{self.graph_url}{req.path}?$deltatoken=" + _token(
                base | {"w": high}
            )
        return 200, {}, body

    def _calendar_delta(
        self, req: Request, box: Mailbox, coll: Collection
    ) -> tuple[int, dict, object]:
        self._count("delta")
        state = self._state(req, box)
        if state is None:
            try:
                start = datetime.fromisoformat(req.query["startDateTime"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(req.query["endDateTime"].replace("Z", "+00:00"))
            except (KeyError, ValueError) as e:
                raise GraphError(
                    400,
                    "ErrorInvalidParameter",
                    "This request requires a time window specified by the query string "
                    "parameters StartDateTime and EndDateTime.",
                ) from e
            if start.tzinfo is None or end.tzinfo is None:
                start, end = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
        else:
            start, end = datetime.fromisoformat(state["s"]), datetime.fromisoformat(state["e"])
        low = state["w"] if state else 0
        high = state.get("t") if state and state.get("t") is not None else box.seq
        offset = state.get("o", 0) if state else 0
        entries: list[tuple[int, str, dict | None]] = []
        tz_req = req.prefer("outlook.timezone") or "UTC"
        for rec in coll.records.values():
            if not low < rec.seq <= high:
                continue
            full = self.render(req, coll, rec, delta=True)
            for inst_id, inst in instances(rec, start, end):
                if inst_id == rec.id:
                    entries.append((rec.seq, inst_id, full))
                    continue
                self._occurrences[inst_id] = rec.id
                occ = dict(full) | {
                    "id": inst_id,
                    "type": "occurrence",
                    "seriesMasterId": rec.id,
                    "originalStart": inst["originalStart"],
                    "start": format_local(parse_local(inst["start"]), tz_req),
                    "end": format_local(parse_local(inst["end"]), tz_req),
                }
                occ.pop("recurrence", None)
                entries.append((rec.seq, inst_id, self.checked("event", occ)))
        if low:
            entries += [(s, i, None) for i, s in coll.tombstones.items() if low < s <= high]
        entries.sort(key=lambda e: (e[0], e[1]))
        values = [
            value if value is not None else {"id": item_id, "@removed": {"reason": "deleted"}}
            for _, item_id, value in entries
        ]
        window = {"s": start.isoformat(), "e": end.isoformat()}
        return self._delta_answer(req, box, values, low, high, offset, coll, window)

    def _occurrence(
        self, req: Request, box: Mailbox, coll: Collection, occ_id: str
    ) -> tuple[int, dict, object]:
        master = coll.records.get(self._occurrences[occ_id])
        found = None
        if master is not None:
            now = datetime.now(UTC)
            found = next(
                (
                    d
                    for i, d in instances(
                        master, now - timedelta(days=800), now + timedelta(days=1900)
                    )
                    if i == occ_id
                ),
                None,
            )
        if master is None or found is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        body = self.render(req, coll, master) | {
            "id": occ_id,
            "type": "occurrence",
            "seriesMasterId": master.id,
        }
        body.pop("recurrence", None)
        return 200, {}, self.checked("event", body)

    def _instances(
        self, req: Request, box: Mailbox, master_id: str | None
    ) -> tuple[int, dict, object]:
        master = box.collections["calendar"].records.get(master_id or "")
        if master is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        try:
            start = datetime.fromisoformat(req.query["startDateTime"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(req.query["endDateTime"].replace("Z", "+00:00"))
        except (KeyError, ValueError) as e:
            raise GraphError(
                400, "ErrorInvalidParameter", "startDateTime and endDateTime are required."
            ) from e
        out = []
        for inst_id, inst in instances(master, start, end):
            body = {k: v for k, v in inst.items() if k != "recurrence"} | {"id": inst_id}
            self._render_event(req, body, inst)
            out.append(self.checked("event", body))
        return 200, {}, {"value": out}

    # -- To Do linked resources ----------------------------------------------------------------
    def _links(
        self, req: Request, box: Mailbox, coll: Collection, task_id: str | None, link_id: str | None
    ) -> tuple[int, dict, object]:
        record = coll.records.get(task_id or "")
        if record is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if req.method == "GET" and link_id is None:
            return (
                200,
                {},
                {"value": [self.checked("linkedResource", dict(x)) for x in record.links]},
            )
        if req.method == "POST" and link_id is None:
            self.check_request("linkedResource", req.body)
            link = dict(req.body) | {"id": new_id()[:36]}  # type: ignore[arg-type]
            record.links.append(link)
            self.store.touch(box, record)
            return 201, {}, self.checked("linkedResource", link)
        link = next((x for x in record.links if x["id"] == link_id), None)
        if link is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if req.method == "PATCH":
            self.check_request("linkedResource", req.body)
            link.update(req.body)  # type: ignore[arg-type]
            self.store.touch(box, record)
            return 200, {}, self.checked("linkedResource", dict(link))
        if req.method == "DELETE":
            record.links.remove(link)
            self.store.touch(box, record)
            return 204, {}, None
        raise GraphError(405, "ErrorInvalidRequest", f"{req.method} is not allowed here.")

    # -- $batch --------------------------------------------------------------------------------
    def handle_batch(self, body: object, claims: dict) -> tuple[int, dict, object]:
        self._count("batch")
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_BATCH:
            raise GraphError(
                400,
                "BadRequest",
                f"Number of batch request steps exceeds the maximum of {MAX_BATCH}.",
            )
        ids = [str(r.get("id")) for r in requests]
        if len(set(ids)) != len(ids):
            raise GraphError(400, "BadRequest", "Batch request ids must be unique.")
        status_by_id: dict[str, int] = {}
        answers = []
        for index, raw in enumerate(requests):
            rid = str(raw.get("id"))
            depends = raw.get("dependsOn") or []
            self._count(f"inner {str(raw.get('method', 'GET')).upper()}")
            if any(status_by_id.get(str(d), 500) >= 400 for d in depends):
                status, headers, answer = (
                    424,
                    {},
                    GraphError(
                        424, "FailedDependency", "A request this one depends on failed."
                    ).body(),
                )
            elif rule := self.faults.take_index("batch_throttle", index):
                retry = rule.params["retry_after"]
                status, headers = 429, {"Retry-After": str(retry)}
                answer = GraphError(
                    429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit."
                ).body()
            else:
                req = Request(
                    str(raw.get("method", "GET")),
                    str(raw.get("url", "")),
                    dict(raw.get("headers") or {}),
                    raw.get("body"),
                    claims,
                )
                status, headers, answer = self.handle(req)
            status_by_id[rid] = status
            entry: dict = {"id": rid, "status": status, "headers": dict(headers)}
            if answer is not None:
                entry["body"] = answer
                entry["headers"].setdefault("Content-Type", "application/json")
            answers.append(entry)
        answers.reverse()  # Graph answers in any order: clients must match by id
        return 200, {}, {"responses": answers}

    def _box(self, address: str) -> Mailbox:
        box = self.store.mailbox(address)
        if box is None:
            raise KeyError(address)
        return box

    # -- concurrency ---------------------------------------------------------------------------
    def enter(self, mailbox: str) -> bool:
        with self.lock:
            self.in_flight[mailbox] += 1
            self.max_in_flight[mailbox] = max(self.max_in_flight[mailbox], self.in_flight[mailbox])
            return self.in_flight[mailbox] <= MAX_CONCURRENT

    def leave(self, mailbox: str) -> None:
        with self.lock:
            self.in_flight[mailbox] -= 1


# The paths under /users/{id}: (pattern, methods or None for any, handler).
_ROUTES: list[tuple[re.Pattern, frozenset[str] | None, Callable[..., tuple[int, dict, object]]]] = [
    (re.compile(r"/mailboxSettings"), frozenset({"GET"}), GraphServer._route_settings),
    (
        re.compile(r"/outlook/masterCategories"),
        frozenset({"GET", "POST"}),
        GraphServer._route_categories,
    ),
    (
        re.compile(
            r"/contactFolders/(?P<folder>[^/]+)(?P<items>/contacts(?:/(?P<item>delta|[^/]+))?)?"
            r"|(?P<items2>/contacts(?:/(?P<item2>[^/]+))?)"
        ),
        None,
        GraphServer._route_contacts,
    ),
    (re.compile(r"/calendar"), frozenset({"GET"}), GraphServer._route_calendar),
    (
        re.compile(r"(/calendar)?/calendarView/delta"),
        frozenset({"GET"}),
        GraphServer._route_calendar_delta,
    ),
    (
        re.compile(r"(?:/calendar)?/events(?:/([^/]+))?(/instances)?"),
        None,
        GraphServer._route_events,
    ),
    (re.compile(r"/todo/lists"), frozenset({"GET"}), GraphServer._route_lists),
    (
        re.compile(
            r"/todo/lists/([^/]+)(/tasks(?:/(delta|[^/]+))?(/linkedResources(?:/([^/]+))?)?)?"
        ),
        None,
        GraphServer._route_todo,
    ),
]


class _Rendered(Sequence):
    """A delta's entries, rendered when a page of them is taken."""

    def __init__(self, entries: list, render: Callable[[Any], dict]) -> None:
        self.entries, self.render = entries, render

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        if isinstance(index, slice):
            return [self.render(e) for e in self.entries[index]]
        return self.render(self.entries[index])


def _audience(scope: str) -> str:
    """The resource a client-credentials scope asks for (…/.default): Graph's, or another's
    (EWS: https://outlook.office365.com, or an on-premises server's origin)."""
    for part in scope.split():
        if part.endswith("/.default"):
            return part[: -len("/.default")].rstrip("/")
    return GRAPH_RESOURCE


def _mailbox_of(path: str, body: object) -> str:
    if path.rstrip("/").endswith("$batch") and isinstance(body, dict):
        first = (body.get("requests") or [{}])[0]
        path = "/v1.0" + str(first.get("url", "")) if isinstance(first, dict) else ""
    m = re.match(r"^/v1\.0/users/([^/?]+)", path)
    return unquote(m.group(1)).lower() if m else ""


class _Handler(BaseHTTPRequestHandler):
    """One HTTP request; `graph` (the GraphServer) is bound per server by `_make_handler`."""

    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes: with Nagle's algorithm on, the body waits
    # for the client's delayed ACK of the headers (40 ms on Linux), on every answer.
    disable_nagle_algorithm = True
    graph: GraphServer

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: object, headers: dict | None = None) -> None:
        raw = (
            b""
            if body is None
            else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        self.send_response(status)
        if body is not None:
            ctype = "text/html" if isinstance(body, str) else "application/json"
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        raw = self._read()
        path = urlsplit(self.path).path
        if self._handle_outside_graph(method, path, raw):
            return
        if not path.startswith("/v1.0/"):
            self._send(404, {"error": {"code": "NotFound", "message": "Not found"}})
            return
        self.graph._count("http")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(
                400,
                GraphError(400, "BadRequest", "Unable to read JSON request payload.").body(),
            )
            return
        if self._throttled(f"{method} {path}"):
            return
        self._handle_graph(method, path, body)

    def _handle_outside_graph(self, method: str, path: str, raw: bytes) -> bool:
        """The control endpoints and the identity platform's; True when answered."""
        server = self.graph
        if path.startswith("/_control/"):
            try:
                payload = json.loads(raw or b"{}")
                result = server.control(path[len("/_control/") :].strip("/"), payload)
            except (KeyError, TypeError, ValueError) as e:
                self._send(400, {"error": str(e)})
                return True
            self._send(200, result)
            return True
        if path == "/common/discovery/instance" and method == "GET":
            self._send(200, INSTANCE_METADATA)
            return True
        m = re.fullmatch(r"/([^/]+)/v2\.0/\.well-known/openid-configuration", path)
        if m and method == "GET":
            self._send(*server.handle_openid(m.group(1)))
            return True
        m = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", path)
        if m and method == "POST":
            form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
            self._send(*server.handle_token(m.group(1), form))
            return True
        return False

    def _throttled(self, target: str) -> bool:
        """An injected throttle fault for this request: answered with 429/503."""
        rule = self.graph.faults.take("throttle", target)
        if not rule:
            return False
        retry = rule.params.get("retry_after")
        headers = {"Retry-After": str(retry)} if retry is not None else {}
        code = "TooManyRequests" if rule.params["status"] == 429 else "ServiceUnavailable"
        self._send(
            int(rule.params["status"]),
            GraphError(429, code, "Too many requests.").body(),
            headers,
        )
        return True

    def _handle_graph(self, method: str, path: str, body: object) -> None:
        server = self.graph
        mailbox = _mailbox_of(path, body)
        allowed = server.enter(mailbox)
        try:
            if not allowed:
                server._count("concurrency_refused")
                err = GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "1"},
                )
                self._send(429, err.body(), err.headers)
                return
            try:
                claims = server.authenticate(self.headers.get("Authorization", ""))
                if path.rstrip("/") == "/v1.0/$batch" and method == "POST":
                    status, headers, answer = server.handle_batch(body, claims)
                else:
                    req = Request(method, self.path, dict(self.headers), body, claims)
                    status, headers, answer = server.handle(req)
            except GraphError as e:
                status, headers, answer = e.status, e.headers, e.body()
            self._send(status, answer, headers)
        finally:
            server.leave(mailbox)


def _make_handler(server: GraphServer) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"graph": server})
