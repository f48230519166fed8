"""GraphConnector: the Connector protocol over Microsoft Graph (Exchange Online), put together from
changes.py, reads.py and writes.py; its requests' plumbing and the connection test.
"""

from __future__ import annotations

import base64
import json
import zoneinfo
from collections.abc import Sequence
from urllib.parse import quote

from ..base import AuthError, ConnectorError, Folder
from . import fields as gf
from .changes import Changes
from .client import Answer, GraphClient, describe
from .constants import EXCEPTIONS, FUTURE_DAYS, PAST_DAYS, REQUIRED_PERMISSIONS
from .reads import Reads
from .writes import Writes


class GraphConnector(Changes, Reads, Writes):
    """A Connector for one mailbox in Exchange Online, through Microsoft Graph (app-only)."""

    # A series' changed and cancelled occurrences: read from the master, written per occurrence.
    holds_exceptions = True

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        mailbox: str,
        client_secret: str | None = None,
        certificate_key: str | None = None,
        certificate_thumbprint: str | None = None,
        graph_url: str = "https://graph.microsoft.com/v1.0",
        login_url: str = "https://login.microsoftonline.com",
        timezone: str = "UTC",
        page_size: int = 100,
        past_days: int = PAST_DAYS,
        future_days: int = FUTURE_DAYS,
        max_wait: float = 60.0,
        timeout: float = 60.0,
        contact_folder: str = "contacts",
    ) -> None:
        self.client = GraphClient(
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            certificate_key=certificate_key,
            certificate_thumbprint=certificate_thumbprint,
            graph_url=graph_url,
            login_url=login_url,
            timeout=timeout,
            max_wait=max_wait,
        )
        self.mailbox = mailbox
        self.user = f"/users/{quote(mailbox, safe='@.')}"
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.codec = gf.Codec(self.tz)
        self.page_size = page_size
        self.past_days, self.future_days = past_days, future_days
        self.contact_folder = contact_folder
        self._task_list: str | None = None
        self._categories_checked = False

    @property
    def request_count(self) -> int:
        return self.client.requests

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def supported_columns(folder: Folder) -> tuple[str, ...]:
        unsupported = gf.UNSUPPORTED["task"] if folder == "tasks" else {}
        columns = tuple(c for c in gf.MAPPINGS[folder] if c not in unsupported)
        return (*columns, EXCEPTIONS) if folder == "calendar" else columns

    def _prefer(self, *, page: bool = False) -> dict[str, str]:
        prefer = 'IdType="ImmutableId", outlook.timezone="UTC", outlook.body-content-type="text"'
        if page:
            prefer += f", odata.maxpagesize={self.page_size}"
        return {"Prefer": prefer}

    def _collection(self, folder: Folder) -> str:
        if folder == "contacts":
            return f"{self.user}/contactFolders/{self.contact_folder}/contacts"
        if folder == "calendar":
            return f"{self.user}/calendar/events"
        return f"{self.user}/todo/lists/{self.task_list()}/tasks"

    def _item(self, folder: Folder, item_id: str) -> str:
        if folder == "contacts":
            return f"{self.user}/contacts/{item_id}"
        if folder == "calendar":
            return f"{self.user}/events/{item_id}"
        return f"{self.user}/todo/lists/{self.task_list()}/tasks/{item_id}"

    def _expand(self, folder: Folder) -> str:
        if folder == "tasks":
            return "linkedResources"
        ids = " or ".join(f"id eq '{i}'" for i in gf.ext_ids(folder))
        return f"singleValueExtendedProperties($filter={ids})"

    def _get(self, path: str, params: dict[str, str] | None = None) -> Answer:
        answer = self.client.request("GET", path, headers=self._prefer(), params=params)
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise describe(answer, self.mailbox)
        return answer

    def task_list(self) -> str:
        """The default To Do list's id (wellknownListName defaultList)."""
        if self._task_list is None:
            body = self._get(f"{self.user}/todo/lists").body
            lists = body.get("value") or []  # type: ignore[union-attr]
            chosen = next((x for x in lists if x.get("wellknownListName") == "defaultList"), None)
            if chosen is None and lists:
                chosen = lists[0]
            if chosen is None:
                raise ConnectorError(f"{self.mailbox} has no To Do list", "ErrorFolderNotFound")
            self._task_list = str(chosen["id"])
        return self._task_list

    def _check_columns(self, folder: Folder, columns: Sequence[str]) -> None:
        known = self.supported_columns(folder)
        bad = [c for c in columns if c not in known]
        if bad:
            reasons = [r for c in bad if (r := gf.UNSUPPORTED["task"].get(c)) and folder == "tasks"]
            raise ValueError(
                f"No Graph mapping for {bad} in {folder}"
                + (f" ({' '.join(reasons)})" if reasons else "")
            )

    def test_connection(self) -> list[str]:
        """Get a token, open the contacts folder, calendar and default To Do list; say what is
        wrong in words (AuthError / ConnectorError) or return what was checked."""
        token = self.client.token()
        roles = set(_claims(token).get("roles") or [])
        if not roles:
            raise AuthError(
                "Admin consent is missing: the token carries no application permissions. An "
                "administrator must grant admin consent to the app registration for "
                + ", ".join(REQUIRED_PERMISSIONS),
                "ErrorAccessDenied",
            )
        missing = [p for p in REQUIRED_PERMISSIONS if p not in roles]
        if missing:
            raise AuthError(
                "The app lacks the application permission(s) "
                + ", ".join(missing)
                + " (add them in Entra ID > App registrations > API permissions, then grant "
                "admin consent)",
                "ErrorAccessDenied",
            )
        done = [f"token for tenant {self.client.tenant_id} ({', '.join(sorted(roles))})"]
        self._get(f"{self.user}/contactFolders/{self.contact_folder}")
        done.append("contacts folder")
        self._get(f"{self.user}/calendar")
        done.append("calendar")
        self._task_list = None
        self.task_list()
        done.append("default To Do list")
        return done


def _claims(token: str) -> dict:
    """The payload of a JWT access token (not verified: only read for its roles)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
