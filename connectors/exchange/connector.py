"""The Exchange connector: exchangelib over EWS with an explicit URL (no autodiscover), Basic or
NTLM, impersonation or delegate access; batches answer one ItemResult per item.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Iterator, Sequence

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
from exchangelib import errors as ews_errors
from exchangelib.items import (
    ALL_OCCURRENCES,
    ALWAYS_OVERWRITE,
    HARD_DELETE,
    ID_ONLY,
    NEVER_OVERWRITE,
    SAVE_ONLY,
    SEND_TO_NONE,
)
from exchangelib.properties import ItemId
from exchangelib.services import SyncFolderItems

from ..base import (
    ChangePage,
    Folder,
    ItemRef,
    ItemResult,
    ItemUpdate,
    NewItem,
    RemoteItem,
)
from ..recurrence import RecurrenceError
from . import fields as xf
from . import occurrences as xo
from . import series
from .oauth import LOGIN, AppCredentials
from .transport import (
    CreateItemPerItem,
    DeleteItemPerItem,
    GetItemPerItem,
    RetryPolicy,
    UpdateItemPerItem,
    chunks,
    error_code,
    translated,
)

xf.register_extended_properties()


class ExchangeConnector:
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

    # -- plumbing ------------------------------------------------------------------------------
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

    def _remote(
        self,
        folder: Folder,
        item: object,
        columns: Sequence[str],
        occurrences: dict[str, object] | None = None,
    ) -> RemoteItem:
        fields = self.reader.read(folder, item, columns)
        if xo.EXCEPTIONS in columns and folder == "calendar":
            fields[xo.EXCEPTIONS] = xo.read(item, occurrences or {}, self.reader)
        return RemoteItem(
            item_id=item.id,  # type: ignore[attr-defined]
            change_key=item.changekey,  # type: ignore[attr-defined]
            crm_id=getattr(item, "crm_id", None),
            categories=tuple(getattr(item, "categories", None) or ()),
            fields=fields,
            modified=_modified(item),
        )

    def _occurrences(
        self, folder: Folder, items: Sequence[object], columns: Sequence[str]
    ) -> dict[str, object]:
        """The changed occurrences of these items' series, by id: one GetItem for all of them
        (none when no series among them has any)."""
        if folder != "calendar" or xo.EXCEPTIONS not in columns:
            return {}
        refs = xo.modified_refs([i for i in items if not isinstance(i, Exception)])
        if not refs:
            return {}
        got = self._fetch(folder, refs, xo.OCCURRENCE_ATTRS)
        return {
            ref[0]: item
            for ref, item in zip(refs, got, strict=True)
            if not isinstance(item, Exception)
        }

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

    # -- Connector -----------------------------------------------------------------------------
    def list_changes(self, folder: Folder, sync_state: str | None) -> Iterator[ChangePage]:
        f = self._folder(folder)
        columns = list(xf.mapping(folder))
        state = sync_state
        while True:
            svc = SyncFolderItems(account=self.account)
            with translated():
                # Ids only: like FindItem, SyncFolderItems cannot return a body, a recurrence or
                # a series' occurrences, and cuts long text; GetItem reads the values (_listed).
                changes = list(
                    svc.call(
                        folder=f,
                        shape=ID_ONLY,
                        additional_fields=None,
                        sync_state=state,
                        ignore=None,
                        max_changes_returned=self.page_size,
                        sync_scope=None,
                    )
                )
            created, updated, deleted = self._listed(folder, columns, changes)
            complete = bool(svc.includes_last_item_in_range) or svc.sync_state == state
            yield ChangePage(created, updated, deleted, svc.sync_state, complete)
            if complete:
                return
            state = svc.sync_state

    def _listed(
        self, folder: Folder, columns: Sequence[str], changes: Sequence
    ) -> tuple[list[RemoteItem], list[RemoteItem], list[str]]:
        """A page's created, updated and deleted items: the created and updated ones read with
        GetItem in batches (none sent when there are none); one deleted since it was listed
        (ErrorItemNotFound) is a deletion."""
        for change in changes:
            if isinstance(change, Exception):
                with translated():
                    raise change
        deleted = [item.id for kind, item in changes if kind == SyncFolderItems.DELETE]
        listed = [
            (kind, item.id)
            for kind, item in changes
            if kind in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE)
        ]
        fetched = self._fetch(folder, [(i, None) for _, i in listed], self._attrs(folder, columns))
        occurrences = self._occurrences(folder, fetched, columns)
        created: list[RemoteItem] = []
        updated: list[RemoteItem] = []
        for (kind, item_id), got in zip(listed, fetched, strict=True):
            if isinstance(got, ews_errors.ErrorItemNotFound):
                deleted.append(item_id)
                continue
            if isinstance(got, Exception):
                with translated():
                    raise got
            kept = created if kind == SyncFolderItems.CREATE else updated
            kept.append(self._remote(folder, got, columns, occurrences))
        return created, updated, deleted

    def get_items(
        self, folder: Folder, ids: Sequence[str], field_names: Sequence[str]
    ) -> list[RemoteItem | ItemResult]:
        self._check_columns(folder, field_names)
        fetched = self._fetch(folder, [(i, None) for i in ids], self._attrs(folder, field_names))
        occurrences = self._occurrences(folder, fetched, field_names)
        out: list[RemoteItem | ItemResult] = []
        for index, (item_id, got) in enumerate(zip(ids, fetched, strict=True)):
            if isinstance(got, Exception):
                out.append(ItemResult(False, item_id, None, error_code(got), str(got), index))
            else:
                out.append(self._remote(folder, got, field_names, occurrences))
        return out

    def find_by_crm_ids(self, folder: Folder, crm_ids: Sequence[str]) -> dict[str, RemoteItem]:
        f = self._folder(folder)
        refs: list[tuple[str, str]] = []
        with translated():
            for chunk in chunks(list(dict.fromkeys(crm_ids)), self.chunk_size):
                query = (
                    f.filter(crm_id__in=list(chunk))
                    if len(chunk) > 1
                    else f.filter(crm_id=chunk[0])
                )
                refs.extend(query.values_list("id", "changekey"))
        columns = list(xf.mapping(folder))
        found: dict[str, RemoteItem] = {}
        fetched = self._fetch(folder, refs, self._attrs(folder, columns))
        occurrences = self._occurrences(folder, fetched, columns)
        for got in fetched:
            if not isinstance(got, Exception) and got.crm_id:
                found[got.crm_id] = self._remote(folder, got, columns, occurrences)
        return found

    def create_items(self, folder: Folder, items: Sequence[NewItem]) -> list[ItemResult]:
        f = self._folder(folder)
        cls = xf.ITEM_CLASSES[folder]
        results: list[ItemResult | None] = [None] * len(items)
        pending: list[tuple[int, object]] = []
        for index, new in enumerate(items):
            try:
                self._check_columns(folder, list(new.fields))
                item = cls(account=self.account, folder=f)
                values = dict(new.fields)
                if folder == "contacts":
                    for column in xf.GROUPS["name"]:
                        values.setdefault(column, "")
                self.writer.write(folder, item, values)
                if folder == "contacts" and item.display_name == "(no name)":
                    item.display_name = item.company_name or _first_email(item) or "(no name)"
                item.crm_id = new.crm_id
                item.categories = list(new.categories) or None
                _precheck(item)
            except (ValueError, TypeError, RecurrenceError) as e:
                results[index] = ItemResult(
                    False, None, None, "ErrorInvalidPropertyValue", str(e), index, new.crm_id
                )
                continue
            pending.append((index, item))
        with translated():
            for chunk in chunks(pending, self.chunk_size):
                # exchangelib cleans every item while serializing; cleaning here as well would
                # double the client's cost, so items are checked one by one only when that fails.
                try:
                    answers = self._send_creates(f, chunk)
                except (ValueError, TypeError):
                    chunk = self._drop_invalid(chunk, results, [i.crm_id for i in items])
                    answers = self._send_creates(f, chunk) if chunk else []
                for (index, _), answer in zip(chunk, answers, strict=True):
                    crm_id = items[index].crm_id
                    if isinstance(answer, Exception):
                        results[index] = ItemResult(
                            False, None, None, error_code(answer), str(answer), index, crm_id
                        )
                    else:
                        results[index] = ItemResult(
                            True, answer.id, answer.changekey, None, "", index, crm_id
                        )
        if folder == "calendar":
            series.apply(self, series.created_works(self, items, results), results)
        return [r for r in results if r is not None]

    def _send_creates(self, folder: object, chunk: Sequence) -> list:
        svc = CreateItemPerItem(account=self.account, chunk_size=self.chunk_size)
        return list(
            svc.call(
                items=[item for _, item in chunk],
                folder=folder,
                message_disposition=SAVE_ONLY,
                send_meeting_invitations=SEND_TO_NONE,
            )
        )

    def _drop_invalid(self, chunk: Sequence, results: list, crm_ids: list) -> list:
        """Clean each item of a chunk exchangelib refused to serialize; report the bad ones."""
        kept = []
        for entry in chunk:
            index, item = entry[0], entry[1]
            try:
                item.clean(version=self.account.version)
            except (ValueError, TypeError) as e:
                code = "ErrorInvalidPropertyValue"
                results[index] = ItemResult(False, None, None, code, str(e), index, crm_ids[index])
                continue
            kept.append(entry)
        return kept

    def update_items(
        self, folder: Folder, updates: Sequence[ItemUpdate], *, overwrite: bool = False
    ) -> list[ItemResult]:
        results: list[ItemResult | None] = [None] * len(updates)
        for start in range(0, len(updates), self.chunk_size):
            chunk = list(enumerate(updates[start : start + self.chunk_size], start))
            need = self._update_needs(folder, chunk, results)
            current = self._update_current(folder, updates, need, results)
            read_keys = {i: str(c.changekey) for i, c in current.items()}  # type: ignore[attr-defined]
            pending = self._update_items_built(folder, chunk, need, current, results)
            works = []
            if folder == "calendar":
                works = series.updated_works(
                    self, updates, pending, current, read_keys, results, overwrite
                )
            sent = [p for p in pending if p[2] and results[p[0]] is None]
            if sent:
                self._update_send(updates, sent, overwrite, results)
            series.apply(self, works, results)
        return [r for r in results if r is not None]

    def _update_needs(
        self,
        folder: Folder,
        chunk: list[tuple[int, ItemUpdate]],
        results: list[ItemResult | None],
    ) -> dict[int, list[str]]:
        """Check the columns; the columns to read first per update: the rest of a field group
        it changes in part, and the indexed entries it merges into."""
        table = xf.mapping(folder)
        need: dict[int, list[str]] = {}
        for index, upd in chunk:
            try:
                self._check_columns(folder, list(upd.fields))
            except ValueError as e:
                results[index] = ItemResult(
                    False, upd.item_id, None, "ErrorInvalidPropertyValue", str(e), index
                )
                continue
            columns = list(upd.fields)
            missing = [
                c
                for group in xf.GROUPS.values()
                if any(c in upd.fields for c in group)
                for c in group
                if c not in upd.fields and c in table
            ]
            merge = [c for c in columns if table[c].kind in ("indexed", "address")]
            # A series' exceptions are written against what it holds now (and its pattern).
            touches_series = folder == "calendar" and any(
                table[c].kind in ("when", "exceptions") for c in columns
            )
            occurrences = [xo.EXCEPTIONS] if touches_series else []
            if missing or merge or occurrences:
                need[index] = missing + merge + occurrences
        return need

    def _update_current(
        self,
        folder: Folder,
        updates: Sequence[ItemUpdate],
        need: dict[int, list[str]],
        results: list[ItemResult | None],
    ) -> dict[int, object]:
        """Read the items whose update needs their current values, in one batch."""
        current: dict[int, object] = {}
        if not need:
            return current
        cols = list(dict.fromkeys(c for cs in need.values() for c in cs))
        refs = [(updates[i].item_id, None) for i in need]
        for index, got in zip(
            need, self._fetch(folder, refs, xf.fetch_attrs(folder, cols)), strict=True
        ):
            if isinstance(got, Exception):
                results[index] = ItemResult(
                    False, updates[index].item_id, None, error_code(got), str(got), index
                )
            else:
                current[index] = got
        return current

    def _update_items_built(
        self,
        folder: Folder,
        chunk: list[tuple[int, ItemUpdate]],
        need: dict[int, list[str]],
        current: dict[int, object],
        results: list[ItemResult | None],
    ) -> list[tuple[int, object, list[str]]]:
        """The items to send with the attribute names each changes."""
        cls = xf.ITEM_CLASSES[folder]
        pending: list[tuple[int, object, list[str]]] = []
        for index, upd in chunk:
            if results[index] is not None:
                continue
            try:
                base = current.get(index) or cls(account=self.account, folder=self._folder(folder))
                base.account = self.account
                # Send the caller's change key, not the one just read: stale must conflict.
                base._id = ItemId(id=upd.item_id, changekey=upd.change_key)
                values = dict(upd.fields)
                if index in current:
                    missing = [c for c in need[index] if c not in values]
                    values.update(self.reader.read(folder, current[index], missing))
                    _keep_pattern(values, upd.fields)
                names = self.writer.write(folder, base, values)
                if upd.crm_id is not None:
                    base.crm_id = upd.crm_id
                    names.append("crm_id")
                if not names and xo.EXCEPTIONS not in upd.fields:
                    raise ValueError("Nothing to update")
            except (ValueError, TypeError, RecurrenceError) as e:
                results[index] = ItemResult(
                    False, upd.item_id, None, "ErrorInvalidPropertyValue", str(e), index
                )
                continue
            pending.append((index, base, names))
        return pending

    def _update_send(
        self,
        updates: Sequence[ItemUpdate],
        pending: list[tuple[int, object, list[str]]],
        overwrite: bool,
        results: list[ItemResult | None],
    ) -> None:
        """One UpdateItem call for the chunk; one result per item."""
        with translated():
            svc = UpdateItemPerItem(account=self.account, chunk_size=self.chunk_size)
            answers = svc.call(
                items=[(item, names) for _, item, names in pending],
                conflict_resolution=ALWAYS_OVERWRITE if overwrite else NEVER_OVERWRITE,
                message_disposition=SAVE_ONLY,
                send_meeting_invitations_or_cancellations=SEND_TO_NONE,
                suppress_read_receipts=True,
            )
            for (index, _, _), answer in zip(pending, answers, strict=True):
                item_id = updates[index].item_id
                if isinstance(answer, Exception):
                    results[index] = ItemResult(
                        False, item_id, None, error_code(answer), str(answer), index
                    )
                else:
                    results[index] = ItemResult(True, answer[0], answer[1], None, "", index)

    def delete_items(self, folder: Folder, refs: Sequence[ItemRef]) -> list[ItemResult]:
        results: list[ItemResult] = []
        with translated():
            for start in range(0, len(refs), self.chunk_size):
                chunk = refs[start : start + self.chunk_size]
                svc = DeleteItemPerItem(account=self.account, chunk_size=self.chunk_size)
                answers = svc.call(
                    items=[ItemId(id=r.item_id, changekey=r.change_key) for r in chunk],
                    delete_type=HARD_DELETE,
                    send_meeting_cancellations=SEND_TO_NONE,
                    affected_task_occurrences=ALL_OCCURRENCES,
                    suppress_read_receipts=True,
                )
                for offset, (ref, answer) in enumerate(zip(chunk, answers, strict=True)):
                    index = start + offset
                    if isinstance(answer, Exception):
                        results.append(
                            ItemResult(
                                False, ref.item_id, None, error_code(answer), str(answer), index
                            )
                        )
                    else:
                        results.append(ItemResult(True, ref.item_id, None, None, "", index))
        return results


def _keep_pattern(values: dict[str, object], given: dict[str, object]) -> None:
    """Leave a series' recurrence out of an update that moves neither its start nor its pattern
    (writing it makes Exchange drop the series' exceptions)."""
    if not any(c in given for c in ("recurrence_pattern", "scheduled_start", "is_all_day_event")):
        values.pop("recurrence_pattern", None)


def _precheck(item: object) -> None:
    """The cheap checks that catch a bad CRM record before exchangelib's full clean()."""
    if isinstance(item, xf.CalendarItem):
        start, end = item.start, item.end
        if start is None or end is None:
            raise ValueError("An appointment needs scheduled_start and scheduled_end")
        if end < start:
            raise ValueError(f"scheduled_end {end} is before scheduled_start {start}")
    if isinstance(item, xf.Contact) and not item.display_name:
        raise ValueError("A contact needs a name")


def _modified(item: object) -> datetime.datetime | None:
    """Exchange's LastModifiedTime, for latest_wins (None when the server did not send it)."""
    value = getattr(item, "last_modified_time", None)
    if not isinstance(value, datetime.datetime) or value.tzinfo is None:
        return None
    # A plain datetime: no exchangelib subclass leaks out of the connector.
    return datetime.datetime.fromtimestamp(value.timestamp(), datetime.UTC)


def _first_email(item: object) -> str | None:
    emails = getattr(item, "email_addresses", None) or []
    return emails[0].email if emails else None
