"""Thin API view of the Outlook client path: GET a page of changes since a cursor, POST a batch
of client changes under an Idempotency-Key. The services are fieldsync.client.pull/_push.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldsync.client.api import serializers as s
from fieldsync.client.common import ENTITIES, ClientSyncRefused
from fieldsync.client.pull import MAX_PAGE_SIZE, client_changes_read
from fieldsync.client.push import (
    ClientChange,
    client_changes_apply,
    legacy_request_hash,
    request_hash,
)
from syncadmin.api import ApiError, ErrorSerializer

_ENTITY = OpenApiParameter(
    "entity", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(ENTITIES), description="Type."
)
_REFUSALS = {
    409: OpenApiResponse(
        ErrorSerializer,
        description="The user's mailbox syncs this entity server-side, or not at all.",
    ),
}


def _refused(exc: ClientSyncRefused) -> ApiError:
    return ApiError(str(exc), code=exc.code, status_code=exc.status)


class ClientChangesView(APIView):
    """The Outlook client path: an add-in (or any client with a local copy) keeps one entity in
    sync with the CRM under the same field rules, conflicts and history as server-side sync."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="client_sync_changes_read",
        summary="Changes for an Outlook client since its cursor",
        description="Records in your sync scope (the sync filter, the Sync privilege and read "
        "access) changed since `cursor`, with only the columns sent to Outlook that you may "
        "read, and the records to drop. No cursor: an initial sync. Repeat with `next_cursor` "
        "while `has_more`; keep the last `next_cursor` for the next sync. Re-sending a cursor "
        "(a lost answer) gives the same page again. Each record of the calendar and tasks "
        "entities carries `activity_type`: phone calls, letters and faxes are Outlook tasks "
        "and service activities Outlook appointments, told apart by it as server-side sync "
        "tells them apart; service activities are sent one way (CRM to Outlook).",
        tags=["client sync"],
        parameters=[
            _ENTITY,
            OpenApiParameter("cursor", OpenApiTypes.STR, description="From the previous page."),
            OpenApiParameter(
                "page_size",
                OpenApiTypes.INT,
                description=f"Records and removals a page (default 100, at most {MAX_PAGE_SIZE}).",
            ),
        ],
        responses={
            200: s.ClientChangesOutputSerializer,
            **_REFUSALS,
            410: OpenApiResponse(
                ErrorSerializer, description="The cursor expired: sync again without one."
            ),
        },
    )
    def get(self, request: Request, entity: str) -> Response:
        cursor = request.query_params.get("cursor") or None
        size = request.query_params.get("page_size", "100")
        if not size.isdigit() or not 1 <= int(size) <= MAX_PAGE_SIZE:
            raise ApiError(
                f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}.",
                code="invalid",
                fields={"page_size": [f"From 1 to {MAX_PAGE_SIZE}."]},
            )
        try:
            page = client_changes_read(
                user=request.user, entity=entity, cursor=cursor, page_size=int(size)
            )
        except ClientSyncRefused as exc:
            raise _refused(exc) from None
        return Response(dataclasses.asdict(page))

    @extend_schema(
        operation_id="client_sync_changes_apply",
        summary="Apply an Outlook client's changes",
        description="Each item names the version it was based on. Columns whose direction does "
        "not take Outlook values, or that you may not change, are not applied and are reported "
        "per column (the latter recorded as rejected changes); a column changed in the CRM "
        "since that version follows the organization's conflict policy and is recorded as a "
        "conflict. An item's `activity_type` decides which record it is within the endpoint's "
        "folder (a task item with `phone_call` is a phone call; without one, the endpoint's "
        "entity), each under that entity's rules and rights; a service activity is never "
        "written into the CRM (its items are refused, one by one, with the reason). The same "
        "batch with the same Idempotency-Key answers the same and changes nothing (a secured "
        "column's value only where you may still read it and the record still holds it); "
        "another batch with a used key is refused (422).",
        tags=["client sync"],
        parameters=[
            _ENTITY,
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=True,
                description="A new random key per batch (e.g. a UUID), the same on a retry.",
            ),
        ],
        request=s.ClientBatchInputSerializer,
        responses={
            200: s.ClientBatchOutputSerializer,
            **_REFUSALS,
            422: OpenApiResponse(
                ErrorSerializer, description="The Idempotency-Key was used for another batch."
            ),
        },
    )
    def post(self, request: Request, entity: str) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key or len(key) > 255:
            raise ApiError(
                "Send an Idempotency-Key header (1 to 255 characters, e.g. a UUID), new for "
                "each batch and the same when retrying it.",
                code="idempotency_key_required",
            )
        body = s.ClientBatchInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data: dict[str, Any] = body.validated_data
        changes = [
            ClientChange(
                ref=item["ref"],
                crm_id=str(item["id"]) if item["id"] else None,
                version=item["version"],
                values=item["values"],
                deleted=item["deleted"],
                modified_on=item["modified_on"],
                activity_type=item["activity_type"],
            )
            for item in data["changes"]
        ]
        try:
            answer, replayed = client_changes_apply(
                user=request.user,
                entity=entity,
                changes=changes,
                cursor=data["cursor"] or None,
                key=key,
                body_hash=request_hash(entity, request.data),
                legacy_hash=legacy_request_hash(entity, request.data),
            )
        except ClientSyncRefused as exc:
            raise _refused(exc) from None
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return Response(answer, headers=headers)
