"""The EWS test server's HTTP side: SOAP 1.1 over HTTP/1.1, Basic auth, impersonation, schema
validation, fault injection (control API under /_control/) and request counters.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from lxml import etree

from ..bearer import EWS_ROLE, TokenSigner
from ..serving import ServedServer
from . import schema
from .faults import Faults
from .items import ItemError
from .operations import OPERATIONS, TNS, Context, SoapFault
from .store import Store

log = logging.getLogger(__name__)

SOAPNS = "http://schemas.xmlsoap.org/soap/envelope/"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=True
)
SERVER_VERSION = dict(
    MajorVersion="15",
    MinorVersion="1",
    MajorBuildNumber="2507",
    MinorBuildNumber="6",
    Version="Exchange2016",
)


def envelope(body_child: etree._Element | None = None, fault: SoapFault | None = None) -> bytes:
    env = etree.Element(f"{{{SOAPNS}}}Envelope", nsmap={"s": SOAPNS})
    header = etree.SubElement(env, f"{{{SOAPNS}}}Header")
    etree.SubElement(header, f"{{{TNS}}}ServerVersionInfo", nsmap={"h": TNS}, **SERVER_VERSION)
    body = etree.SubElement(env, f"{{{SOAPNS}}}Body")
    if fault is not None:
        f = etree.SubElement(body, f"{{{SOAPNS}}}Fault")
        code = etree.SubElement(f, "faultcode", nsmap={"a": TNS})
        code.text = f"a:{fault.code}"
        etree.SubElement(f, "faultstring").text = fault.message
        detail = etree.SubElement(f, "detail")
        etree.SubElement(detail, f"{{{ENS}}}ResponseCode", nsmap={"e": ENS}).text = fault.code
        etree.SubElement(detail, f"{{{ENS}}}Message", nsmap={"e": ENS}).text = fault.message
        if fault.back_off_ms is not None or fault.violation:
            xml = etree.SubElement(detail, f"{{{TNS}}}MessageXml", nsmap={"t": TNS})
            if fault.back_off_ms is not None:
                etree.SubElement(xml, f"{{{TNS}}}Value", Name="BackOffMilliseconds").text = str(
                    fault.back_off_ms
                )
            if fault.violation:
                etree.SubElement(xml, f"{{{TNS}}}Violation").text = fault.violation
    elif body_child is not None:
        body.append(body_child)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


APP_PRINCIPAL = "app:"  # an app signed in with an OAuth 2.0 token, by its client id


class EwsServer(ServedServer):
    """A stand-in Exchange server for exchangelib. Start it in a thread with start()."""

    name = "ews"

    def __init__(
        self,
        mailboxes: dict[str, str],
        *,
        service_accounts: dict[str, str] | None = None,
        delegates: dict[str, set[str]] | None = None,
        store_path: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        validate: bool = True,
        bearer: TokenSigner | None = None,
    ) -> None:
        self.store = Store(store_path)
        # OAuth 2.0: access tokens of this directory (the Graph test server's token endpoint)
        # sign in an app with full_access_as_app, which impersonates every mailbox.
        self.bearer = bearer
        for smtp, password in mailboxes.items():
            self.store.add_mailbox(smtp, password)
        self.service_accounts = {k.lower(): v for k, v in (service_accounts or {}).items()}
        self.delegates = {k.lower(): {d.lower() for d in v} for k, v in (delegates or {}).items()}
        self.validator = schema.validator() if validate else None
        self.faults = Faults()
        self.counts: Counter[str] = Counter()
        self.counts_lock = threading.Lock()
        self.validation_seconds = 0.0  # time spent in schema validation, for the benchmark
        self._init_http(host, port, _make_handler(self))

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/EWS/Exchange.asmx"

    def reset(self) -> None:
        """Forget injected faults and request counts (items stay)."""
        self.faults.clear()
        with self.counts_lock:
            self.counts.clear()
            self.validation_seconds = 0.0

    def request_count(self, operation: str | None = None) -> int:
        with self.counts_lock:
            return self.counts["total"] if operation is None else self.counts[operation]

    # -- request processing --------------------------------------------------------------------
    def check_password(self, user: str, password: str) -> bool:
        user = user.lower()
        if user in self.service_accounts:
            return self.service_accounts[user] == password
        box = self.store.mailbox(user)
        return box is not None and box.password == password

    def handle_soap(self, principal: str, raw: bytes) -> tuple[int, bytes, str]:
        """Process one SOAP request; return (HTTP status, body, operation name)."""
        try:
            doc = etree.fromstring(raw, _PARSER)
        except etree.XMLSyntaxError as e:
            self._count("invalid")
            return (
                500,
                envelope(
                    fault=SoapFault(
                        "ErrorSchemaValidation",
                        "The request failed schema validation.",
                        violation=str(e),
                    )
                ),
                "invalid",
            )
        body = doc.find(f"{{{SOAPNS}}}Body")
        if doc.tag != f"{{{SOAPNS}}}Envelope" or body is None or len(body) == 0:
            self._count("invalid")
            fault = SoapFault(
                "ErrorSchemaValidation",
                "The request failed schema validation.",
                violation="No SOAP body",
            )
            return 500, envelope(fault=fault), "invalid"
        req = body[0]
        operation = etree.QName(req).localname
        self._count(operation)
        rule = self.faults.take("delay", operation)
        if rule:
            time.sleep(float(rule.params["seconds"]))
        try:
            if self.validator is not None:
                began = time.perf_counter()
                errors = self.validator.errors(req)
                with self.counts_lock:
                    self.validation_seconds += time.perf_counter() - began
                if errors:
                    raise SoapFault(
                        "ErrorSchemaValidation",
                        "The request failed schema validation.",
                        violation="; ".join(errors),
                    )
            impersonated = self._impersonated(principal, doc.find(f"{{{SOAPNS}}}Header"))
            rule = self.faults.take("throttle", operation)
            if rule:
                raise SoapFault(
                    "ErrorServerBusy",
                    "The server cannot service this request right now. Try again later.",
                    back_off_ms=int(rule.params["back_off_ms"]),
                )
            handler = OPERATIONS.get(operation)
            if handler is None:
                raise SoapFault(
                    "ErrorInvalidOperation", f"{operation} is not supported by this test server."
                )
            ctx = Context(
                store=self.store,
                principal=principal,
                impersonated=impersonated,
                delegates=self.delegates,
                item_fault=self.faults.item_fault,
                operation=operation,
            )
            with self.store.lock:
                answer = handler(ctx, req)
        except SoapFault as fault:
            return 500, envelope(fault=fault), operation
        except ItemError as e:
            return 500, envelope(fault=SoapFault(e.code, e.message)), operation
        return 200, envelope(answer), operation

    def _impersonated(self, principal: str, header: etree._Element | None) -> str | None:
        if header is None:
            return None
        imp = header.find(f"{{{TNS}}}ExchangeImpersonation/{{{TNS}}}ConnectingSID")
        if imp is None:
            return None
        target = next((c.text for c in imp if c.text), "").strip().lower()
        if principal not in self.service_accounts and not principal.startswith(APP_PRINCIPAL):
            raise SoapFault(
                "ErrorImpersonateUserDenied",
                "The account does not have permission to impersonate the requested user.",
            )
        if self.store.mailbox(target) is None:
            raise SoapFault(
                "ErrorNonExistentMailbox",
                f"The SMTP address has no mailbox associated with it: {target}",
            )
        return target

    def _count(self, operation: str) -> None:
        with self.counts_lock:
            self.counts[operation] += 1
            self.counts["total"] += 1

    def control(self, action: str, payload: dict) -> dict:
        """The HTTP control API: POST /_control/<action> with a JSON body."""
        if action == "stats":
            with self.counts_lock:
                return {"counts": dict(self.counts)}
        if action == "reset":
            self.reset()
            return {"ok": True}
        if action == "mailbox":
            self.store.add_mailbox(payload["smtp"], payload["password"])
            return {"ok": True}
        methods = {
            "throttle": self.faults.throttle,
            "http_error": self.faults.http_error,
            "drop": self.faults.drop,
            "delay": self.faults.delay,
            "item_error": self.faults.item_error,
        }
        if action not in methods:
            raise KeyError(action)
        methods[action](**payload)
        return {"ok": True}


class _Handler(BaseHTTPRequestHandler):
    """One HTTP exchange with the test server bound as `ews` (the class is made per server)."""

    ews: EwsServer

    protocol_version = "HTTP/1.1"  # keep-alive: exchangelib reuses its connections
    # The headers and the body leave in two writes: with Nagle's algorithm on, the body waits
    # for the client's delayed ACK of the headers (40 ms on Linux), on every answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: str = "text/xml; charset=utf-8",
        extra: dict | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/_control/stats"):
            self._send(200, json.dumps(self.ews.control("stats", {})).encode(), "application/json")
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path.startswith("/_control/"):
            self._control(raw)
            return
        principal = self._principal()
        if principal is None:
            self.ews._count("unauthorized")
            self._send(401, b"", "text/plain", {"WWW-Authenticate": 'Basic realm="EWS"'})
            return
        operation = _peek_operation(raw)
        if self._http_fault(operation):
            return
        drop = self.ews.faults.take("drop", operation)
        if drop and drop.params.get("before_apply"):
            self.ews._count(operation)
            self._drop(b"<?xml version='1.0' encoding='utf-8'?><s:Envelope")
            return
        status, body, _ = self.ews.handle_soap(principal, raw)
        if drop:
            self._drop(body)
            return
        self._send(status, body)

    def _control(self, raw: bytes) -> None:
        try:
            payload = json.loads(raw or b"{}")
            result = self.ews.control(self.path[len("/_control/") :].strip("/"), payload)
        except (KeyError, TypeError, ValueError) as e:
            self._send(400, json.dumps({"error": str(e)}).encode(), "application/json")
            return
        self._send(200, json.dumps(result).encode(), "application/json")

    def _http_fault(self, operation: str) -> bool:
        """Answer an armed HTTP-level fault for this operation; True when one was sent."""
        rule = self.ews.faults.take("http", operation)
        if not rule:
            return False
        self.ews._count(operation)
        retry_after = rule.params.get("retry_after")
        extra = {"Retry-After": str(retry_after)} if retry_after else {}
        self._send(int(rule.params["status"]), b"Service Unavailable", "text/html", extra)
        return True

    def _drop(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(body) + 100))
        self.end_headers()
        self.wfile.write(body[: max(len(body) // 2, 1)])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(2)

    def _principal(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer ") and self.ews.bearer is not None:
            claims = self.ews.bearer.verify(auth[7:].strip())
            if claims is None or EWS_ROLE not in (claims.get("roles") or []):
                return None
            return f"{APP_PRINCIPAL}{claims.get('appid', '')}"
        if not auth.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user.lower() if self.ews.check_password(user, password) else None


def _make_handler(server: EwsServer) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"ews": server})


def _peek_operation(raw: bytes) -> str:
    # The operation is the first element in <s:Body>: a cheap scan lets HTTP faults target it.
    start = raw.find(b"Body>")
    if start < 0:
        return ""
    lt = raw.find(b"<", start)
    end = lt + 1
    while end < len(raw) and raw[end : end + 1] not in (b" ", b">", b"/"):
        end += 1
    return raw[lt + 1 : end].decode("ascii", "replace").split(":")[-1]
