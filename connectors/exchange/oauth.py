"""EWS with OAuth 2.0 (client credentials), for hybrid and on-premises modern auth and for
Exchange Online until EWS ends there: exchangelib's OAuth2Credentials with the token URL and
the resource of this server (exchangelib assumes login.microsoftonline.com and Exchange Online).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from exchangelib import Identity, OAuth2Credentials

EXCHANGE_ONLINE = "https://outlook.office365.com"
LOGIN = "https://login.microsoftonline.com"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class AppCredentials(OAuth2Credentials):
    """An app registration's client credentials for one EWS server.

    The token's resource (scope `<resource>/.default`) is Exchange Online for
    outlook.office365.com, else the EWS URL's origin (an on-premises server's external URL, as
    registered for hybrid modern auth)."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        ews_url: str,
        mailbox: str,
        login_url: str = LOGIN,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            tenant_id=tenant_id,
            identity=Identity(primary_smtp_address=mailbox),
        )
        self.login_url = login_url.rstrip("/")
        self.resource = resource_of(ews_url)
        if any(urlsplit(u).hostname in _LOOPBACK for u in (self.login_url, ews_url)):
            # The test servers speak plain HTTP on loopback; oauthlib refuses HTTP otherwise.
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def scope(self) -> list[str]:
        return [f"{self.resource}/.default"]


def resource_of(ews_url: str) -> str:
    """The resource an EWS URL's tokens are for."""
    parts = urlsplit(ews_url)
    if (parts.hostname or "").lower() == "outlook.office365.com":
        return EXCHANGE_ONLINE
    return f"{parts.scheme}://{parts.netloc}"
