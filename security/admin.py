"""Admin screens for security: business units, users, teams, security roles, field security
profiles, secured fields and record sharing. Writes go through security.services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin as DrfTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from . import policy, services
from .entities import RECORD_ENTITIES, Entity, record_model, securable_columns
from .models import (
    SHARE_MODELS,
    AccessLevel,
    BusinessUnit,
    FieldPermission,
    FieldSecurityProfile,
    Privilege,
    SecuredField,
    SecurityRole,
    Team,
    User,
    privileges_of,
)


@admin.register(BusinessUnit)
class BusinessUnitAdmin(admin.ModelAdmin):
    list_display = ("name", "parent", "path")
    search_fields = ("name",)
    autocomplete_fields = ("parent",)
    readonly_fields = ("path",)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "business_unit", "is_staff")
    list_filter = ("business_unit", "is_staff", "is_superuser", "is_active", "security_roles")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Organization", {"fields": ("business_unit",)}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Organization", {"fields": ("business_unit",)}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """Only a system administrator makes system administrators or hands out Django
        permissions: a staff user may not give anyone (themselves included) more than they hold."""
        fields = [*super().get_readonly_fields(request, obj)]
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        return fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


# ---- teams: Django groups shown as teams, with members, roles and field profiles ----------

admin.site.unregister(Group)


def _multi(queryset: QuerySet, label: str) -> forms.ModelMultipleChoiceField:
    return forms.ModelMultipleChoiceField(
        queryset, required=False, widget=FilteredSelectMultiple(label, is_stacked=False)
    )


class TeamForm(forms.ModelForm):
    members = _multi(User.objects.all(), "members")
    security_roles = _multi(SecurityRole.objects.all(), "security roles")
    field_security_profiles = _multi(FieldSecurityProfile.objects.all(), "field security profiles")

    class Meta:
        model = Team
        fields = ["name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["members"] = list(self.instance.user_set.all())
            self.initial["security_roles"] = list(self.instance.security_roles.all())
            self.initial["field_security_profiles"] = list(
                self.instance.field_security_profiles.all()
            )


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    form = TeamForm
    list_display = ("name", "member_count")
    search_fields = ("name",)

    @admin.display(description="members")
    def member_count(self, obj: Team) -> int:
        return obj.user_set.count()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        team = form.instance
        team.user_set.set(form.cleaned_data["members"])
        team.security_roles.set(form.cleaned_data["security_roles"])
        team.field_security_profiles.set(form.cleaned_data["field_security_profiles"])


# ---- security roles: one select per (entity, privilege), laid out as a grid ----------------


def _level_field(entity: str, action: str) -> forms.TypedChoiceField:
    choices = AccessLevel.choices
    if entity == Entity.SYNC_SETTINGS:  # one organization-wide object: on or off
        choices = [(AccessLevel.NONE, "None"), (AccessLevel.ORGANIZATION, "Organization")]
    return forms.TypedChoiceField(
        choices=choices, coerce=int, initial=AccessLevel.NONE, label=Privilege(action).label
    )


def _cell(entity: str, action: str) -> str:
    return f"{entity}__{action}"


PRIVILEGE_CELLS = [(e.value, a) for e in Entity for a in privileges_of(e)]


class _SecurityRoleFormBase(forms.ModelForm):
    class Meta:
        model = SecurityRole
        fields = ["name", "description", "users", "teams"]
        widgets = {
            "users": FilteredSelectMultiple("users", is_stacked=False),
            "teams": FilteredSelectMultiple("teams", is_stacked=False),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            for (entity, action), level in self.instance.levels().items():
                self.initial[_cell(entity, action)] = int(level)

    def levels(self) -> dict[tuple[str, str], int]:
        return {(e, a): self.cleaned_data[_cell(e, a)] for e, a in PRIVILEGE_CELLS}


SecurityRoleForm = type(
    "SecurityRoleForm",
    (_SecurityRoleFormBase,),
    {_cell(e, a): _level_field(e, a) for e, a in PRIVILEGE_CELLS},
)


@admin.register(SecurityRole)
class SecurityRoleAdmin(admin.ModelAdmin):
    form = SecurityRoleForm
    list_display = ("name", "description")
    search_fields = ("name",)
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        *(
            (
                str(entity.label),
                {
                    "fields": [tuple(_cell(entity, a) for a in privileges_of(entity))],
                    "description": "Access level per privilege: none, user (own records), "
                    "business unit, parent: child business units, organization.",
                },
            )
            for entity in Entity
        ),
        ("Given to", {"fields": ("users", "teams")}),
    )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        services.role_privileges_set(role=form.instance, levels=form.levels())


# ---- field-level security -----------------------------------------------------------------


class SecuredFieldForm(forms.ModelForm):
    class Meta:
        model = SecuredField
        fields = ["entity", "column"]
        help_texts = {
            "column": "; ".join(
                f"{Entity(e).label}: {', '.join(securable_columns(e))}" for e in RECORD_ENTITIES
            )
        }


@admin.register(SecuredField)
class SecuredFieldAdmin(admin.ModelAdmin):
    form = SecuredFieldForm
    list_display = ("__str__", "entity", "column")
    list_filter = ("entity",)
    search_fields = ("column",)


class FieldPermissionInline(admin.TabularInline):
    model = FieldPermission
    extra = 1


@admin.register(FieldSecurityProfile)
class FieldSecurityProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "description")
    search_fields = ("name",)
    filter_horizontal = ("users", "teams")
    inlines = [FieldPermissionInline]


# ---- record sharing: guardian's per-model tables, written through the services ----------


class ShareForm(forms.ModelForm):
    actor: Any = None

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        record = data.get("content_object")
        permission = data.get("permission")
        if record is not None and permission is not None and self.actor is not None:
            right = _right_of(permission.codename)
            if not policy.can(self.actor, right, record):
                raise ValidationError(
                    f"You cannot share '{right}' on this record: you do not hold it yourself."
                )
        return data


def _right_of(codename: str) -> policy.Action:
    prefix = codename.split("_", 1)[0]
    return next(a for a, p in policy.SHARE_PERMISSIONS.items() if p == prefix)


def _share_permissions(entity: str) -> QuerySet:
    """The Django permissions a share of this entity's records can carry, one per right."""
    model = record_model(entity)
    return Permission.objects.filter(
        content_type=ContentType.objects.get_for_model(model),
        codename__in=[f"{p}_{model._meta.model_name}" for p in policy.SHARE_PERMISSIONS.values()],
    )


