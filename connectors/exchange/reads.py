"""The Exchange connector's reads by id and by CRM id, and how an exchangelib item (with its
series' changed occurrences) becomes a RemoteItem.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from ..base import Folder, ItemResult, RemoteItem
from . import fields as xf
from . import occurrences as xo
from .transport import chunks, error_code, translated


class Reads:
    """get_items, find_by_crm_ids and the reading they share: a mixin of ExchangeConnector."""

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


def _modified(item: object) -> datetime.datetime | None:
    """Exchange's LastModifiedTime, for latest_wins (None when the server did not send it)."""
    value = getattr(item, "last_modified_time", None)
    if not isinstance(value, datetime.datetime) or value.tzinfo is None:
        return None
    # A plain datetime: no exchangelib subclass leaks out of the connector.
    return datetime.datetime.fromtimestamp(value.timestamp(), datetime.UTC)
