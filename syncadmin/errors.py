"""Error answers outside the REST framework's views: under /api/ they are the API's JSON error
body, elsewhere Django's pages. Wired in as handler400/403/404/500 and CSRF_FAILURE_VIEW.

Django answers these itself before or after a view runs (a refused CSRF token, a body over the
upload limit, an unknown path, a crash): without them an API client would get an HTML page.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import csrf, defaults
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.csrf import requires_csrf_token

from .api import TOO_LARGE, error_body

API_PREFIX = "/api/"


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def _json(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


@requires_csrf_token
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return _json("too_large", TOO_LARGE, 413)
        if isinstance(exception, TooManyFieldsSent):
            return _json("too_large", "The request sends more fields than the server accepts.", 413)
        return _json("bad_request", "The request could not be understood.", 400)
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


@requires_csrf_token
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return _json("permission_denied", str(exception or "") or "Not allowed.", 403)
    return defaults.permission_denied(request, exception)  # type: ignore[arg-type]


@requires_csrf_token
def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api(request):
        return _json("not_found", f"No API endpoint at {request.path}.", 404)
    return defaults.page_not_found(request, exception)  # type: ignore[arg-type]


@requires_csrf_token
def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    if is_api(request):
        return _json("server_error", "The server failed to answer; the error is logged.", 500)
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if is_api(request):
        return _json(
            "csrf_failed",
            "CSRF check failed: a browser session must send the CSRF token "
            "(X-CSRFToken header); scripts sign in with a token instead.",
            403,
        )
    return csrf.csrf_failure(request, reason)


class SecretsReporterFilter(SafeExceptionReporterFilter):
    """What an error report (the debug page, an error e-mail, the log) may show: variables named
    like a secret, and connector and credential objects (which hold decrypted passwords), are
    replaced in every frame, with DEBUG on as well as off; settings are cleansed as Django does."""

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|CREDENTIAL|COOKIE", flags=re.IGNORECASE
    )
    holders = ("connectors.", "exchangelib.", "caldav.", "cryptography.", "requests.", "httpx.")

    def is_active(self, request: HttpRequest | None) -> bool:
        return True

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        # cleanse_setting hides the variable by its name and, inside dicts (a **kwargs
        # holding password=...), every key named like a secret.
        return [
            (
                name,
                self.cleansed_substitute
                if self._secret(name, value)
                else self.cleanse_setting(name, value),
            )
            for name, value in variables
        ]

    def _secret(self, name: str, value: Any) -> bool:
        if self.hidden_settings.search(name):
            return True
        module = type(value).__module__ or ""
        return module.startswith(self.holders) or hasattr(value, "password")
