"""The Graph test server's routing: faults on a request, the mailbox and permission checks, then
the path under /users/{id} matched to one handler per route.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

from .protocol import GraphError, Request
from .store import Mailbox, new_id

_PERMS = {"contacts": "Contacts", "calendar": "Calendars", "tasks": "Tasks", "settings": "Mailbox"}


_RAOP = (
    "Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy "
    "settings."
)


class Routing:
    """Graph requests to handlers: a mixin of GraphServer."""

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


# The paths under /users/{id}: (pattern, methods or None for any, handler).
_ROUTES: list[tuple[re.Pattern, frozenset[str] | None, Callable[..., tuple[int, dict, object]]]] = [
    (re.compile(r"/mailboxSettings"), frozenset({"GET"}), Routing._route_settings),
    (
        re.compile(r"/outlook/masterCategories"),
        frozenset({"GET", "POST"}),
        Routing._route_categories,
    ),
    (
        re.compile(
            r"/contactFolders/(?P<folder>[^/]+)(?P<items>/contacts(?:/(?P<item>delta|[^/]+))?)?"
            r"|(?P<items2>/contacts(?:/(?P<item2>[^/]+))?)"
        ),
        None,
        Routing._route_contacts,
    ),
    (re.compile(r"/calendar"), frozenset({"GET"}), Routing._route_calendar),
    (
        re.compile(r"(/calendar)?/calendarView/delta"),
        frozenset({"GET"}),
        Routing._route_calendar_delta,
    ),
    (
        re.compile(r"(?:/calendar)?/events(?:/([^/]+))?(/instances)?"),
        None,
        Routing._route_events,
    ),
    (re.compile(r"/todo/lists"), frozenset({"GET"}), Routing._route_lists),
    (
        re.compile(
            r"/todo/lists/([^/]+)(/tasks(?:/(delta|[^/]+))?(/linkedResources(?:/([^/]+))?)?)?"
        ),
        None,
        Routing._route_todo,
    ),
]
