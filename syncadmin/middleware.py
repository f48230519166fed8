"""Middleware every request passes: the viewer's time zone, the Content-Security-Policy header,
and a 400 in words for input beyond what the database stores."""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template.loader import render_to_string
from django.utils import timezone

from .api import error_body

logger = logging.getLogger(__name__)

# The API's documentation pages, which need inline styles (see CONTENT_SECURITY_POLICY_DOCS).
DOCS_PATHS = ("/api/v1/docs/", "/api/v1/redoc/")


class ContentSecurityPolicyMiddleware:
    """A Content-Security-Policy header on every answer (pages, API, admin, static files): the
    browser runs only the app's own scripts and styles, so injected markup cannot run."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            docs = request.path.startswith(DOCS_PATHS)
            response["Content-Security-Policy"] = (
                settings.CONTENT_SECURITY_POLICY_DOCS if docs else settings.CONTENT_SECURITY_POLICY
            )
        return response


class OutOfRangeInputMiddleware:
    """A number or date from the request beyond what the database stores (an id over 64 bits, a
    date whose time-zone offset pushes it off the calendar) reaches a query in a page or an
    admin list: a 400 that says so, not a server error. The API's own views answer the same
    in JSON (syncadmin.api.exception_handler); this catches the rest."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OverflowError | DataError):
            return None
        logger.info("Out-of-range input refused at %s: %s", request.path, exception)
        message = "A number or date in the request is out of range."
        if request.path.startswith("/api/"):
            return JsonResponse(error_body("out_of_range", message), status=400)
        return HttpResponseBadRequest(
            render_to_string("400_out_of_range.html", {"message": message}, request)
        )


def user_time_zone(user: object) -> str:
    """The user's own time zone, else the organization's (settings.TIME_ZONE)."""
    name = getattr(user, "time_zone", "") or ""
    if name:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            name = ""
    return name or settings.TIME_ZONE


class UserTimezoneMiddleware:
    """Every time on a page is shown in the viewer's time zone (django.utils.timezone). The
    REST API is left alone: its clients get the same instants whoever's profile they use."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith("/api/"):
            timezone.activate(zoneinfo.ZoneInfo(user_time_zone(user)))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
