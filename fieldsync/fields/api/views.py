"""Thin API views of the field-sync settings: parse, call one selector or service, render.

Service refusals become the API's error bodies here: stale version 409, disallowed direction
400 naming the allowed ones, missing privilege 403.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import PermissionDenied
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from fieldsync.catalog import CatalogEntity, get_catalog
from fieldsync.fields.api.filters import DirectionChangeFilterSet
from fieldsync.fields.api.serializers import (
    DIRECTIONS,
    DirectionChangeOutputSerializer,
    EntityOutputSerializer,
    FieldDirectionInputSerializer,
    FieldRowOutputSerializer,
    FieldsBulkInputSerializer,
    UpdateResultOutputSerializer,
)
from fieldsync.fields.selectors import FieldRow, entity_field_rows
from fieldsync.fields.services import (
    DirectionNotAllowed,
    StaleSettings,
    UnknownField,
    UpdateResult,
    field_directions_update,
    settings_version,
)
from fieldsync.models import DirectionChange, EntitySyncSettings
from security import policy
from syncadmin.api import ApiError, ErrorSerializer


class SyncSettingsPermission(BasePermission):
    """Reading needs the settings-read privilege (every user); writing the settings-write one."""

    message = "You may view the synchronization settings but not change them."

    def has_permission(self, request: Request, view: object) -> bool:
        if request.method in SAFE_METHODS:
            return policy.has_privilege(request.user, policy.SYNC_SETTINGS, policy.Action.READ)
        return policy.can_change_sync_settings(request.user)


def _entity_or_404(key: str) -> CatalogEntity:
    try:
        return get_catalog().entity(key)
    except KeyError as exc:
        raise NotFound(str(exc.args[0])) from None


def _apply(
    request: Request, *, entity: str, changes: Mapping[str, str], base_version: int
) -> UpdateResult:
    """Call the settings service and turn its refusals into API errors."""
    try:
        return field_directions_update(
            entity=entity,
            changes=changes,
            base_version=base_version,
            actor=request.user,
            source=DirectionChange.Source.API,
        )
    except PermissionDenied:
        raise
    except StaleSettings as exc:
        raise ApiError(
            str(exc),
            code="stale_version",
            status_code=409,
            details={
                "your_version": base_version,
                "current_version": exc.current_version,
                "changes": DirectionChangeOutputSerializer(exc.changes, many=True).data,
            },
        ) from None
    except DirectionNotAllowed as exc:
        allowed = [d.value for d in exc.allowed]
        raise ApiError(
            str(exc),
            code="direction_not_allowed",
            fields={"direction": [str(exc)]},
            details={"crm_field": exc.crm_field, "allowed_directions": allowed},
        ) from None
    except UnknownField as exc:
        raise ApiError(str(exc), code="unknown_field", fields={"crm_field": [str(exc)]}) from None


def _row_or_404(entity: str, crm_field: str) -> tuple[int, FieldRow]:
    version, rows = entity_field_rows(entity=entity)
    for row in rows:
        if row.field.crm_field == crm_field:
            return version, row
    label = get_catalog().entity(entity).label
    raise NotFound(f"{label} has no synchronized field {crm_field!r}.")


_STALE = OpenApiResponse(ErrorSerializer, description="Stale version: error.details.changes.")
_ENTITY = OpenApiParameter(
    "entity",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    enum=[e.key for e in get_catalog().entities],
    description="The entity's key.",
)


class EntityListView(generics.GenericAPIView):
    """The synchronized entities with their field counts and settings versions."""

    permission_classes = [IsAuthenticated, SyncSettingsPermission]
    filter_backends: list = []

    def _render(self, request: Request, entities: list[CatalogEntity]) -> list[dict]:
        versions = dict(EntitySyncSettings.objects.values_list("entity", "version"))
        return [
            {
                "key": e.key,
                "label": e.label,
                "crm_model": e.crm_model,
                "field_count": len(e.fields),
                "settable_field_count": sum(1 for f in e.fields if f.settable),
                "version": versions.get(e.key, 1),
                "fields_url": request.build_absolute_uri(
                    reverse("api:entity-fields", kwargs={"entity": e.key})
                ),
            }
            for e in entities
        ]

    @extend_schema(
        operation_id="entities_list",
        summary="The synchronized entities",
        responses=EntityOutputSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(list(get_catalog().entities))
        data = EntityOutputSerializer(self._render(request, page), many=True).data
        return self.get_paginated_response(data)


class EntityDetailView(EntityListView):
    @extend_schema(
        operation_id="entities_retrieve",
        summary="One synchronized entity",
        parameters=[_ENTITY],
        responses=EntityOutputSerializer,
    )
    def get(self, request: Request, entity: str) -> Response:  # type: ignore[override]
        data = self._render(request, [_entity_or_404(entity)])[0]
        return Response(EntityOutputSerializer(data).data)


class EntityFieldsView(generics.GenericAPIView):
    """All fields of one entity (GET) and the OK button: many directions in one save (PUT)."""

    permission_classes = [IsAuthenticated, SyncSettingsPermission]
    filter_backends: list = []

    @extend_schema(
        operation_id="entity_fields_list",
        summary="The Synchronized fields table of one entity (read-only for end users)",
        parameters=[
            _ENTITY,
            OpenApiParameter("direction", OpenApiTypes.STR, enum=DIRECTIONS),
            OpenApiParameter("settable", OpenApiTypes.BOOL),
        ],
        responses=FieldRowOutputSerializer(many=True),
    )
    def get(self, request: Request, entity: str) -> Response:
        _entity_or_404(entity)
        version, rows = entity_field_rows(entity=entity)
        direction = request.query_params.get("direction")
        if direction:
            rows = [r for r in rows if r.direction.value == direction]
        settable = request.query_params.get("settable")
        if settable in ("true", "false", "1", "0"):
            rows = [r for r in rows if r.field.settable == (settable in ("true", "1"))]
        page = self.paginate_queryset(rows)
        data = FieldRowOutputSerializer(page, many=True, context={"version": version}).data
        return self.get_paginated_response(data)

    @extend_schema(
        operation_id="entity_fields_bulk_update",
        summary="Save many directions in one transaction (the OK button)",
        description="Carries the settings `version` the client read; if someone saved since, "
        "nothing is saved and the answer is 409 with their changes in `error.details.changes`.",
        parameters=[_ENTITY],
        request=FieldsBulkInputSerializer,
        responses={200: UpdateResultOutputSerializer, 409: _STALE},
    )
    def put(self, request: Request, entity: str) -> Response:
        _entity_or_404(entity)
        body = FieldsBulkInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changes = {r["crm_field"]: r["direction"] for r in body.validated_data["fields"]}
        result = _apply(
            request, entity=entity, changes=changes, base_version=body.validated_data["version"]
        )
        return Response(UpdateResultOutputSerializer(result).data)


class EntityFieldView(generics.GenericAPIView):
    """One field's row (GET) and one arrow click (PATCH)."""

    permission_classes = [IsAuthenticated, SyncSettingsPermission]
    filter_backends: list = []

    @extend_schema(
        operation_id="entity_fields_retrieve",
        summary="One field's row",
        parameters=[_ENTITY],
        responses=FieldRowOutputSerializer,
    )
    def get(self, request: Request, entity: str, crm_field: str) -> Response:
        _entity_or_404(entity)
        version, row = _row_or_404(entity, crm_field)
        return Response(FieldRowOutputSerializer(row, context={"version": version}).data)

    @extend_schema(
        operation_id="entity_fields_partial_update",
        summary="Change one field's direction (one arrow click)",
        parameters=[_ENTITY],
        request=FieldDirectionInputSerializer,
        responses={200: FieldRowOutputSerializer, 409: _STALE},
    )
    def patch(self, request: Request, entity: str, crm_field: str) -> Response:
        _entity_or_404(entity)
        _row_or_404(entity, crm_field)
        body = FieldDirectionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        base_version = body.validated_data.get("version") or settings_version(entity=entity)
        _apply(
            request,
            entity=entity,
            changes={crm_field: body.validated_data["direction"]},
            base_version=base_version,
        )
        version, row = _row_or_404(entity, crm_field)
        return Response(FieldRowOutputSerializer(row, context={"version": version}).data)


class AuditListView(generics.ListAPIView):
    """The settings audit log, newest first: who changed which direction, when and how."""

    permission_classes = [IsAuthenticated, SyncSettingsPermission]
    queryset = DirectionChange.objects.select_related("actor")
    serializer_class = DirectionChangeOutputSerializer
    filterset_class = DirectionChangeFilterSet

    @extend_schema(operation_id="audit_list", summary="The settings audit log")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)
