"""Thin API views of the organization's sync policy: GET for whoever may view the sync settings,
PATCH with the settings-write privilege (every change audited, as on the page)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from fieldsync.fields.api.views import SyncSettingsPermission
from fieldsync.models.policy import SyncPolicyChange
from fieldsync.policy.api.serializers import SyncPolicyChangeSerializer, SyncPolicySerializer
from fieldsync.policy.services import NAMES, sync_policy_get, sync_policy_update
from syncadmin.api import ApiError, ErrorSerializer

_ERROR = OpenApiResponse(ErrorSerializer, description="The error body.")


class SyncPolicyView(generics.GenericAPIView):
    """The organization's sync policy (one object)."""

    permission_classes = [IsAuthenticated, SyncSettingsPermission]
    serializer_class = SyncPolicySerializer
    filter_backends: list = []

    @extend_schema(
        operation_id="sync_policy_retrieve",
        summary="The organization's sync policy",
        responses={200: SyncPolicySerializer, 401: _ERROR, 403: _ERROR},
        tags=["sync-policy"],
    )
    def get(self, request: Request) -> Response:
        return Response(SyncPolicySerializer(sync_policy_get()).data)

    @extend_schema(
        operation_id="sync_policy_partial_update",
        summary="Change some settings of the sync policy (administrators)",
        description="Send only the settings to change. Unknown settings and invalid values are "
        "refused (400, `error.fields` per setting) and nothing is saved. Each changed setting "
        "is recorded in the sync policy's change log (`/api/v1/sync-policy/changes/`).",
        request=SyncPolicySerializer(partial=True),
        responses={200: SyncPolicySerializer, 400: _ERROR, 401: _ERROR, 403: _ERROR},
        tags=["sync-policy"],
    )
    def patch(self, request: Request) -> Response:
        if not isinstance(request.data, dict):
            raise ApiError("Send a JSON object of settings to change.", code="invalid")
        unknown = sorted(str(k) for k in request.data if k not in NAMES)
        if unknown:
            raise ApiError(
                f"Unknown setting {unknown[0]!r} (settings: {', '.join(NAMES)}).",
                code="unknown_setting",
                fields={k: ["Unknown setting."] for k in unknown},
            )
        body = SyncPolicySerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        sync_policy_update(
            changes=body.validated_data, actor=request.user, source=SyncPolicyChange.Source.API
        )
        return Response(SyncPolicySerializer(sync_policy_get()).data)


class SyncPolicyChangeListView(generics.ListAPIView):
    """The sync policy's change log, newest first: who changed which setting, old and new."""

    permission_classes = [IsAuthenticated, SyncSettingsPermission]
    serializer_class = SyncPolicyChangeSerializer
    queryset = SyncPolicyChange.objects.select_related("actor")
    filter_backends: list = []

    @extend_schema(operation_id="sync_policy_changes_list", tags=["sync-policy"])
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)
