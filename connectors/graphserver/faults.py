"""Fault injection for the Graph test server, armed from tests or over POST /_control/<kind>."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Rule:
    """One fault for the next `count` matching requests (None: until reset)."""

    kind: str
    count: int | None = 1
    match: str | None = None  # a substring of "METHOD /path?query" (or of the request body)
    params: dict = field(default_factory=dict)

    def take(self, target: str) -> bool:
        if self.match and self.match not in target:
            return False
        if self.count is None:
            return True
        if self.count <= 0:
            return False
        self.count -= 1
        return True


class Faults:
    """The kinds: `throttle` (429/503 + Retry-After on the HTTP request), `batch_throttle`
    (429 for one request inside a $batch), `item_error` (an error status and code for a
    matching request, inner or outer), `garbage` (a 200 whose body is not Graph JSON),
    `delay` (sleep first), `delta_empty` (an empty delta page with a nextLink first),
    `delta_replay` (a delta page repeats items already sent)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rules: list[Rule] = []

    def add(
        self, kind: str, *, count: int | None = 1, match: str | None = None, **params: object
    ) -> None:
        with self.lock:
            self.rules.append(Rule(kind, count, match, dict(params)))

    def throttle(
        self,
        *,
        status: int = 429,
        retry_after: float | None = 1,
        count: int | None = 1,
        match: str | None = None,
    ) -> None:
        self.add("throttle", count=count, match=match, status=status, retry_after=retry_after)

    def batch_throttle(
        self, *, index: int = 0, retry_after: float = 1, count: int | None = 1
    ) -> None:
        self.add("batch_throttle", count=count, index=index, retry_after=retry_after)

    def item_error(
        self,
        *,
        status: int = 400,
        code: str = "ErrorInvalidRequest",
        message: str = "Injected error",
        match: str | None = None,
        count: int | None = 1,
    ) -> None:
        self.add("item_error", count=count, match=match, status=status, code=code, message=message)

    def garbage(self, *, match: str | None = None, count: int | None = 1) -> None:
        self.add("garbage", count=count, match=match)

    def delay(self, seconds: float, *, match: str | None = None, count: int | None = 1) -> None:
        self.add("delay", count=count, match=match, seconds=seconds)

    def delta_empty(self, *, count: int | None = 1) -> None:
        self.add("delta_empty", count=count)

    def delta_replay(self, *, items: int = 2, count: int | None = 1) -> None:
        self.add("delta_replay", count=count, items=items)

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def take(self, kind: str, target: str = "") -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.kind == kind and rule.take(target):
                    return rule
        return None

    def take_index(self, kind: str, index: int) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.kind != kind or rule.params.get("index") != index:
                    continue
                if rule.count is not None:
                    if rule.count <= 0:
                        continue
                    rule.count -= 1
                return rule
        return None
