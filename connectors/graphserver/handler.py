"""The Graph test server's HTTP handling: control and identity endpoints, JSON bodies, injected
throttling, the per-mailbox concurrency limit, then one request or a $batch to the server.
"""

from __future__ import annotations

import json
import logging
import re
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .protocol import GraphError, Request
from .signin import INSTANCE_METADATA

log = logging.getLogger(__name__)


def _mailbox_of(path: str, body: object) -> str:
    if path.rstrip("/").endswith("$batch") and isinstance(body, dict):
        first = (body.get("requests") or [{}])[0]
        path = "/v1.0" + str(first.get("url", "")) if isinstance(first, dict) else ""
    m = re.match(r"^/v1\.0/users/([^/?]+)", path)
    return unquote(m.group(1)).lower() if m else ""


class _Handler(BaseHTTPRequestHandler):
    """One HTTP request; `graph` (the GraphServer) is bound per server by `make_handler`."""

    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes: with Nagle's algorithm on, the body waits
    # for the client's delayed ACK of the headers (40 ms on Linux), on every answer.
    disable_nagle_algorithm = True
    graph: Any  # the GraphServer (server.py imports this module, so not the other way)

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


def make_handler(server: Any) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"graph": server})
