"""The OpenAPI schema generator: drf-spectacular's, plus the shared error responses.

Separate from syncadmin/api.py because drf-spectacular imports rest_framework.views.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema

from .api import ErrorSerializer

_ERROR_RESPONSES = {
    "400": "The input is invalid (see error.fields).",
    "401": "Not authenticated: send a session cookie or `Authorization: Token <key>`.",
    "403": "Authenticated but not allowed.",
    "404": "Not found, or not visible to you.",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "415": "Unsupported media type.",
    "429": "Too many requests from this token (see Retry-After).",
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema plus the shared error responses on every operation."""

    def _get_response_bodies(self, direction="response"):  # type: ignore[no-untyped-def]
        responses = super()._get_response_bodies(direction)
        codes = set(_ERROR_RESPONSES)
        if self.method == "GET":
            codes -= {"415"}
        for code in sorted(codes):
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    ErrorSerializer, code, direction=direction
                )
                responses[code]["description"] = _ERROR_RESPONSES[code]
        return responses
