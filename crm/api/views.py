"""CRUD API of the CRM records: one base viewset that applies the security policy, and one
viewset per record type made from it by `record_viewset` (RECORD_APIS says which model,
serializers, filters and URL prefix). No view carries permission code of its own.

Records the caller may not read answer 404; columns they may not read are left out; writes go
through crm.services, which refuses (403) what record or field security forbids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crm.models import (
    Appointment,
    AppointmentException,
    Contact,
    CrmRecord,
    Fax,
    Letter,
    PhoneCall,
    RecurringAppointment,
    ServiceActivity,
    Task,
)
from crm.services import (
    FieldSecurityDenied,
    exception_delete,
    exception_save,
    record_columns_check,
    record_create,
    record_delete,
    record_update,
)
from security import policy
from syncadmin.api import ApiError

from . import filters
from . import serializers as s

_FIELD_REFUSED = "Field security does not let you write this field."


class RecordViewSet(viewsets.GenericViewSet):
    """List, read, create, update and delete records of `model` as the policy allows."""

    model: ClassVar[type[CrmRecord]]
    output_serializer: ClassVar[type[s.RecordOutputSerializer]]
    input_serializer: ClassVar[type[s.RecordInputSerializer]]
    filter_backends = [filters.FieldSecurityFilterBackend]
    lookup_value_regex = "[^/]+"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Asked once per request: the list, the filters and the serializer all use it.
        self.field_access = policy.field_access(request.user, self.model.ENTITY)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        # Only what the output shows of the owner and unit (not the password hash and co).
        related = ("owner__id", "owner__username", "business_unit__id", "business_unit__name")
        queryset = self.model.objects.select_related("owner", "business_unit").only(
            *(f.name for f in self.model._meta.concrete_fields), *related
        )
        queryset = policy.restrict(queryset, self.request.user, policy.Action.READ)
        return queryset.order_by(*self._ordering())

    def _ordering(self) -> list[str]:
        # Sorting by a column the caller may not read would reveal its values' order.
        hidden = self.field_access.hidden()
        return [c for c in self.model._meta.ordering if c.lstrip("-") not in hidden] + ["pk"]

    def _render(self, data: Any, **kwargs: Any) -> Any:
        context = {"request": self.request, "hidden_columns": self.field_access.hidden()}
        return self.output_serializer(data, context=context, **kwargs).data

    def _check_sent_columns(self, request: Request, *, creating: bool) -> None:
        if not isinstance(request.data, Mapping):
            return
        sent = [c for c in s.data_columns(self.model) if c in request.data]
        self._refuse_fields(
            record_columns_check,
            model=self.model,
            columns=sent,
            actor=request.user,
            creating=creating,
        )

    @staticmethod
    def _refuse_fields(func: Any, **kwargs: Any) -> Any:
        try:
            return func(**kwargs)
        except FieldSecurityDenied as exc:
            raise ApiError(
                str(exc.args[0]),
                code="field_not_writable",
                status_code=403,
                fields={c: [_FIELD_REFUSED] for c in exc.columns},
            ) from None

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self._render(page, many=True))

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self._render(self.get_object()))

    def create(self, request: Request) -> Response:
        self._check_sent_columns(request, creating=True)
        body = self.input_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        record = self._refuse_fields(
            record_create, model=self.model, values=body.validated_data, actor=request.user
        )
        return Response(self._render(record), status=status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str, partial: bool = False) -> Response:
        record = self.get_object()
        self._check_sent_columns(request, creating=False)
        body = self.input_serializer(record, data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        record = self._refuse_fields(
            record_update, record=record, values=body.validated_data, actor=request.user
        )
        return Response(self._render(record))

    def partial_update(self, request: Request, pk: str) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str) -> Response:
        record_delete(record=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _documented(tag: str, out: type, inp: type):  # type: ignore[no-untyped-def]
    """The OpenAPI description of a RecordViewSet subclass: its input and output shapes."""
    return extend_schema_view(
        list=extend_schema(tags=[tag], responses=out(many=True)),
        retrieve=extend_schema(tags=[tag], responses=out),
        create=extend_schema(tags=[tag], request=inp, responses={201: out}),
        update=extend_schema(tags=[tag], request=inp, responses=out),
        partial_update=extend_schema(tags=[tag], request=inp, responses=out),
        destroy=extend_schema(tags=[tag], responses={204: None}),
    )


# A record type of series (recurring appointments): its records, plus their changed and
# cancelled occurrences under /exceptions/. (No docstring: the API documentation of its
# operations is RecordViewSet's, as for every record type.)
class SeriesViewSet(RecordViewSet):
    def get_queryset(self):  # type: ignore[no-untyped-def]
        return super().get_queryset().prefetch_related("exceptions")

    def _render_exceptions(self, data: Any, **kwargs: Any) -> Any:
        context = {"request": self.request, "hidden_columns": self.field_access.hidden()}
        return s.AppointmentExceptionSerializer(data, context=context, **kwargs).data

    @extend_schema(
        tags=["recurring-appointments"],
        request=s.AppointmentExceptionSerializer,
        responses={200: s.AppointmentExceptionSerializer(many=True)},
        description="GET: the series' changed and cancelled occurrences. POST: change or cancel "
        "the occurrence at original_start (replaces what was recorded for it).",
    )
    @action(detail=True, methods=["get", "post"], url_path="exceptions")
    def exceptions(self, request: Request, pk: str) -> Response:
        series = self.get_object()
        if request.method == "GET":
            return Response(self._render_exceptions(series.exceptions.all(), many=True))
        body = s.AppointmentExceptionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        exception = self._refuse_fields(
            exception_save, series=series, values=body.validated_data, actor=request.user
        )
        return Response(self._render_exceptions(exception), status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["recurring-appointments"],
        responses={204: None},
        description="Put the occurrence back to what the pattern says.",
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"exceptions/(?P<exception_id>[0-9a-fA-F-]{36})",
    )
    def delete_exception(self, request: Request, pk: str, exception_id: str) -> Response:
        series = self.get_object()
        exception = AppointmentException.objects.filter(series=series, pk=exception_id).first()
        if exception is None:
            raise ApiError(
                "This series has no changed or cancelled occurrence with that id.",
                code="not_found",
                status_code=404,
            )
        exception_delete(exception=exception, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@dataclass(frozen=True)
class RecordApi:
    """One record type's API: its URL prefix (also its OpenAPI tag), route name, model,
    serializers and list filters."""

    prefix: str
    basename: str
    model: type[CrmRecord]
    output: type[s.RecordOutputSerializer]
    input: type[s.RecordInputSerializer]
    filterset: type[filters.RecordFilterSet]
    base: type[RecordViewSet] = RecordViewSet


RECORD_APIS: tuple[RecordApi, ...] = (
    RecordApi(
        "contacts",
        "contact",
        Contact,
        s.ContactOutputSerializer,
        s.ContactInputSerializer,
        filters.ContactFilterSet,
    ),
    RecordApi(
        "appointments",
        "appointment",
        Appointment,
        s.AppointmentOutputSerializer,
        s.AppointmentInputSerializer,
        filters.AppointmentFilterSet,
    ),
    RecordApi(
        "recurring-appointments",
        "recurring-appointment",
        RecurringAppointment,
        s.RecurringAppointmentOutputSerializer,
        s.RecurringAppointmentInputSerializer,
        filters.RecurringAppointmentFilterSet,
        base=SeriesViewSet,
    ),
    RecordApi(
        "tasks", "task", Task, s.TaskOutputSerializer, s.TaskInputSerializer, filters.TaskFilterSet
    ),
    RecordApi(
        "phone-calls",
        "phone-call",
        PhoneCall,
        s.PhoneCallOutputSerializer,
        s.PhoneCallInputSerializer,
        filters.PhoneCallFilterSet,
    ),
    RecordApi(
        "letters",
        "letter",
        Letter,
        s.LetterOutputSerializer,
        s.LetterInputSerializer,
        filters.LetterFilterSet,
    ),
    RecordApi(
        "faxes", "fax", Fax, s.FaxOutputSerializer, s.FaxInputSerializer, filters.FaxFilterSet
    ),
    RecordApi(
        "service-activities",
        "service-activity",
        ServiceActivity,
        s.ServiceActivityOutputSerializer,
        s.ServiceActivityInputSerializer,
        filters.ServiceActivityFilterSet,
    ),
)


def record_viewset(api: RecordApi) -> type[RecordViewSet]:
    """The viewset of one record type (named <Model>ViewSet), documented for OpenAPI."""
    name = f"{api.model.__name__}ViewSet"
    viewset = type(
        name,
        (api.base,),
        {
            "__module__": __name__,
            "__qualname__": name,
            "model": api.model,
            "output_serializer": api.output,
            "input_serializer": api.input,
            "filterset_class": api.filterset,
        },
    )
    return _documented(api.prefix, api.output, api.input)(viewset)


VIEWSETS: dict[str, type[RecordViewSet]] = {api.prefix: record_viewset(api) for api in RECORD_APIS}
ContactViewSet = VIEWSETS["contacts"]  # by name, for a test that breaks one on purpose
