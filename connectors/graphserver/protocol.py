"""What every part of the Graph test server speaks: one request (outer, or one step of a $batch),
the Graph error it may answer, and the names Graph gives item kinds and extended properties.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

from .store import new_id, now_iso

TYPES = {"contacts": "contact", "calendar": "event", "tasks": "todoTask"}


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
