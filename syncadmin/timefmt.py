"""Times as people read them: in the viewer's own time zone, in one format, the zone named.

Registered as template builtins (settings.TEMPLATES), so every template has:
  {{ dt|when }}       27 Nov 2026, 15:22 (in a <time> element with the exact instant)
  {{ dt|when_zone }}  27 Nov 2026, 15:22 Europe/Paris
  {% zone %}          Europe/Paris: for a column heading, "Started (Europe/Paris)"
The zone is the one UserTimezoneMiddleware activated for the request: the user's own setting,
else the organization's (settings.TIME_ZONE).
"""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

FORMAT = "j M Y, H:i"


def _local(value: dt.datetime) -> dt.datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


@register.filter(is_safe=True)
def when(value: dt.datetime | None, empty: str = "") -> SafeString | str:
    """The time in the viewer's zone, one format; `empty` (e.g. "never") when there is none."""
    if not value:
        return empty
    local = _local(value)
    return format_html(
        '<time datetime="{}">{}</time>',
        local.isoformat(timespec="seconds"),
        date_format(local, FORMAT),
    )


@register.filter(is_safe=True)
def when_zone(value: dt.datetime | None, empty: str = "") -> SafeString | str:
    """As `when`, followed by the zone's name, for a time in a sentence."""
    if not value:
        return empty
    return format_html("{} {}", when(value), timezone.get_current_timezone_name())


@register.simple_tag
def zone() -> str:
    """The name of the viewer's time zone."""
    return timezone.get_current_timezone_name()
