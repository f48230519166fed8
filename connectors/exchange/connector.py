"""The Exchange connector: exchangelib over EWS with an explicit URL (no autodiscover), Basic,
NTLM or OAuth 2.0, impersonation or delegate access; put together from changes, reads, writes.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence

from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    Version,
)
from exchangelib.items import ID_ONLY

from ..base import Folder
from . import fields as xf
from .changes import Changes
from .oauth import LOGIN, AppCredentials
from .reads import Reads
from .transport import GetItemPerItem, RetryPolicy, chunks, translated
from .writes import Writes

xf.register_extended_properties()


class ExchangeConnector(Changes, Reads, Writes):
    """A Connector for one mailbox on an Exchange server (EWS)."""

    # A series' modified and deleted occurrences are read and written (occurrences.py).
    holds_exceptions = True

    def __init__(
        self,
        *,
        ews_url: str,
        username: str,
        password: str,
        primary_smtp_address: str,
        auth_type: str = "basic",
        access_type: str = "impersonation",
        timezone: str = "UTC",
        max_wait: float = 60.0,
        chunk_size: int = 100,
        page_size: int = 100,
        tenant_id: str = "",
        client_id: str = "",
        client_secret: str = "",
        login_url: str = LOGIN,
    ) -> None:
        """`auth_type` "oauth2": the app's client credentials (`tenant_id`, `client_id`,
        `client_secret`, tokens from `login_url`) instead of `username` and `password`; the app
        impersonates the mailbox (full_access_as_app or ApplicationImpersonation)."""
        if auth_type not in ("basic", "ntlm", "oauth2"):
            raise ValueError(f"auth_type must be 'basic', 'ntlm' or 'oauth2', not {auth_type!r}")
        if access_type not in ("impersonation", "delegate"):
            raise ValueError(
                f"access_type must be 'impersonation' or 'delegate', not {access_type!r}"
            )
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.chunk_size = chunk_size
        self.page_size = page_size
        if auth_type == "oauth2":
            credentials: Credentials | AppCredentials = AppCredentials(
                tenant_id=tenant_id,
                client_id=client_id,
                client_secret=client_secret,
                ews_url=ews_url,
                mailbox=primary_smtp_address,
                login_url=login_url,
            )
            access_type = "impersonation"
        else:
            credentials = Credentials(username, password)
        self.config = Configuration(
            service_endpoint=ews_url,
            credentials=credentials,
            auth_type={"basic": BASIC, "ntlm": NTLM, "oauth2": OAUTH2}[auth_type],
            version=Version(build=Build(15, 1)),
            retry_policy=RetryPolicy(max_wait=max_wait),
        )
        self.primary_smtp_address = primary_smtp_address
        self.access_type = IMPERSONATION if access_type == "impersonation" else DELEGATE
        self._account: Account | None = None
        self._folders: dict[str, object] = {}
        self.reader = xf.Reader(self.tz)
        self.writer = xf.Writer(self.tz)

    @property
    def account(self) -> Account:
        if self._account is None:
            from exchangelib.ewsdatetime import EWSTimeZone

            self._account = Account(
                self.primary_smtp_address,
                config=self.config,
                autodiscover=False,
                access_type=self.access_type,
                default_timezone=EWSTimeZone.from_timezone(self.tz),
            )
        return self._account

    def close(self) -> None:
        """Close this connector's HTTP connections."""
        if self._account is not None:
            self._account.protocol.close()

    def _folder(self, folder: Folder):  # type: ignore[no-untyped-def]
        if folder not in self._folders:
            with translated():
                self._folders[folder] = getattr(self.account, folder)
        return self._folders[folder]

    def _attrs(self, folder: Folder, columns: Sequence[str]) -> list[str]:
        return ["crm_id", "categories", "last_modified_time", *xf.fetch_attrs(folder, columns)]

    def _check_columns(self, folder: Folder, columns: Sequence[str]) -> None:
        unknown = xf.unknown_columns(folder, columns)
        if unknown:
            known = ", ".join(sorted(xf.mapping(folder)))
            raise ValueError(f"No Exchange mapping for {unknown} in {folder} (known: {known})")

    def _fetch(
        self, folder: Folder, refs: Sequence[tuple[str, str | None]], attrs: list[str]
    ) -> list:
        f = self._folder(folder)
        fields = {p for p in f.normalize_fields(fields=attrs) if not p.field.is_attribute}
        out: list = []
        with translated():
            for chunk in chunks(list(refs), self.chunk_size):
                svc = GetItemPerItem(account=self.account, chunk_size=self.chunk_size)
                out.extend(svc.call(items=chunk, additional_fields=fields, shape=ID_ONLY))
        return out
