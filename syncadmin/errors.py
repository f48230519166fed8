"""Error answers outside the REST framework's views: under /api/ they are the API's JSON error
body, elsewhere Django's pages. Wired in as handler400/403/404/500 and CSRF_FAILURE_VIEW.

Django answers these itself before or after a view runs (a refused CSRF token, a body over the
upload limit, an unknown path, a crash): without them an API client would get an HTML page.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import csrf, defaults
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
