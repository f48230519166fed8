"""Thin API views of the server-side sync: mailboxes (+ sync, test-connection), email server
profiles, sync runs. Users see their own mailbox and its runs, administrators all; a mailbox
you may not see answers 404. Credentials are write-only.
"""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from fieldsync.mailboxes.api import serializers as s
from fieldsync.mailboxes.conflicts import (
    ChangedSinceConflict,
    conflict_apply_losing_value,
    conflicts_visible_to,
    losing_side,
    rejected_changes_visible_to,
)
from fieldsync.mailboxes.connection import (
    mailbox_discover_collections,
    mailbox_test_connection,
)
from fieldsync.mailboxes.services import (
    can_manage_mailboxes,
    mailbox_create,
    mailbox_guard_confirm,
    mailbox_sync_request,
    mailbox_update,
    mailboxes_visible_to,
    runs_visible_to,
    server_profile_create,
    server_profile_update,
)
from fieldsync.models.mailboxes import (
    EmailServerProfile,
    MailboxStatus,
    RunStatus,
    RunTrigger,
    SyncRun,
)
from fieldsync.models.sync import RejectedChange, SyncConflict
from syncadmin.api import ApiError, ErrorSerializer


class ManageOrReadOwn(BasePermission):
    """Reading: everyone (the queryset keeps it to their own); writing: administrators."""

    message = "Only an administrator may add or change mailboxes and server profiles."

    def has_permission(self, request: Request, view: object) -> bool:
        return request.method in SAFE_METHODS or can_manage_mailboxes(request.user)


class ManageOnly(BasePermission):
    message = "Only an administrator may see or change email server profiles."

    def has_permission(self, request: Request, view: object) -> bool:
        return can_manage_mailboxes(request.user)


class ManageCollections(ManageOnly):
    message = "Only an administrator may discover and choose a mailbox's collections."


def _mailbox_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("owner", "password")}


