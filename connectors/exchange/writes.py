"""The Exchange connector's writes: CreateItem, UpdateItem (read first where a partial change
needs it) and DeleteItem in chunks, one ItemResult per item; series handed to series.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from exchangelib.items import (
    ALL_OCCURRENCES,
    ALWAYS_OVERWRITE,
    HARD_DELETE,
    NEVER_OVERWRITE,
    SAVE_ONLY,
    SEND_TO_NONE,
)
from exchangelib.properties import ItemId

from ..base import Folder, ItemRef, ItemResult, ItemUpdate, NewItem
from ..recurrence import RecurrenceError
from . import fields as xf
from . import occurrences as xo
from . import series
from .transport import (
    CreateItemPerItem,
    DeleteItemPerItem,
    UpdateItemPerItem,
    chunks,
    error_code,
    translated,
)


class Writes:
    """create_items, update_items and delete_items: a mixin of ExchangeConnector."""

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


def _first_email(item: object) -> str | None:
    emails = getattr(item, "email_addresses", None) or []
    return emails[0].email if emails else None
