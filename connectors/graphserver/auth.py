"""The test server's stand-in for Entra ID: tenants, app registrations (client secret or
certificate), application permissions, admin consent, RBAC-for-Applications mailbox scopes, and
the client-credentials token endpoint with Entra's AADSTS errors.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from dataclasses import dataclass, field

import jwt

from ..bearer import EWS_ROLE, GRAPH_RESOURCE, TokenSigner

ALL_PERMISSIONS = (
    "Contacts.ReadWrite",
    "Calendars.ReadWrite",
    "Tasks.ReadWrite.All",
    "MailboxSettings.ReadWrite",
)


@dataclass
class App:
    """One app registration in one tenant."""

    tenant: str
    client_id: str
    secret: str | None = None
    thumbprint: str | None = None  # SHA-1, hex, as the Entra portal shows it
    public_key: str | None = None  # PEM of the certificate's public key (checks the signature)
    certificate_expired: bool = False
    permissions: set[str] = field(default_factory=lambda: set(ALL_PERMISSIONS))
    consented: bool = True
    mailboxes: set[str] | None = None  # RBAC for Applications scope; None: every mailbox

    @property
    def roles(self) -> list[str]:
        return sorted(self.permissions) if self.consented else []


class TokenError(Exception):
    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description

    def body(self) -> dict:
        return {
            "error": self.error,
            "error_description": f"AADSTS{self.code}: {self.description}",
            "error_codes": [self.code],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }


class Directory:
    """Tenants and apps; issues and checks access tokens (HS256, this server's key)."""

    def __init__(self, apps: list[App] | None = None, token_lifetime: int = 3600) -> None:
        self.apps: dict[tuple[str, str], App] = {}
        self.tenants: set[str] = set()
        self.signer = TokenSigner()
        self.token_lifetime = token_lifetime
        self.issued = 0
        for app in apps or []:
            self.add(app)

    def add(self, app: App) -> None:
        self.tenants.add(app.tenant.lower())
        self.apps[(app.tenant.lower(), app.client_id.lower())] = app

    def app(self, tenant: str, client_id: str) -> App | None:
        return self.apps.get((tenant.lower(), client_id.lower()))

    def check_tenant(self, tenant: str) -> None:
        if tenant.lower() not in self.tenants:
            raise TokenError(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud.",
            )

    def openid_configuration(self, tenant: str, login_host: str) -> dict:
        self.check_tenant(tenant)
        base = f"https://{login_host}/{tenant}"
        return {
            "issuer": f"https://login.microsoftonline.com/{tenant}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "tenant_region_scope": "EU",
        }

    def token(self, tenant: str, form: dict[str, str], audience: str) -> dict:
        """The client-credentials grant; raises TokenError with Entra's code and words."""
        self.check_tenant(tenant)
        if form.get("grant_type") != "client_credentials":
            raise TokenError(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        client_id = form.get("client_id", "")
        app = self.app(tenant, client_id)
        if app is None:
            raise TokenError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'.",
            )
        scope = form.get("scope", "")
        if not any(s.endswith("/.default") for s in scope.split()):
            raise TokenError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must "
                "have a scope value with /.default suffixed to the resource identifier.",
            )
        if "client_assertion" in form:
            self._check_assertion(app, form["client_assertion"])
        elif form.get("client_secret") is not None:
            if app.secret is None or not secrets.compare_digest(
                app.secret.encode(), form["client_secret"].encode()
            ):
                raise TokenError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    f"is the client secret value, not the client secret ID, for a secret added to "
                    f"app '{app.client_id}'.",
                )
        else:
            raise TokenError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "appid": app.client_id,
            "tid": tenant,
            "roles": app.roles if audience == GRAPH_RESOURCE else self._other_roles(app),
            "idtyp": "app",
            "jti": uuid.uuid4().hex,
        }
        self.issued += 1
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": self.signer.issue(claims),
        }

    @staticmethod
    def _other_roles(app: App) -> list[str]:
        """For another resource (EWS): full_access_as_app, once consented."""
        return [EWS_ROLE] if app.consented else []

    def _check_assertion(self, app: App, assertion: str) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as e:
            raise TokenError(
                401, "invalid_client", 50027, f"JWT token is invalid or malformed: {e}"
            ) from e
        thumb = app.thumbprint or ""
        want = base64.urlsafe_b64encode(bytes.fromhex(thumb)).decode().rstrip("=") if thumb else ""
        if not want or str(header.get("x5t", "")).rstrip("=") != want:
            raise TokenError(
                401,
                "invalid_client",
                700027,
                f"The certificate with identifier used to sign the client assertion is not "
                f"registered on application. [Reason - The key was not found., Thumbprint of key "
                f"used by client: '{header.get('x5t', '')}']",
            )
        if app.certificate_expired:
            raise TokenError(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is expired on "
                "application.",
            )
        if app.public_key:
            try:
                jwt.decode(
                    assertion,
                    app.public_key,
                    algorithms=["RS256", "PS256"],
                    options={"verify_aud": False},
                )
            except jwt.PyJWTError as e:
                raise TokenError(
                    401,
                    "invalid_client",
                    700027,
                    f"Client assertion failed signature validation. ({e})",
                ) from e

    def verify(self, token: str, audience: str) -> dict | None:
        """The claims of a token this server issued (None: unknown, forged or expired)."""
        return self.signer.verify(token, audience)
