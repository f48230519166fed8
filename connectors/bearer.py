"""Access tokens of the test servers' stand-in for Entra ID: the Graph test server's token
endpoint issues them (HS256 JWTs under one key) and both test servers accept them, the Graph
test server for Microsoft Graph and the EWS test server for EWS with OAuth 2.0."""

from __future__ import annotations

import secrets

import jwt

GRAPH_RESOURCE = "https://graph.microsoft.com"
EWS_ROLE = "full_access_as_app"  # the application permission EWS app-only access needs


class TokenSigner:
    """Signs and checks the access tokens of one directory (a key per directory)."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)

    def issue(self, claims: dict) -> str:
        return jwt.encode(claims, self.key, algorithm="HS256")

    def verify(self, token: str, audience: str | None = None) -> dict | None:
        """The claims of a token this directory issued, for `audience` (None: any audience
        but Microsoft Graph's); None if unknown, forged, expired or for another resource."""
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=["HS256"],
                audience=audience,
                options={"verify_aud": audience is not None},
            )
        except jwt.PyJWTError:
            return None
        if audience is None and str(claims.get("aud", "")).rstrip("/") == GRAPH_RESOURCE:
            return None  # a Graph token is no key to EWS
        return claims
