"""REST API plumbing shared by every app's API: one error body, pagination, throttling, parsing.

Wired in through settings.REST_FRAMEWORK. It must not import rest_framework.views at module
level (that module reads these settings while it loads); the schema class is in api_schema.py.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_filters.fields import IsoDateTimeField
from django_filters.filters import IsoDateTimeFilter
from rest_framework import exceptions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.metadata import SimpleMetadata
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle


class ApiError(exceptions.APIException):
    """An API refusal with a stable `code` and optional machine-readable `details`."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status_code: int = 400,
        fields: dict[str, list[str]] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.fields = fields
        self.details = details


def error_body(
    code: str,
    message: str,
    fields: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The one shape of every 4xx body: {"error": {"code", "message", "fields"?, "details"?}}."""
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    if details:
        error["details"] = details
    return {"error": error}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
        return ""
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else ""
    return str(detail)


TOO_LARGE = "The request body is larger than the server accepts."


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, then the body rewritten to the one error shape. 5xx stay unhandled."""
    # Imported here: rest_framework.views reads the settings that name this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, OverflowError | DataError):
        # A number or date beyond what the database stores (a 64-bit id, a date whose
        # offset falls off the calendar) reached a query: the caller's input, not a crash.
        exc = ApiError("A number or date in the request is out of range.", code="out_of_range")
    elif isinstance(exc, RequestDataTooBig):
        exc = ApiError(TOO_LARGE, code="too_large", status_code=413)
    elif isinstance(exc, DjangoValidationError):
        # A model's full_clean() refusal (constraints, choices) is the caller's bad input.
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied) and not isinstance(exc, ApiError):
        exc = exceptions.PermissionDenied(*exc.args)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        response.data = error_body(exc.error_code, str(exc.detail), exc.fields, exc.details)
    elif isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            fields = {k: v for k, v in detail.items() if k != api_settings.NON_FIELD_ERRORS_KEY}
            general = detail.get(api_settings.NON_FIELD_ERRORS_KEY)
            message = _first_message(general) if general else "Some fields are invalid."
            if fields and not general:
                names = ", ".join(fields)
                message = f"Invalid input in: {names}. {_first_message(fields)}"
            response.data = error_body("invalid", message, fields or None)
        else:
            response.data = error_body("invalid", _first_message(detail) or "Invalid input.")
    else:
        code = exc.get_codes()
        code = code if isinstance(code, str) else "error"
        details = None
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            details = {"retry_after": int(exc.wait)}
        response.data = error_body(code, _first_message(response.data), None, details)
    return response


@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/v1/ answer the API's 404 body, not Django's HTML page, for
    every method (a POST is not refused for its CSRF token first: nothing is there)."""
    hint = "" if request.path.endswith("/") else " (API paths end with a slash)"
    return JsonResponse(
        error_body("not_found", f"No API endpoint at {request.path}{hint}."), status=404
    )


class Pagination(PageNumberPagination):
    """Pages of 100 by default; ?page_size= up to 1000 for scripts that want fewer round trips."""

    page_size_query_param = "page_size"
    max_page_size = 1000


class Metadata(SimpleMetadata):
    """OPTIONS answers name, description and media types; the OpenAPI schema describes the
    inputs (DRF's default would build serializers, and look objects up, for every OPTIONS)."""

    def determine_metadata(self, request, view):  # type: ignore[no-untyped-def]
        metadata = super().determine_metadata(request, view)
        metadata.pop("actions", None)
        return metadata

    def determine_actions(self, request, view):  # type: ignore[no-untyped-def]
        return {}


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, converted to UTC. PostgreSQL refuses offsets beyond +-15:59
    that Python accepts, and a conversion can fall off the calendar: both are the caller's
    bad input (400), not a database error."""

    def to_python(self, value):  # type: ignore[no-untyped-def]
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed
        except OverflowError:
            raise DjangoValidationError("Date-time out of range.", code="invalid") from None


class UtcIsoDateTimeFilter(IsoDateTimeFilter):
    """django-filter's ISO 8601 filter with UtcIsoDateTimeField."""

    field_class = UtcIsoDateTimeField


class StrictJSONParser(JSONParser):
    """JSON whose strings can be stored: lone surrogates and NUL characters (which PostgreSQL
    cannot keep in text or jsonb) are refused as a parse error (400) instead of failing later
    in the database driver (500)."""

    def parse(self, stream, media_type=None, parser_context=None):  # type: ignore[no-untyped-def]
        request = (parser_context or {}).get("request")
        if request is not None and _too_large(request.META.get("CONTENT_LENGTH")):
            raise ApiError(TOO_LARGE, code="too_large", status_code=413)
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply.") from None
        if _depth_over(data, MAX_JSON_DEPTH):
            raise exceptions.ParseError(
                f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."
            )
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise exceptions.ParseError("JSON parse error - strings must be valid UTF-8.") from None
        if _has_nul(data):
            raise exceptions.ParseError(
                "JSON parse error - strings must not contain NUL (\\u0000)."
            )
        return data


def _too_large(content_length: str | None) -> bool:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        return limit is not None and int(content_length or 0) > limit
    except ValueError:
        return False


# No request of this API nests deeper; a deep one would only cost recursion further on.
MAX_JSON_DEPTH = 32


def _depth_over(value: object, limit: int) -> bool:
    if limit < 0:
        return True
    if isinstance(value, dict):
        return any(_depth_over(v, limit - 1) for v in value.values())
    if isinstance(value, list):
        return any(_depth_over(v, limit - 1) for v in value)
    return False


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class TokenClientThrottle(UserRateThrottle):
    """Rate limit for requests authenticated by an API token (scripts and integrations).

    Browser sessions are not limited: a person clicking cannot flood the server. The rate is
    read per request so that settings overrides apply (DRF binds the rates at import).
    """

    scope = "token"

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        if not isinstance(request.auth, Token):
            return True
        return super().allow_request(request, view)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.JSONField(), required=False, help_text="Errors per input field."
    )
    details = serializers.DictField(
        child=serializers.JSONField(), required=False, help_text="Facts to act on."
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx response."""

    error = ErrorDetailSerializer()
