"""An in-memory Connector with Exchange's semantics (change keys, paged sync states, per-item
results), for fast unit tests of the sync engine.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .base import (
    CONFLICT,
    FOLDERS,
    NOT_FOUND,
    ChangePage,
    ConnectorError,
    Folder,
    ItemRef,
    ItemResult,
    ItemUpdate,
    NewItem,
    RemoteItem,
)

PAGE_SIZE = 100


@dataclass
class _Stored:
    item_id: str
    version: int
    seq: int
    crm_id: str | None
    categories: tuple[str, ...]
    fields: dict[str, object] = field(default_factory=dict)
    modified: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def change_key(self) -> str:
        return f"{self.item_id[:8]}-v{self.version}"

    def remote(self, names: Sequence[str] | None = None) -> RemoteItem:
        values = dict(self.fields) if names is None else {n: self.fields.get(n) for n in names}
        return RemoteItem(
            self.item_id, self.change_key, self.crm_id, self.categories, values, self.modified
        )


class MemoryConnector:
    """Keeps items in dicts. `fail_when` lets a test make chosen items fail with an EWS code."""

    # A series' changed and cancelled occurrences are kept as the field "exceptions" holds them.
    holds_exceptions = True

    def __init__(self, page_size: int = PAGE_SIZE) -> None:
        self.page_size = page_size
        self.folders: dict[str, dict[str, _Stored]] = {f: {} for f in FOLDERS}
        self._states: dict[str, tuple[str, dict[str, str]]] = {}
        self._seq = itertools.count(1)
        self.calls: list[str] = []
        self._faults: list[tuple[Callable[[str, object], bool], str]] = []

    # -- test helpers --------------------------------------------------------------------------
    def fail_when(self, predicate: Callable[[str, object], bool], code: str) -> None:
        """Fail every item for which predicate(operation, item) is true with `code`."""
        self._faults.append((predicate, code))

    def edit(self, folder: Folder, item_id: str, **fields: object) -> None:
        """Change an item as a user in Outlook would (new change key)."""
        stored = self.folders[folder][item_id]
        stored.fields.update(fields)
        self._bump(stored)

    def _bump(self, stored: _Stored) -> None:
        stored.version += 1
        stored.seq = next(self._seq)
        stored.modified = datetime.now(UTC)

    def _fault(self, operation: str, item: object) -> str | None:
        return next((code for pred, code in self._faults if pred(operation, item)), None)

    # -- Connector ----------------------------------------------------------------------------
    def list_changes(self, folder: Folder, sync_state: str | None) -> Iterator[ChangePage]:
        self.calls.append("list_changes")
        seen: dict[str, str] = {}
        if sync_state:
            if sync_state not in self._states or self._states[sync_state][0] != folder:
                raise ConnectorError("Invalid sync state", "ErrorInvalidSyncStateData")
            seen = dict(self._states[sync_state][1])
        while True:
            current = self.folders[folder]
            changes: list[tuple[int, str, str]] = []
            for item_id, stored in current.items():
                if item_id not in seen:
                    changes.append((stored.seq, "create", item_id))
                elif seen[item_id] != stored.change_key:
                    changes.append((stored.seq, "update", item_id))
            changes.extend((0, "delete", i) for i in seen if i not in current)
            changes.sort()
            page, rest = changes[: self.page_size], changes[self.page_size :]
            created, updated, deleted = [], [], []
            for _, kind, item_id in page:
                if kind == "delete":
                    deleted.append(item_id)
                    seen.pop(item_id, None)
                    continue
                stored = current[item_id]
                seen[item_id] = stored.change_key
                (created if kind == "create" else updated).append(stored.remote())
            token = uuid.uuid4().hex
            self._states[token] = (folder, dict(seen))
            yield ChangePage(created, updated, deleted, token, complete=not rest)
            if not rest:
                return

    def get_items(
        self, folder: Folder, ids: Sequence[str], field_names: Sequence[str]
    ) -> list[RemoteItem | ItemResult]:
        self.calls.append("get_items")
        out: list[RemoteItem | ItemResult] = []
        for i, item_id in enumerate(ids):
            stored = self.folders[folder].get(item_id)
            if stored is None:
                out.append(ItemResult(False, item_id, None, NOT_FOUND, "Not found", index=i))
            else:
                out.append(stored.remote(field_names))
        return out

    def find_by_crm_ids(self, folder: Folder, crm_ids: Sequence[str]) -> dict[str, RemoteItem]:
        self.calls.append("find_by_crm_ids")
        wanted = set(crm_ids)
        return {s.crm_id: s.remote() for s in self.folders[folder].values() if s.crm_id in wanted}

    def create_items(self, folder: Folder, items: Sequence[NewItem]) -> list[ItemResult]:
        self.calls.append("create_items")
        results = []
        for i, new in enumerate(items):
            code = self._fault("create", new)
            if code:
                results.append(ItemResult(False, None, None, code, "Refused", i, new.crm_id))
                continue
            stored = _Stored(
                uuid.uuid4().hex,
                1,
                next(self._seq),
                new.crm_id,
                tuple(new.categories),
                dict(new.fields),
            )
            self.folders[folder][stored.item_id] = stored
            results.append(
                ItemResult(True, stored.item_id, stored.change_key, None, "", i, new.crm_id)
            )
        return results

    def update_items(
        self, folder: Folder, updates: Sequence[ItemUpdate], *, overwrite: bool = False
    ) -> list[ItemResult]:
        self.calls.append("update_items")
        results = []
        for i, upd in enumerate(updates):
            stored = self.folders[folder].get(upd.item_id)
            if stored is None:
                results.append(ItemResult(False, upd.item_id, None, NOT_FOUND, "Not found", i))
                continue
            code = self._fault("update", upd)
            if code is None and not overwrite and upd.change_key != stored.change_key:
                code = CONFLICT
            if code:
                results.append(
                    ItemResult(False, upd.item_id, stored.change_key, code, "Refused", i)
                )
                continue
            stored.fields.update(upd.fields)
            if upd.crm_id is not None:
                stored.crm_id = upd.crm_id
            self._bump(stored)
            results.append(
                ItemResult(True, upd.item_id, stored.change_key, None, "", i, stored.crm_id)
            )
        return results

    def delete_items(self, folder: Folder, refs: Sequence[ItemRef]) -> list[ItemResult]:
        self.calls.append("delete_items")
        results = []
        for i, ref in enumerate(refs):
            code = self._fault("delete", ref)
            if code is None and ref.item_id not in self.folders[folder]:
                code = NOT_FOUND
            if code:
                results.append(ItemResult(False, ref.item_id, None, code, "Refused", i))
                continue
            del self.folders[folder][ref.item_id]
            results.append(ItemResult(True, ref.item_id, None, None, "", i))
        return results
