"""A thin synchronous Microsoft Graph client: httpx for HTTP, msal for app-only tokens (cached,
renewed before expiry), Retry-After on 429/503, $batch of up to 20 with at most 4 in flight.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import msal

from ..base import AuthError, ConnectorError, ThrottledError, TransientError

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.microsoft.com/v1.0"
LOGIN_URL = "https://login.microsoftonline.com"
SCOPE = "https://graph.microsoft.com/.default"
MAX_BATCH = 20
MAX_IN_FLIGHT = 4  # Outlook's concurrency limit per app and mailbox

# Entra's AADSTS codes, in words for the admin.
_AADSTS = {
    "90002": "Unknown tenant: Entra ID has no directory with this tenant id.",
    "700016": "Unknown application (client) id: no such app registration in this tenant.",
    "7000215": "Wrong client secret: Entra ID refused it (use the secret's value, not its id, "
    "and check that it has not expired).",
    "7000222": "The client secret has expired: create a new one in the app registration.",
    "700027": "The certificate was refused: it is expired, or its thumbprint is not registered "
    "on the app.",
    "50027": "The certificate's signed assertion is malformed.",
}


@dataclass(frozen=True)
class Answer:
    """One Graph answer (an HTTP response, or one response of a $batch)."""

    status: int
    headers: dict[str, str]
    body: object

    @property
    def code(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code") or "")
        return ""

    @property
    def message(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("message") or "")
        return str(self.body)[:200]


def describe(answer: Answer, mailbox: str) -> ConnectorError:
    """The error for a refused request, in words."""
    code, message = answer.code, answer.message
    if answer.status == 401:
        return AuthError(f"Graph refused the access token: {message}", code or "ErrorUnauthorized")
    if answer.status == 403:
        if "RAOP" in message or "AccessPolicy" in message:
            return AuthError(
                f"The app is scoped away from {mailbox} (RBAC for Applications or an application "
                f"access policy): {message}",
                "ErrorAccessDenied",
            )
        return AuthError(
            f"Access denied to {mailbox}: an application permission is missing or admin consent "
            f"was not granted ({message})",
            "ErrorAccessDenied",
        )
    if answer.status == 404 and code in ("ErrorInvalidUser", "MailboxNotEnabledForRESTAPI"):
        return ConnectorError(
            f"Mailbox not found: {mailbox} ({message})", "ErrorNonExistentMailbox"
        )
    if answer.status >= 500:
        return TransientError(
            f"Graph answered HTTP {answer.status}: {message}", code or "ErrorInternalServerError"
        )
    return ConnectorError(
        f"Graph answered HTTP {answer.status} {code}: {message}", code or f"HTTP{answer.status}"
    )


class _MsalHttp:
    """msal's HTTP client on httpx; a plain-http login URL (the test server) stands in for
    login.microsoftonline.com, which msal insists on as the authority host."""

    def __init__(self, http: httpx.Client, login_url: str) -> None:
        self.http = http
        self.login_url = login_url.rstrip("/")

    def _url(self, url: str) -> str:
        if self.login_url.startswith("http://") and url.startswith(LOGIN_URL):
            return self.login_url + url[len(LOGIN_URL) :]
        return url

    def get(
        self, url: str, params: dict | None = None, headers: dict | None = None, **kw: object
    ) -> httpx.Response:
        return self.http.get(self._url(url), params=params, headers=headers)

    def post(
        self,
        url: str,
        params: dict | None = None,
        data: object = None,
        headers: dict | None = None,
        **kw: object,
    ) -> httpx.Response:
        if isinstance(data, dict):  # msal passes the signed assertion as bytes
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self.http.post(self._url(url), params=params, data=data, headers=headers)  # type: ignore[arg-type]

    def close(self) -> None:
        pass


class GraphClient:
    """App-only access to one mailbox's Graph resources."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str | None = None,
        certificate_key: str | None = None,
        certificate_thumbprint: str | None = None,
        graph_url: str = GRAPH_URL,
        login_url: str = LOGIN_URL,
        timeout: float = 60.0,
        max_wait: float = 60.0,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        if not client_secret and not (certificate_key and certificate_thumbprint):
            raise ValueError("A client secret, or a certificate's private key and thumbprint")
        self.graph_url = graph_url.rstrip("/")
        self.login_url = (login_url or LOGIN_URL).rstrip("/")
        self.tenant_id, self.client_id = tenant_id, client_id
        self.credential: object = client_secret or {
            "private_key": certificate_key,
            "thumbprint": certificate_thumbprint,
        }
        self.max_wait = max_wait
        self.max_in_flight = max(1, min(max_in_flight, MAX_IN_FLIGHT))
        self.http = httpx.Client(
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=self.max_in_flight, max_keepalive_connections=self.max_in_flight
            ),
        )
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()
        self.requests = 0  # HTTP requests to Graph (benchmarks report it)
        self.write_requests = 0
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        self.http.close()

    # -- tokens --------------------------------------------------------------------------------
    def _msal(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            host = self.login_url if self.login_url.startswith("https://") else LOGIN_URL
            try:
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=self.credential,
                    authority=f"{host}/{self.tenant_id}",
                    http_client=_MsalHttp(self.http, self.login_url),
                    token_cache=msal.TokenCache(),
                )
            except ValueError as e:
                text = str(e)
                if "tenant" in text.lower() or "authority" in text.lower():
                    raise AuthError(
                        f"Unknown tenant '{self.tenant_id}': Entra ID does not know this directory "
                        "(AADSTS90002). Check the tenant id and the cloud (token URL).",
                        "ErrorUnknownTenant",
                    ) from e
                raise AuthError(
                    f"The app's credentials cannot be used: {text}", "ErrorInvalidCredentials"
                ) from e
            except httpx.HTTPError as e:
                raise TransientError(
                    f"Entra ID could not be reached: {e}", "ErrorConnectionFailed"
                ) from e
        return self._app

    def token(self, *, fresh: bool = False) -> str:
        """An app-only access token (msal caches it and renews it before it expires)."""
        with self._lock:
            if fresh:
                self._app = None  # a new token cache: the old token was refused
            app = self._msal()
            try:
                result = app.acquire_token_for_client(scopes=[SCOPE])
            except httpx.HTTPError as e:
                raise TransientError(
                    f"Entra ID could not be reached: {e}", "ErrorConnectionFailed"
                ) from e
            except ValueError as e:
                raise AuthError(
                    f"The certificate's private key cannot be used: {e}", "ErrorInvalidCredentials"
                ) from e
        if "access_token" in result:
            return str(result["access_token"])
        codes = [str(c) for c in result.get("error_codes") or []]
        words = next((_AADSTS[c] for c in codes if c in _AADSTS), None)
        detail = result.get("error_description") or result.get("error") or "no reason given"
        raise AuthError(
            f"{words or 'Entra ID refused the app'} ({str(detail).splitlines()[0]})",
            str(result.get("error") or "ErrorInvalidCredentials"),
        )

    # -- requests ------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.graph_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Answer:
        """One request, waiting out 429/503 within max_wait; a fresh token once on a 401."""
        waited = 0.0
        attempt = 0
        renewed = False
        while True:
            attempt += 1
            sent = {"Authorization": f"Bearer {self.token(fresh=renewed and attempt == 2)}"}
            sent.update(headers or {})
            try:
                with self._lock:
                    self.requests += 1
                    if method != "GET" and not path.endswith("$batch"):
                        self.write_requests += 1
                response = self.http.request(
                    method,
                    self.url(path),
                    json=body if body is not None else None,
                    headers=sent,
                    params=params,
                )
            except httpx.TimeoutException as e:
                raise TransientError(
                    f"Graph did not answer in time: {e}", "ErrorTimeoutExpired"
                ) from e
            except httpx.HTTPError as e:
                raise TransientError(
                    f"Graph could not be reached: {e}", "ErrorConnectionFailed"
                ) from e
            answer = _answer(response)
            if answer.status == 401 and not renewed:
                renewed = True
                continue
            if answer.status in (429, 503):
                delay = retry_after(answer.headers, attempt)
                if waited + delay > self.max_wait:
                    raise ThrottledError(
                        f"Graph asked to wait {delay:.0f}s (HTTP {answer.status}); retry later",
                        "ErrorServerBusy",
                        wait=delay,
                    )
                time.sleep(delay)
                waited += delay
                continue
            return answer

    def batch(self, requests: Sequence[dict]) -> list[Answer]:
        """Send requests ({method, url, headers?, body?}) in $batch calls of up to 20, up to
        four calls in flight; inner 429/503 are sent again after Retry-After. One answer per
        request, in order."""
        answers: list[Answer | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        waited = 0.0
        round_ = 0
        while pending:
            round_ += 1
            chunks = [pending[i : i + MAX_BATCH] for i in range(0, len(pending), MAX_BATCH)]
            results = self._map(lambda chunk: self._send_batch(requests, chunk), chunks)
            retry: list[int] = []
            delay = 0.0
            for chunk, got in zip(chunks, results, strict=True):
                for index in chunk:
                    answer = got.get(index)
                    if answer is None or answer.status in (429, 503):
                        retry.append(index)
                        headers = answer.headers if answer is not None else {}
                        delay = max(delay, retry_after(headers, round_))
                    answers[index] = answer
            if retry and waited + delay > self.max_wait:
                raise ThrottledError(
                    f"Graph kept throttling {len(retry)} requests of a batch; retry later",
                    "ErrorServerBusy",
                    wait=delay,
                )
            if retry:
                time.sleep(delay)
                waited += delay
            pending = retry
        return [a for a in answers if a is not None]

    def _map(self, fn, chunks: list) -> list:  # type: ignore[no-untyped-def]
        if len(chunks) <= 1 or self.max_in_flight == 1:
            return [fn(c) for c in chunks]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="graph")
        return list(self._pool.map(fn, chunks))

    def _send_batch(self, requests: Sequence[dict], chunk: list[int]) -> dict[int, Answer]:
        payload = {
            "requests": [
                {"id": str(i), **{k: v for k, v in requests[i].items() if v is not None}}
                for i in chunk
            ]
        }
        with self._lock:
            if any(requests[i]["method"] != "GET" for i in chunk):
                self.write_requests += 1
        outer = self.request("POST", "/$batch", body=payload)
        if outer.status != 200 or not isinstance(outer.body, dict):
            raise describe(outer, "the mailbox")
        got: dict[int, Answer] = {}
        for entry in outer.body.get("responses") or []:
            try:
                index = int(entry["id"])
                got[index] = Answer(
                    int(entry["status"]), dict(entry.get("headers") or {}), entry.get("body")
                )
            except (KeyError, TypeError, ValueError):
                log.warning("Graph $batch answer without a usable id: %r", entry)
        for index in chunk:
            got.setdefault(
                index,
                Answer(
                    502,
                    {},
                    {
                        "error": {
                            "code": "ErrorNoAnswer",
                            "message": "No answer in the $batch response",
                        }
                    },
                ),
            )
        return got


def retry_after(headers: dict[str, str], attempt: int) -> float:
    """Retry-After seconds, else exponential back-off with jitter."""
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return min(30.0, (2 ** min(attempt, 5)) * 0.5) * (0.5 + random.random() / 2)


def _answer(response: httpx.Response) -> Answer:
    body: object = None
    if response.content:
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            body = response.text
    return Answer(response.status_code, dict(response.headers), body)


def same_host(url: str, base: str) -> bool:
    return urlsplit(url).netloc == urlsplit(base).netloc
