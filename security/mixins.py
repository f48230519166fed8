"""Base classes that put the policy in front of admin screens of CRM records.

Like NetBox's restricted view mixins: no screen carries its own permission code.
"""

from __future__ import annotations

import copy
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

    def _hidden(self, request: HttpRequest) -> frozenset[str]:
        return policy.field_access(request.user, self._entity()).hidden()

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """No list filter, URL lookup (`?government_id__startswith=4`) or ordering on a column
        the user may not read: which records come back would reveal its values."""
        column = lookup.split("__", 1)[0]
        if request is not None and self._blocked(request, column):
            return False
        return super().lookup_allowed(lookup, value, request)  # type: ignore[misc]

    def _blocked(self, request: HttpRequest, column: str) -> bool:
        field = next(
            (f for f in self.model._meta.concrete_fields if column in (f.name, f.attname)), None
        )
        return field is not None and field.name in self._hidden(request)

    def get_search_fields(self, request: HttpRequest) -> Any:
        return [
            f
            for f in super().get_search_fields(request)  # type: ignore[misc]
            if not self._blocked(request, f.lstrip("^=@").split("__", 1)[0])
        ]

    def get_list_filter(self, request: HttpRequest) -> Any:
        def column(spec: Any) -> str:
            return spec if isinstance(spec, str) else spec[0] if isinstance(spec, tuple) else ""

        return [
            f
            for f in super().get_list_filter(request)  # type: ignore[misc]
            if not self._blocked(request, column(f).split("__", 1)[0])
        ]

    def get_ordering(self, request: HttpRequest) -> Any:
        wanted = super().get_ordering(request) or self.model._meta.ordering  # type: ignore[misc]
        kept = [c for c in wanted if not self._blocked(request, c.lstrip("-").split("__", 1)[0])]
        return kept or ["pk"]

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
        # A record's business unit follows its owner, as in the API: assigning is the owner.
        return [*super().get_readonly_fields(request, obj), *locked, "business_unit"]  # type: ignore[misc]

    def get_form(self, request: HttpRequest, obj: Model | None = None, **kwargs: Any) -> Any:
        """The form refuses, in words next to the field, what the policy refuses: a secured
        column the user may not set, an owner the user may not give the record to."""
        form = super().get_form(request, obj, **kwargs)  # type: ignore[misc]
        entity, actor = self._entity(), request.user

        class PolicyForm(form):  # type: ignore[misc, valid-type]
            def clean(self) -> Any:
                data = super().clean()
                _check_record_form(self, entity, actor)
                return data

        return PolicyForm

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        policy.check_field_changes(
            request.user, self._entity(), form.changed_data, creating=not change
        )
        if not policy.can(request.user, Action.CREATE, obj) and (
            not change or "owner" in form.changed_data
        ):
            raise PermissionDenied("You may not give this record to that owner.")
        super().save_model(request, obj, form, change)  # type: ignore[misc]


def _check_record_form(form: Any, entity: str, actor: Any) -> None:
    instance = form.instance
    creating = instance.pk is None
    access = policy.field_access(actor, entity)
    for column in access.denied(form.changed_data, creating=creating):
        form.add_error(
            column if column in form.fields else None,
            "Field security does not let you set this field.",
        )
    owner = form.cleaned_data.get("owner")
    if owner is None or (not creating and "owner" not in form.changed_data):
        return
    probe = copy.copy(instance)
    probe.owner = owner
    probe.business_unit_id = owner.business_unit_id
    if not policy.can(actor, Action.CREATE, probe):
        name = instance._meta.verbose_name
        form.add_error(
            "owner",
            f"You may not give this {name} to {owner}: your rights do not reach their records.",
        )
