"""The Graph test server's identity side over HTTP: Entra's token and OpenID endpoints, the
instance discovery answer, and the bearer token checked on every Graph request.
"""

from __future__ import annotations

from .auth import GRAPH_RESOURCE, TokenError
from .protocol import GraphError

# Entra's instance discovery answer (msal asks for it to know the authority's aliases).
INSTANCE_METADATA = {
    "tenant_discovery_endpoint": "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
    "api-version": "1.1",
    "metadata": [
        {
            "preferred_network": "login.microsoftonline.com",
            "preferred_cache": "login.windows.net",
            "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com"],
        }
    ],
}


class SignIn:
    """Token endpoints and bearer checks: a mixin of GraphServer."""

    def handle_token(self, tenant: str, form: dict[str, str]) -> tuple[int, dict]:
        self._count("token")
        try:
            return 200, self.directory.token(tenant, form, _audience(form.get("scope", "")))
        except TokenError as e:
            return e.status, e.body()

    def handle_openid(self, tenant: str) -> tuple[int, dict]:
        try:
            return 200, self.directory.openid_configuration(tenant, "login.microsoftonline.com")
        except TokenError as e:
            return e.status, e.body()

    def authenticate(self, header: str) -> dict:
        if not header.startswith("Bearer "):
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token is empty.",
                {"WWW-Authenticate": "Bearer"},
            )
        claims = self.directory.verify(header[7:], GRAPH_RESOURCE)
        if claims is None:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
                {"WWW-Authenticate": "Bearer"},
            )
        return claims


def _audience(scope: str) -> str:
    """The resource a client-credentials scope asks for (…/.default): Graph's, or another's
    (EWS: https://outlook.office365.com, or an on-premises server's origin)."""
    for part in scope.split():
        if part.endswith("/.default"):
            return part[: -len("/.default")].rstrip("/")
    return GRAPH_RESOURCE
