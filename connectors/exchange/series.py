"""Sending a series' exceptions to Exchange once its own create or update is done: the planned
occurrence deletes in one DeleteItem and the occurrence updates in one UpdateItem for a whole
batch (by OccurrenceItemId), then the masters' new ChangeKey (a master and its occurrences share
one; an UpdateItem answer carries it, a GetItem reads it for a series only deleted from).

The series' own update already checked its ChangeKey (or, for a change of its exceptions alone,
the key read just before); the occurrence writes overwrite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableSequence, Sequence
from dataclasses import dataclass
from typing import Any

from exchangelib.items import (
    ALL_OCCURRENCES,
    ALWAYS_OVERWRITE,
    HARD_DELETE,
    SAVE_ONLY,
    SEND_TO_NONE,
    CalendarItem,
)
from exchangelib.properties import OccurrenceItemId

from ..base import ItemResult
from . import occurrences as xo
from .transport import DeleteItemPerItem, UpdateItemPerItem, error_code, translated


@dataclass
class Work:
    """The occurrence writes of one series: `index` in the caller's batch."""

    index: int
    master_id: str
    plan: xo.Plan


def _occurrence_id(work: Work, index: int) -> OccurrenceItemId:
    return OccurrenceItemId(id=work.master_id, changekey=None, instance_index=index)


def apply(
    connector: Any, works: Sequence[Work], results: MutableSequence[ItemResult | None]
) -> None:
    """Send the works of the series whose own write succeeded; each one's result then says
    whether its exceptions were written, with the series' final ChangeKey."""
    live = [w for w in works if results[w.index] is None or results[w.index].ok]  # type: ignore[union-attr]
    if not live:
        return
    errors: dict[int, BaseException] = {}
    keys: dict[int, str] = {}
    with translated():
        _deletes(connector, live, errors)
        _updates(connector, live, errors, keys)
    unread = [w for w in live if w.index not in keys and w.index not in errors]
    if unread:
        got = connector._fetch("calendar", [(w.master_id, None) for w in unread], [])
        for w, item in zip(unread, got, strict=True):
            if isinstance(item, Exception):
                errors[w.index] = item
            else:
                keys[w.index] = item.changekey
    for w in live:
        before = results[w.index]
        if w.index in errors:
            e = errors[w.index]
            crm_id = before.crm_id if before is not None else None
            results[w.index] = ItemResult(
                False, w.master_id, None, error_code(e), str(e), w.index, crm_id
            )
        elif before is not None:
            results[w.index] = dataclasses.replace(before, change_key=keys[w.index])
        else:
            results[w.index] = ItemResult(True, w.master_id, keys[w.index], None, "", w.index)


def _deletes(connector: Any, live: Sequence[Work], errors: dict[int, BaseException]) -> None:
    sent = [(w, i) for w in live for i in w.plan.deletes]
    for start in range(0, len(sent), connector.chunk_size):
        chunk = sent[start : start + connector.chunk_size]
        svc = DeleteItemPerItem(account=connector.account, chunk_size=connector.chunk_size)
        answers = svc.call(
            items=[_occurrence_id(w, i) for w, i in chunk],
            delete_type=HARD_DELETE,
            send_meeting_cancellations=SEND_TO_NONE,
            affected_task_occurrences=ALL_OCCURRENCES,
            suppress_read_receipts=True,
        )
        for (w, _), answer in zip(chunk, answers, strict=True):
            if isinstance(answer, Exception):
                errors.setdefault(w.index, answer)


def _updates(
    connector: Any,
    live: Sequence[Work],
    errors: dict[int, BaseException],
    keys: dict[int, str],
) -> None:
    folder = connector._folder("calendar")
    sent = []
    for w in live:
        if w.index in errors:
            continue
        for index, values in w.plan.updates:
            item = CalendarItem(account=connector.account, folder=folder)
            item._id = _occurrence_id(w, index)
            sent.append((w, item, connector.writer.write("calendar", item, values)))
    for start in range(0, len(sent), connector.chunk_size):
        chunk = sent[start : start + connector.chunk_size]
        svc = UpdateItemPerItem(account=connector.account, chunk_size=connector.chunk_size)
        answers = svc.call(
            items=[(item, names) for _, item, names in chunk],
            conflict_resolution=ALWAYS_OVERWRITE,
            message_disposition=SAVE_ONLY,
            send_meeting_invitations_or_cancellations=SEND_TO_NONE,
            suppress_read_receipts=True,
        )
        for (w, _, _), answer in zip(chunk, answers, strict=True):
            if isinstance(answer, Exception):
                errors.setdefault(w.index, answer)
            else:
                keys[w.index] = answer[1]  # the master's key: one for it and its occurrences
