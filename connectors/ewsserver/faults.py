"""Fault injection for the EWS test server: throttling, HTTP errors, dropped connections,
slow answers and per-item errors, armed from tests or over the HTTP control API.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from lxml import etree


@dataclass
class Rule:
    """One injected fault for the next `count` matching requests (None: until reset)."""

    kind: str
    count: int | None = 1
    operation: str | None = None
    params: dict = field(default_factory=dict)

    def take(self, operation: str) -> bool:
        if self.operation and self.operation != operation:
            return False
        if self.count is None:
            return True
        if self.count <= 0:
            return False
        self.count -= 1
        return True


class Faults:
    """Fault injection, used from tests (Python) or over HTTP (POST /_control/<kind>)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[Rule] = []

    def add(
        self, kind: str, *, count: int | None = 1, operation: str | None = None, **params: object
    ) -> None:
        with self.lock:
            self.rules.append(Rule(kind, count, operation, dict(params)))

    def throttle(
        self, *, back_off_ms: int = 200, count: int | None = 1, operation: str | None = None
    ) -> None:
        """Answer ErrorServerBusy with BackOffMilliseconds."""
        self.add("throttle", count=count, operation=operation, back_off_ms=back_off_ms)

    def http_error(
        self,
        status: int = 503,
        *,
        count: int | None = 1,
        retry_after: int | None = None,
        operation: str | None = None,
    ) -> None:
        """Answer a bare HTTP error (500, 503, 401...)."""
        self.add("http", count=count, operation=operation, status=status, retry_after=retry_after)

    def drop(
        self, *, count: int | None = 1, operation: str | None = None, before_apply: bool = False
    ) -> None:
        """Close the connection half-way through the answer (after applying the request)."""
        self.add("drop", count=count, operation=operation, before_apply=before_apply)

    def delay(self, seconds: float, *, count: int | None = 1, operation: str | None = None) -> None:
        """Sleep before answering."""
        self.add("delay", count=count, operation=operation, seconds=seconds)

    def item_error(
        self,
        code: str,
        *,
        operation: str,
        index: int | None = None,
        match: str | None = None,
        message: str = "Injected error",
        count: int | None = 1,
    ) -> None:
        """Fail one item of a batch: the index-th item, or the first whose XML contains `match`."""
        self.add(
            "item",
            count=count,
            operation=operation,
            code=code,
            index=index,
            match=match,
            message=message,
        )

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def take(self, kind: str, operation: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.kind == kind and rule.take(operation):
                    return rule
        return None

    def item_fault(
        self, operation: str, index: int, elem: etree._Element | None
    ) -> tuple[str, str] | None:
        with self.lock:
            for rule in self.rules:
                if rule.kind != "item" or rule.operation != operation:
                    continue
                if rule.count is not None and rule.count <= 0:
                    continue
                want_index, match = rule.params.get("index"), rule.params.get("match")
                if want_index is not None and want_index != index:
                    continue
                if match is not None and (
                    elem is None or match not in etree.tostring(elem, encoding="unicode")
                ):
                    continue
                if rule.count is not None:
                    rule.count -= 1
                return rule.params["code"], rule.params["message"]
        return None
