"""Template filters for the site navigation: whether to offer Settings and My options.

The answer comes from security.policy, so the menu and the pages never disagree.
"""

from django import template

from security import policy

register = template.Library()


@register.filter
def can_change_sync_settings(user) -> bool:  # type: ignore[no-untyped-def]
    return policy.can_change_sync_settings(user)


@register.filter
def can_view_sync_settings(user) -> bool:  # type: ignore[no-untyped-def]
    return policy.can_view_sync_settings(user)
