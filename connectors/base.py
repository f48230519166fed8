"""The connector interface the sync engine talks to, in plain values (no Django, no exchangelib).

Field dicts are keyed by CRM column names (crm/models.py) with CRM-typed values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

Folder = Literal["contacts", "calendar", "tasks"]
FOLDERS: tuple[Folder, ...] = ("contacts", "calendar", "tasks")

# What kind of CRM activity an Outlook task or appointment is, when it is not a plain task or
# appointment: a field every connector reads on every task and calendar item and writes when it
# creates one ("phone_call", "letter", "fax", "service_activity"; "" or absent: a plain task or
# appointment). It lives in a property of its own that Outlook and other clients keep untouched
# when a user edits the item (EWS: the named property PublicStrings/SyncAdminActivityType;
# iCalendar: X-SYNCADMIN-ACTIVITY-TYPE), and the sync never updates it.
ACTIVITY_TYPE = "activity_type"
ACTIVITY_TYPES: tuple[str, ...] = ("phone_call", "letter", "fax", "service_activity")

# The error code a refused stale change key reports, as Exchange names it.
CONFLICT = "ErrorIrresolvableConflict"
NOT_FOUND = "ErrorItemNotFound"


@dataclass(frozen=True)
class RemoteItem:
    """An item as the mail system holds it, in CRM terms."""

    item_id: str
    change_key: str
    crm_id: str | None
    categories: tuple[str, ...] = ()
    fields: dict[str, object] = field(default_factory=dict)
    # When the item last changed (aware), for the latest_wins conflict policy; None: unknown.
    modified: datetime | None = None


@dataclass(frozen=True)
class ChangePage:
    """One page of changes; persist `sync_state` once the page is applied."""

    created: list[RemoteItem]
    updated: list[RemoteItem]
    deleted: list[str]
    sync_state: str
    complete: bool
    # The listing covers part of the folder only (Graph lists a calendar's window): an item it
    # does not list may still be there. The sync reads such an item by id and counts it as
    # deleted only when the server says it is not found.
    partial: bool = False


@dataclass(frozen=True)
class ItemResult:
    """The outcome for one item of a batch; `index` is the item's position in the input."""

    ok: bool
    item_id: str | None
    change_key: str | None
    error_code: str | None = None
    message: str = ""
    index: int = 0
    crm_id: str | None = None


@dataclass(frozen=True)
class NewItem:
    crm_id: str
    fields: dict[str, object]
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ItemUpdate:
    """Set exactly `fields` (None clears a field); `crm_id` also (re)writes the CRM id."""

    item_id: str
    change_key: str
    fields: dict[str, object]
    crm_id: str | None = None


@dataclass(frozen=True)
class ItemRef:
    item_id: str
    change_key: str


class ConnectorError(Exception):
    """A whole request failed; `code` is the EWS response code (or a transport name)."""

    def __init__(self, message: str, code: str = "ErrorInternalServerError") -> None:
        super().__init__(message)
        self.code = code


class ThrottledError(ConnectorError):
    """The server asked to back off for longer than the connector may wait."""

    def __init__(
        self, message: str, code: str = "ErrorServerBusy", wait: float | None = None
    ) -> None:
        super().__init__(message, code)
        self.wait = wait


class AuthError(ConnectorError):
    """Credentials refused (HTTP 401) or impersonation denied: retrying will not help."""


class TransientError(ConnectorError):
    """Connection dropped, HTTP 5xx or a timeout: the request may be retried later."""


@runtime_checkable
class Connector(Protocol):
    """What the sync engine needs from a mail system. Batches answer one ItemResult per item."""

    def list_changes(self, folder: Folder, sync_state: str | None) -> Iterator[ChangePage]: ...

    def get_items(
        self, folder: Folder, ids: Sequence[str], field_names: Sequence[str]
    ) -> list[RemoteItem | ItemResult]: ...

    def find_by_crm_ids(self, folder: Folder, crm_ids: Sequence[str]) -> dict[str, RemoteItem]: ...

    def create_items(self, folder: Folder, items: Sequence[NewItem]) -> list[ItemResult]: ...

    def update_items(
        self, folder: Folder, updates: Sequence[ItemUpdate], *, overwrite: bool = False
    ) -> list[ItemResult]: ...

    def delete_items(self, folder: Folder, refs: Sequence[ItemRef]) -> list[ItemResult]: ...
