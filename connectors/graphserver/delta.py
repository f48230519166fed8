"""The Graph test server's delta queries: contacts' and tasks' delta, the calendarView delta
over a window, paging, delta tokens (state) and their expiry.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from .protocol import GraphError, Request
from .store import Collection, Mailbox, Record, instances


def _token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _untoken(text: str) -> dict:
    try:
        return json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, TypeError) as e:
        raise GraphError(400, "badRequest", "The delta token is malformed.") from e


class Delta:
    """Delta queries and their tokens: a mixin of GraphServer."""

    def _state(self, req: Request, box: Mailbox) -> dict | None:
        raw = req.query.get("$deltatoken") or req.query.get("$skiptoken")
        if raw is None:
            return None
        state = _untoken(raw)
        if state.get("g") != box.generation:
            how = self.expiry.get(box.address.lower(), "gone")
            if how == "gone":
                raise GraphError(
                    410,
                    "SyncStateNotFound",
                    "The sync state generation is not found. Resync from the start.",
                    {"Location": f"{self.graph_url}{req.path}"},
                )
            raise GraphError(400, how, "The delta token has expired or is no longer valid.")
        return state

    def _page_size(self, req: Request) -> int:
        text = req.prefer("odata.maxpagesize")
        return max(1, min(int(text), 1000)) if text and text.isdigit() else self.page_size

    def _delta(self, req: Request, box: Mailbox, coll: Collection) -> tuple[int, dict, object]:
        self._count("delta")
        state = self._state(req, box)
        low = state["w"] if state else 0
        high = state.get("t") if state and state.get("t") is not None else box.seq
        offset = state.get("o", 0) if state else 0
        entries: list[tuple[int, str, Record | None]] = [
            (r.seq, r.id, r) for r in coll.records.values() if low < r.seq <= high
        ]
        if low:
            entries += [(s, i, None) for i, s in coll.tombstones.items() if low < s <= high]
        entries.sort(key=lambda e: (e[0], e[1]))

        def rendered(entry: tuple[int, str, Record | None]) -> dict:
            _, item_id, rec = entry
            if rec is None:
                return {"id": item_id, "@removed": {"reason": "deleted"}}
            return self.render(req, coll, rec, delta=True)

        # Only the page asked for is rendered (and checked): paging stays linear.
        values = _Rendered(entries, rendered)
        return self._delta_answer(req, box, values, low, high, offset, coll, {})

    def _delta_answer(
        self,
        req: Request,
        box: Mailbox,
        values: Sequence[dict],
        low: int,
        high: int,
        offset: int,
        coll: Collection,
        extra: dict,
    ) -> tuple[int, dict, object]:
        size = self._page_size(req)
        base = {"g": box.generation, **extra}
        if self.faults.take("delta_empty"):
            link = f"{self.graph_url}{req.path}?$skiptoken=" + _token(
                base | {"w": low, "t": high, "o": offset}
            )
            return 200, {}, {"value": [], "@odata.nextLink": link}
        page = list(values[offset : offset + size])
        rule = self.faults.take("delta_replay")
        if rule and low:
            seen = [r for r in coll.records.values() if r.seq <= low][: int(rule.params["items"])]
            page = [self.render(req, coll, r, delta=True) for r in seen] + page
        body: dict = {"value": page}
        if offset + size < len(values):
            body["@odata.nextLink"] = f"{self.graph_url}{req.path}?$skiptoken=" + _token(
                base | {"w": low, "t": high, "o": offset + size}
            )
        else:
            body["@odata.deltaLink"] = f"{self.graph_url}{req.path}?$deltatoken=" + _token(
                base | {"w": high}
            )
        return 200, {}, body

    def _calendar_delta(
        self, req: Request, box: Mailbox, coll: Collection
    ) -> tuple[int, dict, object]:
        self._count("delta")
        state = self._state(req, box)
        if state is None:
            try:
                start = datetime.fromisoformat(req.query["startDateTime"].replace("Z", "+00:00"))
                end = datetime.fromisoformat(req.query["endDateTime"].replace("Z", "+00:00"))
            except (KeyError, ValueError) as e:
                raise GraphError(
                    400,
                    "ErrorInvalidParameter",
                    "This request requires a time window specified by the query string "
                    "parameters StartDateTime and EndDateTime.",
                ) from e
            if start.tzinfo is None or end.tzinfo is None:
                start, end = start.replace(tzinfo=UTC), end.replace(tzinfo=UTC)
        else:
            start, end = datetime.fromisoformat(state["s"]), datetime.fromisoformat(state["e"])
        low = state["w"] if state else 0
        high = state.get("t") if state and state.get("t") is not None else box.seq
        offset = state.get("o", 0) if state else 0
        entries: list[tuple[int, str, dict | None]] = []
        for rec in coll.records.values():
            if not low < rec.seq <= high:
                continue
            full = self.render(req, coll, rec, delta=True)
            for inst_id, inst in instances(rec, start, end):
                if inst_id == rec.id:
                    entries.append((rec.seq, inst_id, full))
                    continue
                self._occurrences[inst_id] = rec.id
                entries.append((rec.seq, inst_id, self._instance_body(req, full, inst_id, inst)))
        if low:
            entries += [(s, i, None) for i, s in coll.tombstones.items() if low < s <= high]
        entries.sort(key=lambda e: (e[0], e[1]))
        values = [
            value if value is not None else {"id": item_id, "@removed": {"reason": "deleted"}}
            for _, item_id, value in entries
        ]
        window = {"s": start.isoformat(), "e": end.isoformat()}
        return self._delta_answer(req, box, values, low, high, offset, coll, window)


class _Rendered(Sequence):
    """A delta's entries, rendered when a page of them is taken."""

    def __init__(self, entries: list, render: Callable[[Any], dict]) -> None:
        self.entries, self.render = entries, render

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        if isinstance(index, slice):
            return [self.render(e) for e in self.entries[index]]
        return self.render(self.entries[index])
