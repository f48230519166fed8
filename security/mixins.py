"""Base classes that put the policy in front of admin screens of CRM records.

Like NetBox's restricted view mixins: no screen carries its own permission code.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from . import policy
from .entities import entity_of
from .policy import Action


class RestrictedAdminMixin:
    """For a ModelAdmin of a CRM record type: it lists, opens, changes and deletes only what
    the policy allows, leaves out the secured columns a user may not read and shows read-only
    those they may not set. A record the user may not see is "not found" (the admin's 404).

    Usage: `class ContactAdmin(RestrictedAdminMixin, admin.ModelAdmin): ...`
    """

    model: type[Model]

    def _entity(self) -> str:
        return entity_of(self.model)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return policy.restrict(super().get_queryset(request), request.user, Action.READ)  # type: ignore[misc]

    def _allowed(self, request: HttpRequest, action: Action, obj: Model | None) -> bool:
        if obj is None:
            return policy.has_privilege(request.user, self._entity(), action)
        return policy.can(request.user, action, obj)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return policy.has_privilege(request.user, self._entity(), Action.READ)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, Action.READ, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return policy.has_privilege(request.user, self._entity(), Action.CREATE)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, Action.WRITE, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, Action.DELETE, obj)

    def get_list_display(self, request: HttpRequest) -> Any:
        hidden = policy.field_access(request.user, self._entity()).hidden()
        return [c for c in super().get_list_display(request) if c not in hidden]  # type: ignore[misc]

    def get_exclude(self, request: HttpRequest, obj: Model | None = None) -> Any:
        hidden = policy.field_access(request.user, self._entity()).hidden()
        return [*(super().get_exclude(request, obj) or ()), *sorted(hidden)]  # type: ignore[misc]

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        access = policy.field_access(request.user, self._entity())
        settable = access.creatable if obj is None else access.updatable
        locked = sorted((access.secured & access.readable) - settable)
        return [*super().get_readonly_fields(request, obj), *locked]  # type: ignore[misc]

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        policy.check_field_changes(
            request.user, self._entity(), form.changed_data, creating=not change
        )
        if not change and not policy.can(request.user, Action.CREATE, obj):
            raise PermissionDenied("You may not create this record (owner or business unit).")
        super().save_model(request, obj, form, change)  # type: ignore[misc]
