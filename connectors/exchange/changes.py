"""The Exchange connector's change lists: SyncFolderItems pages of ids, the created and updated
items then read with GetItem in batches, an item gone meanwhile counted as deleted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from exchangelib import errors as ews_errors
from exchangelib.items import ID_ONLY
from exchangelib.services import SyncFolderItems

from ..base import ChangePage, Folder, RemoteItem
from . import fields as xf
from .transport import translated


class Changes:
    """list_changes: a mixin of ExchangeConnector."""

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