@extend_schema_view(
    get=extend_schema(operation_id="mailboxes_list", summary="Mailboxes you may see"),
    post=extend_schema(
        operation_id="mailboxes_create",
        summary="Add a user's mailbox (administrators)",
        request=s.MailboxInputSerializer,
        responses={201: s.MailboxOutputSerializer},
    ),
)
class MailboxListView(generics.ListAPIView):
    permission_classes = [IsAuthenticated, ManageOrReadOwn]
    serializer_class = s.MailboxOutputSerializer
    filterset_fields = ["status", "enabled"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return mailboxes_visible_to(self.request.user).order_by("email_address", "pk")

    def post(self, request: Request) -> Response:
        body = s.MailboxInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        mailbox = mailbox_create(
            owner=data["owner"], password=data.get("password", ""), **_mailbox_fields(data)
        )
        return Response(s.MailboxOutputSerializer(mailbox).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(operation_id="mailboxes_retrieve", summary="One mailbox"),
    patch=extend_schema(
        operation_id="mailboxes_partial_update",
        summary="Change a mailbox (administrators); a new password or server ends its back-off",
        request=s.MailboxInputSerializer(partial=True),
        responses=s.MailboxOutputSerializer,
    ),
    delete=extend_schema(operation_id="mailboxes_destroy", summary="Remove a mailbox"),
)
class MailboxDetailView(generics.RetrieveDestroyAPIView):
    permission_classes = [IsAuthenticated, ManageOrReadOwn]
    serializer_class = s.MailboxOutputSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return mailboxes_visible_to(self.request.user)

    def patch(self, request: Request, pk: int) -> Response:
        mailbox = self.get_object()
        body = s.MailboxInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        data.pop("owner", None)  # a mailbox stays with its user
        mailbox = mailbox_update(mailbox=mailbox, password=data.pop("password", None), **data)
        return Response(s.MailboxOutputSerializer(mailbox).data)


class MailboxSyncView(generics.GenericAPIView):
    """Queue a sync of this mailbox now, whatever its back-off (the "Sync now" button)."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.SyncQueuedOutputSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return mailboxes_visible_to(self.request.user)

    @extend_schema(
        operation_id="mailboxes_sync",
        summary="Sync now",
        request=None,
        responses={202: s.SyncQueuedOutputSerializer, 404: ErrorSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        mailbox = self.get_object()
        trigger = RunTrigger.API if request.auth is not None else RunTrigger.MANUAL
        mailbox_sync_request(mailbox=mailbox, trigger=trigger)
        runs = request.build_absolute_uri(reverse("api:sync-run-list")) + f"?mailbox={mailbox.pk}"
        body = {"mailbox": mailbox.pk, "status": MailboxStatus.QUEUED.value, "runs_url": runs}
        return Response(s.SyncQueuedOutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class MailboxConfirmMassChangeView(generics.GenericAPIView):
    """An administrator's go-ahead for a run the mass-change guard stopped; queues a sync."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.ConfirmMassChangeInputSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return mailboxes_visible_to(self.request.user)

    @extend_schema(
        operation_id="mailboxes_confirm_mass_change",
        summary="Confirm a run the mass-change guard stopped",
        request=s.ConfirmMassChangeInputSerializer,
        responses={202: s.SyncQueuedOutputSerializer, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        mailbox = self.get_object()
        data = s.ConfirmMassChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entity = data.validated_data["entity"]
        try:
            mailbox_guard_confirm(mailbox=mailbox, entity=entity, actor=request.user)
        except DjangoValidationError as exc:
            raise ApiError(
                " ".join(exc.messages), code="nothing_to_confirm", fields={"entity": exc.messages}
            ) from None
        runs = request.build_absolute_uri(reverse("api:sync-run-list")) + f"?mailbox={mailbox.pk}"
        body = {"mailbox": mailbox.pk, "status": MailboxStatus.QUEUED.value, "runs_url": runs}
        return Response(s.SyncQueuedOutputSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class MailboxTestConnectionView(generics.GenericAPIView):
    """Sign in to the mailbox's server and open it (on CalDAV/CardDAV: check each collection it
    uses); the server's error, or what is missing or wrong, in words if that fails."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.ConnectionCheckOutputSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return mailboxes_visible_to(self.request.user)

    @extend_schema(
        operation_id="mailboxes_test_connection",
        summary="Test connection",
        request=None,
        responses={200: s.ConnectionCheckOutputSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        check = mailbox_test_connection(mailbox=self.get_object())
        return Response(s.ConnectionCheckOutputSerializer(check).data)


class MailboxCollectionsView(generics.GenericAPIView):
    """The address books and calendars the mailbox's CalDAV/CardDAV server has (discovery), and
    the ones it proposes for the mailbox's contacts, events and tasks; PATCH the mailbox with
    the URLs chosen."""

    permission_classes = [IsAuthenticated, ManageCollections]
    serializer_class = s.DiscoveredCollectionsOutputSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return mailboxes_visible_to(self.request.user)

    @extend_schema(
        operation_id="mailboxes_collections",
        summary="Discover collections (CalDAV/CardDAV)",
        responses={200: s.DiscoveredCollectionsOutputSerializer, 400: ErrorSerializer},
    )
    def get(self, request: Request, pk: int) -> Response:
        mailbox = self.get_object()
        found = mailbox_discover_collections(mailbox=mailbox)
        if found.code == "NotDav":
            raise ApiError(found.message, code="not_dav")
        return Response(s.DiscoveredCollectionsOutputSerializer(found).data)


@extend_schema_view(
    get=extend_schema(operation_id="server_profiles_list", summary="Email server profiles"),
    post=extend_schema(
        operation_id="server_profiles_create",
        summary="Add an email server profile",
        request=s.ServerProfileInputSerializer,
        responses={201: s.ServerProfileOutputSerializer},
    ),
)
class ServerProfileListView(generics.ListAPIView):
    permission_classes = [IsAuthenticated, ManageOnly]
    serializer_class = s.ServerProfileOutputSerializer
    queryset = EmailServerProfile.objects.order_by("name")
    filter_backends: list = []

    def post(self, request: Request) -> Response:
        body = s.ServerProfileInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        data["timezone_name"] = data.pop("timezone")
        profile = server_profile_create(**data)
        return Response(
            s.ServerProfileOutputSerializer(profile).data, status=status.HTTP_201_CREATED
        )


@extend_schema_view(
    get=extend_schema(operation_id="server_profiles_retrieve", summary="One server profile"),
    patch=extend_schema(
        operation_id="server_profiles_partial_update",
        summary="Change a server profile; a new password or URL ends its mailboxes' back-off",
        request=s.ServerProfileInputSerializer(partial=True),
        responses={200: s.ServerProfileOutputSerializer, 400: OpenApiResponse(ErrorSerializer)},
    ),
)
class ServerProfileDetailView(generics.RetrieveAPIView):
    permission_classes = [IsAuthenticated, ManageOnly]
    serializer_class = s.ServerProfileOutputSerializer
    queryset = EmailServerProfile.objects.all()

    def patch(self, request: Request, pk: int) -> Response:
        profile = self.get_object()
        body = s.ServerProfileInputSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        profile = server_profile_update(profile=profile, **body.validated_data)
        return Response(s.ServerProfileOutputSerializer(profile).data)


class SyncRunFilterSet(filters.FilterSet):
    mailbox = filters.NumberFilter(field_name="mailbox_id")
    entity = filters.CharFilter(max_length=40)
    status = filters.ChoiceFilter(choices=RunStatus.choices)
    since = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="gte")
    until = filters.IsoDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = SyncRun
        fields = ["mailbox", "entity", "status", "since", "until"]


@extend_schema_view(
    get=extend_schema(operation_id="sync_runs_list", summary="Sync history, newest first")
)
class SyncRunListView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = s.SyncRunOutputSerializer
    filterset_class = SyncRunFilterSet

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return runs_visible_to(self.request.user).order_by("-started_at", "-pk")


@extend_schema_view(get=extend_schema(operation_id="sync_runs_retrieve", summary="One sync run"))
class SyncRunDetailView(generics.RetrieveAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = s.SyncRunOutputSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return runs_visible_to(self.request.user)


class ConflictFilterSet(filters.FilterSet):
    entity = filters.CharFilter(max_length=40)
    resolved = filters.BooleanFilter(field_name="resolved_on", lookup_expr="isnull", exclude=True)

    class Meta:
        model = SyncConflict
        fields = ["entity", "resolved"]


def _with_losing_side(conflict: SyncConflict) -> SyncConflict:
    conflict.losing_side = losing_side(conflict)  # type: ignore[attr-defined]
    return conflict


@extend_schema_view(
    get=extend_schema(
        operation_id="conflicts_list", summary="Values that lost a conflict, newest first"
    )
)
class ConflictListView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = s.ConflictOutputSerializer
    filterset_class = ConflictFilterSet

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return conflicts_visible_to(self.request.user).order_by("-created_on", "-pk")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        rows = [_with_losing_side(c) for c in page]
        return self.get_paginated_response(s.ConflictOutputSerializer(rows, many=True).data)


@extend_schema_view(get=extend_schema(operation_id="conflicts_retrieve", summary="One conflict"))
class ConflictDetailView(generics.RetrieveAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = s.ConflictOutputSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return conflicts_visible_to(self.request.user)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(s.ConflictOutputSerializer(_with_losing_side(self.get_object())).data)


class ConflictApplyView(generics.GenericAPIView):
    """Write the losing value into the CRM record (with the caller's rights); the owner's
    mailbox is synced next so Exchange gets it too."""

    permission_classes = [IsAuthenticated]
    serializer_class = s.ConflictOutputSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return conflicts_visible_to(self.request.user)

    @extend_schema(
        operation_id="conflicts_apply_losing_value",
        summary="Apply the losing value",
        request=inline_serializer(
            "ConflictApplyInput",
            {
                "current": serializers.JSONField(
                    required=False,
                    help_text="The field's value in the CRM as you saw it: confirms replacing "
                    "it when it changed since the conflict (without it that is a 409).",
                )
            },
        ),
        responses={200: s.ConflictOutputSerializer, 409: ErrorSerializer, 403: ErrorSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        conflict = self.get_object()
        if conflict.resolved_on is not None:
            raise ApiError(
                "The losing value of this conflict was already applied.",
                code="already_resolved",
                status_code=409,
            )
        seen = {"current": request.data["current"]} if "current" in request.data else {}
        try:
            conflict = conflict_apply_losing_value(conflict=conflict, actor=request.user, **seen)
        except ChangedSinceConflict as exc:
            raise ApiError(
                " ".join(exc.messages), code="changed_since_conflict", status_code=409
            ) from exc
        return Response(s.ConflictOutputSerializer(_with_losing_side(conflict)).data)


class RejectedChangeFilterSet(filters.FilterSet):
    entity = filters.CharFilter(max_length=40)
    since = filters.IsoDateTimeFilter(field_name="created_on", lookup_expr="gte")

    class Meta:
        model = RejectedChange
        fields = ["entity", "since"]


@extend_schema_view(
    get=extend_schema(
        operation_id="rejected_changes_list",
        summary="Exchange changes the mailbox's user may not make in the CRM",
    )
)
class RejectedChangeListView(generics.ListAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = s.RejectedChangeOutputSerializer
    filterset_class = RejectedChangeFilterSet

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return rejected_changes_visible_to(self.request.user).order_by("-created_on", "-pk")
