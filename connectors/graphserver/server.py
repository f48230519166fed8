"""The Graph test server: GraphServer, a stand-in for Microsoft Graph v1.0 and Entra's token
endpoint, put together from the modules of this package; its state, controls and schema checks.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ..serving import ServedServer
from . import schema
from .auth import App, Directory
from .batch import Batch
from .delta import Delta
from .events import Events
from .faults import Faults
from .handler import make_handler
from .items import Items
from .protocol import GraphError
from .render import Rendering
from .routes import Routing
from .signin import SignIn
from .store import Mailbox, Store
from .todo import Todo

log = logging.getLogger(__name__)


MAX_CONCURRENT = 4  # Outlook's limit per app and mailbox


class GraphServer(ServedServer, Routing, Items, Events, Todo, Rendering, Delta, Batch, SignIn):
    """A stand-in for Microsoft Graph and Entra ID's token endpoint. start() serves in a thread.

    Its url is the base URL: Graph under /v1.0, the token endpoint under /{tenant}/oauth2/v2.0."""

    name = "graph"

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
        self._init_http(host, port, make_handler(self))

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

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

    def _box(self, address: str) -> Mailbox:
        box = self.store.mailbox(address)
        if box is None:
            raise KeyError(address)
        return box

    def enter(self, mailbox: str) -> bool:
        with self.lock:
            self.in_flight[mailbox] += 1
            self.max_in_flight[mailbox] = max(self.max_in_flight[mailbox], self.in_flight[mailbox])
            return self.in_flight[mailbox] <= MAX_CONCURRENT

    def leave(self, mailbox: str) -> None:
        with self.lock:
            self.in_flight[mailbox] -= 1