class RightFilter(admin.RelatedFieldListFilter):
    """Filter shares by the rights a share of this entity can carry, named as the list names
    them (not by every permission Django knows, each read with its content type)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "right"

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list:
        return [
            (p.pk, Privilege(_right_of(p.codename).value).label)
            for p in _share_permissions(model_admin.entity).order_by("pk")
        ]


class ShareAdmin(admin.ModelAdmin):
    """A share is one right on one record for one user or team: added or removed, not edited."""

    form = ShareForm
    holder_field = "user"
    entity = ""
    list_display = ("content_object", "holder", "right")
    list_filter = (("permission", RightFilter),)
    list_select_related = ("permission",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["content_object", self.holder_field, "permission"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Only shares of records the user may read: the list names the records."""
        readable = policy.restrict(
            record_model(self.entity)._default_manager.all(), request.user, policy.Action.READ
        )
        return super().get_queryset(request).filter(content_object__in=readable.values("pk"))

    def get_raw_id_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("content_object", "user") if self.holder_field == "user" else ("content_object",)

    @admin.display(description="shared with")
    def holder(self, obj: Any) -> str:
        return str(getattr(obj, self.holder_field))

    @admin.display(description="right")
    def right(self, obj: Any) -> str:
        return Privilege(_right_of(obj.permission.codename).value).label

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        form.actor = request.user
        return form

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "permission":
            kwargs["queryset"] = _share_permissions(self.entity)
        if db_field.name == "group":
            kwargs["queryset"] = Group.objects.order_by("name")
            kwargs["label"] = "team"
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        services.share_record(
            record=obj.content_object,
            user_or_team=getattr(obj, self.holder_field),
            rights=[_right_of(obj.permission.codename)],
            actor=request.user,
        )
        # The admin's "added" message links to the row: give it the row's id.
        obj.pk = (
            type(obj)
            .objects.filter(
                content_object=obj.content_object,
                permission=obj.permission,
                **{self.holder_field: getattr(obj, self.holder_field)},
            )
            .values_list("pk", flat=True)
            .get()
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        try:
            services.revoke_share(
                record=obj.content_object,
                user_or_team=getattr(obj, self.holder_field),
                rights=[_right_of(obj.permission.codename)],
                actor=request.user,
            )
        except PermissionDenied as exc:
            messages.error(request, str(exc))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset.select_related("permission"):
            self.delete_model(request, obj)


for _entity, (_user_share, _team_share) in SHARE_MODELS.items():
    admin.site.register(
        _user_share,
        type(
            f"{_user_share.__name__}Admin",
            (ShareAdmin,),
            {"entity": _entity, "holder_field": "user"},
        ),
    )
    admin.site.register(
        _team_share,
        type(
            f"{_team_share.__name__}Admin",
            (ShareAdmin,),
            {"entity": _entity, "holder_field": "group"},
        ),
    )


# ---- API tokens: nobody manages a token of someone with rights beyond their own -----------

admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class TokenAdmin(DrfTokenAdmin):
    """DRF's token screen, with the API's rule: a token acts as its user, so a staff user sees,
    makes and revokes only tokens of users whose rights do not go beyond their own (only a
    system administrator manages a system administrator's token). The key is shown once, when
    the token is made; the list shows its first characters only."""

    list_display = ("key_start", "user", "created")

    @admin.display(description="key")
    def key_start(self, obj: TokenProxy) -> str:
        return f"{obj.key[:4]}…"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        queryset = queryset.filter(user__is_superuser=False).select_related("user")
        allowed = [t.pk for t in queryset if not policy.rights_beyond(t.user, request.user)]
        return queryset.filter(pk__in=allowed)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a token is made or revoked, never moved to another user

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and policy.rights_beyond(obj.user, request.user):
            return False
        return super().has_delete_permission(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = User.objects.filter(is_superuser=False, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        actor = request.user

        class TokenForm(form):  # type: ignore[misc, valid-type]
            def clean_user(self) -> Any:
                user = self.cleaned_data["user"]
                if beyond := policy.rights_beyond(user, actor):
                    raise ValidationError(
                        f"{user.username} holds rights you do not ({'; '.join(beyond[:5])}): "
                        "a token would let you act with them."
                    )
                return user

        return TokenForm

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        messages.info(request, f"The token of {obj.user.username} is {obj.key} (shown once).")
