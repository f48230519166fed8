"""Per-request settings that follow the signed-in user."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone


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
