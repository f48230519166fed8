"""A series' occurrence writes in the connector's creates and updates: planned per series
(occurrences.py decides what to send), then sent once the series' own create or update is done:
the occurrence deletes in one DeleteItem and the occurrence updates in one UpdateItem for a
whole batch (by OccurrenceItemId; one refused for crossing an occurrence not yet moved away is
sent again after the others), then the masters' new ChangeKey (a master and its occurrences
share one; an UpdateItem answer carries it, a GetItem reads it for a series only deleted from).

The series' own update already checked its ChangeKey (or, for a change of its exceptions alone,
the key read just before); the occurrence writes overwrite.
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from collections.abc import MutableSequence, Sequence
from dataclasses import dataclass
from typing import Any

from exchangelib.errors import ErrorOccurrenceCrossingBoundary
from exchangelib.items import (
    ALL_OCCURRENCES,
    ALWAYS_OVERWRITE,
    HARD_DELETE,
    SAVE_ONLY,
    SEND_TO_NONE,
    CalendarItem,
)
from exchangelib.properties import OccurrenceItemId

from .. import recurrence
from ..base import ItemResult, ItemUpdate, NewItem
from . import fields as xf
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


def created_works(
    connector: Any, items: Sequence[NewItem], results: list[ItemResult | None]
) -> list[Work]:
    """The exceptions of the series just created, as occurrence writes."""
    works = []
    for index, new in enumerate(items):
        result = results[index]
        desired = new.fields.get(xo.EXCEPTIONS)
        found = xo.series_of(new.fields, connector.tz)
        if not desired or found is None or result is None or not result.ok:
            continue
        plan = xo.plan(found, list(desired), (set(), set()), cleared=True)  # type: ignore[call-overload]
        if not plan.empty:
            works.append(Work(index, str(result.item_id), plan))
    return works


def updated_works(
    connector: Any,
    updates: Sequence[ItemUpdate],
    pending: list[tuple[int, object, list[str]]],
    current: dict[int, object],
    read_keys: dict[int, str],
    results: list[ItemResult | None],
    overwrite: bool,
) -> list[Work]:
    """Plan the occurrence writes of the series in this chunk: the exceptions the CRM sent,
    or the ones a change of the series' pattern or start clears in Exchange (read first);
    a deleted occurrence to bring back adds the recurrence to the series' own update."""
    cleared = {
        index: "recurrence" in names
        or ("start" in names and getattr(base, "start", None) != current[index].start)  # type: ignore[attr-defined]
        for index, base, names in pending
        if index in current
    }
    reapply = [
        current[i]
        for i, clears in cleared.items()
        if clears and xo.EXCEPTIONS not in updates[i].fields and any(xo.current(current[i]))
    ]
    held = connector._occurrences("calendar", reapply, [xo.EXCEPTIONS])
    works = []
    for index, base, names in pending:
        cur = current.get(index)
        upd = updates[index]
        if cur is None or (xo.EXCEPTIONS not in upd.fields and cur not in reapply):
            continue
        desired = upd.fields.get(xo.EXCEPTIONS)
        if xo.EXCEPTIONS not in upd.fields:
            desired = xo.read(cur, held, connector.reader)
        planned = _series_plan(connector, upd, cur, desired, cleared[index])
        # No longer a series (Outlook removed its recurrence): no occurrence to write.
        found, pattern = planned if planned is not None else (xo.Plan(), None)
        if found.rewrite and pattern is not None and "recurrence" not in names:
            # Written again from the pattern (Exchange then drops every exception).
            base.recurrence = recurrence.to_exchange(  # type: ignore[attr-defined]
                pattern.rule, pattern.first.date(), connector.tz
            )
            names.append("recurrence")
        if not names and not overwrite and read_keys[index] != upd.change_key:
            results[index] = ItemResult(
                False, upd.item_id, None, "ErrorIrresolvableConflict", xo.STALE, index
            )
        elif not found.empty:
            works.append(Work(index, upd.item_id, found))
        elif not names:
            results[index] = ItemResult(True, upd.item_id, read_keys[index], None, "", index)
    return works


def _series_plan(
    connector: Any, upd: ItemUpdate, cur: object, desired: object, cleared: bool
) -> tuple[xo.Plan, xo.Series] | None:
    """The occurrence writes that give the series `desired`, and the series as it will be
    (None: not a series)."""
    values = connector.reader.read("calendar", cur, [*xo.SERIES_COLUMNS, *xf.GROUPS["when"]])
    values.update({c: v for c, v in upd.fields.items() if c in values})
    tz = getattr(cur, "_start_timezone", None)
    found = xo.series_of(values, zoneinfo.ZoneInfo(tz.key) if tz is not None else connector.tz)
    if found is None:
        return None
    planned = xo.plan(found, list(desired or []), xo.current(cur), cleared=cleared)  # type: ignore[call-overload]
    return planned, found


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
    """Exchange checks an occurrence's move against where the others are at that moment: one
    refused for crossing another is sent again once others moved, while that makes progress."""
    folder = connector._folder("calendar")
    sent = []
    for w in live:
        if w.index in errors:
            continue
        for index, values in w.plan.updates:
            item = CalendarItem(account=connector.account, folder=folder)
            item._id = _occurrence_id(w, index)
            sent.append((w, item, connector.writer.write("calendar", item, values)))
    crossing: dict[int, BaseException] = {}
    while sent:
        crossing.clear()
        again = _send_updates(connector, sent, errors, keys, crossing)
        sent = again if len(again) < len(sent) else []
    for index, e in crossing.items():
        errors.setdefault(index, e)


def _send_updates(
    connector: Any,
    sent: Sequence[tuple[Work, CalendarItem, list[str]]],
    errors: dict[int, BaseException],
    keys: dict[int, str],
    crossing: dict[int, BaseException],
) -> list[tuple[Work, CalendarItem, list[str]]]:
    """One round of occurrence updates; those refused for crossing another come back."""
    again = []
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
        for entry, answer in zip(chunk, answers, strict=True):
            w = entry[0]
            if isinstance(answer, ErrorOccurrenceCrossingBoundary):
                crossing.setdefault(w.index, answer)
                again.append(entry)
            elif isinstance(answer, Exception):
                errors.setdefault(w.index, answer)
            else:
                keys[w.index] = answer[1]  # the master's key: one for it and its occurrences
    return again
