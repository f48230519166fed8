"""The /api/v1/ tree: each app's API, the API root, per-user tokens, the OpenAPI schema and docs.

Included by syncadmin/urls.py in the "api" namespace.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import include, path, re_path, reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from security import policy

from .api import ApiError, api_not_found

app_name = "api"


class ApiRootView(APIView):
    """Where everything is."""

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        names = {
            "entities": "api:entity-list",
            "audit": "api:audit-list",
            "contacts": "api:contact-list",
            "appointments": "api:appointment-list",
            "recurring_appointments": "api:recurring-appointment-list",
            "tasks": "api:task-list",
            "mailboxes": "api:mailbox-list",
            "sync_runs": "api:sync-run-list",
            "conflicts": "api:conflict-list",
            "rejected_changes": "api:rejected-change-list",
            "schema": "api:schema",
            "docs": "api:docs",
        }
        return Response({k: request.build_absolute_uri(reverse(v)) for k, v in names.items()})


def refuse_token_for(user: Any, actor: Any) -> None:
    """Refuse (403) managing `user`'s token when `user` holds rights `actor` lacks: a token acts
    as its user, so making one would hand the actor those rights. Only a system administrator
    manages a system administrator's token."""
    beyond = policy.rights_beyond(user, actor)
    if not beyond:
        return
    if user.is_superuser:
        message = "Only a system administrator manages a system administrator's token."
    else:
        message = (
            f"{user.username} holds rights you do not ({'; '.join(beyond[:5])}): "
            "a token would let you act with them."
        )
    raise ApiError(
        message, code="token_rights", status_code=403, details={"rights_beyond_yours": beyond}
    )


class CanManageTokens(BasePermission):
    """The Django permissions that let an administrator manage tokens in the admin, too."""

    message = "Only an administrator may create or revoke API tokens."

    def has_permission(self, request: Request, view: object) -> bool:
        needed = ["authtoken.delete_token"]
        if request.method == "POST":
            needed.append("authtoken.add_token")
        return request.user.has_perms(needed)


class TokenOutputSerializer(serializers.Serializer):
    username = serializers.CharField()
    key = serializers.CharField(help_text="Send it as `Authorization: Token <key>`.")
    created = serializers.DateTimeField()


class UserTokenView(APIView):
    """A user's API token: POST creates one (replacing the old one), DELETE revokes it."""

    permission_classes = [IsAuthenticated, CanManageTokens]

    @extend_schema(request=None, responses={201: TokenOutputSerializer}, tags=["tokens"])
    def post(self, request: Request, username: str) -> Response:
        user = get_object_or_404(get_user_model(), username=username)
        refuse_token_for(user, request.user)
        with transaction.atomic():
            Token.objects.filter(user=user).delete()
            token = Token.objects.create(user=user)
        body = {"username": user.username, "key": token.key, "created": token.created}
        return Response(TokenOutputSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None}, tags=["tokens"])
    def delete(self, request: Request, username: str) -> Response:
        user = get_object_or_404(get_user_model(), username=username)
        refuse_token_for(user, request.user)
        Token.objects.filter(user=user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("", ApiRootView.as_view(), name="root"),
    path("", include("fieldsync.api.urls")),
    path("", include("crm.api.urls")),
    re_path(
        r"^users/(?P<username>[\w.@+-]{1,150})/token/$", UserTokenView.as_view(), name="user-token"
    ),
    # The schema and its pages are public: they describe the API, not anyone's data.
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", permission_classes=[AllowAny]),
        name="docs",
    ),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api:schema", permission_classes=[AllowAny]),
        name="redoc",
    ),
    re_path(r"^", api_not_found),
]
