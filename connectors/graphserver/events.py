"""The Graph test server's series: an event's checks, a series' instances, and one occurrence
read, changed (it becomes an exception) or cancelled by its id.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .protocol import GraphError, Request
from .store import (
    Collection,
    Mailbox,
    Record,
    format_local,
    instances,
    occurrence,
    occurrence_id,
    occurrence_starts,
    original_key,
    parse_local,
)


class Events:
    """Events, series and their occurrences: a mixin of GraphServer."""

    @staticmethod
    def _check_event(data: dict) -> None:
        if "start" not in data or "end" not in data:
            raise GraphError(
                400, "ErrorPropertyValidationFailure", "An event needs a start and an end."
            )
        try:
            start, end = parse_local(data["start"]), parse_local(data["end"])
        except ValueError as e:
            raise GraphError(400, "ErrorTimeZoneNotSupported", str(e)) from e
        if end < start:
            raise GraphError(400, "ErrorPropertyValidationFailure", "The end is before the start.")
        if data.get("isAllDay") and (
            start.time() != datetime.min.time() or end.time() != datetime.min.time()
        ):
            raise GraphError(
                400,
                "ErrorPropertyValidationFailure",
                "All-day events must start and end at midnight.",
            )
        if data.get("recurrence"):
            try:
                occurrence_starts(data, start + timedelta(days=400), limit=3)
            except (KeyError, ValueError, TypeError) as e:
                raise GraphError(
                    400, "ErrorPropertyValidationFailure", f"Invalid recurrence: {e}"
                ) from e

    def _instance_ids(self, record: Record) -> set[str]:
        now = datetime.now(UTC)
        found = instances(record, now - timedelta(days=800), now + timedelta(days=1900))
        for occ_id, _ in found:
            if occ_id != record.id:
                self._occurrences[occ_id] = record.id
        return {i for i, _ in found}

    @staticmethod
    def _original_of(master: Record, occ_id: str) -> datetime | None:
        """The original start of the occurrence of `master` with this id."""
        if not master.data.get("recurrence"):
            return None
        until = datetime.now(UTC) + timedelta(days=1900)
        starts = occurrence_starts(master.data, until)
        return next((m for m in starts if occurrence_id(master.id, m) == occ_id), None)

    def _instances(
        self, req: Request, box: Mailbox, master_id: str | None
    ) -> tuple[int, dict, object]:
        master = box.collections["calendar"].records.get(master_id or "")
        if master is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        try:
            start = datetime.fromisoformat(req.query["startDateTime"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(req.query["endDateTime"].replace("Z", "+00:00"))
        except (KeyError, ValueError) as e:
            raise GraphError(
                400, "ErrorInvalidParameter", "startDateTime and endDateTime are required."
            ) from e
        full = self.render(req, box.collections["calendar"], master, delta=True)
        out = []
        for inst_id, inst in instances(master, start, end):
            if inst_id != master.id:
                self._occurrences[inst_id] = master.id
            out.append(self._select(req, self._instance_body(req, full, inst_id, inst)))
        return 200, {}, {"value": out}

    def _occurrence(
        self, req: Request, box: Mailbox, coll: Collection, occ_id: str
    ) -> tuple[int, dict, object]:
        """GET, PATCH (it becomes an exception) or DELETE (it is cancelled) of one occurrence
        of a series, by the id the series' instances or the calendar's delta gave it."""
        master = coll.records.get(self._occurrences[occ_id])
        moment = self._original_of(master, occ_id) if master is not None else None
        if master is None or moment is None or original_key(moment) in master.cancelled:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        match = req.headers.get("if-match")
        if req.method != "GET" and match and match != "*" and match != master.etag:
            raise GraphError(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )
        key = original_key(moment)
        if req.method == "DELETE":
            master.cancelled.append(key)
            master.overrides.pop(key, None)
            self.store.touch(box, master)
            coll.tombstones[occ_id] = master.seq
            return 204, {}, None
        if req.method == "PATCH":
            self._patch_occurrence(req, master, key)
            self.store.touch(box, master)
        elif req.method != "GET":
            raise GraphError(405, "ErrorInvalidRequest", f"{req.method} is not allowed here.")
        length = parse_local(master.data["end"]) - parse_local(master.data["start"])
        found = occurrence(master, moment, length)
        full = self.render(req, coll, master, delta=True)
        return 200, {"ETag": master.etag}, self._instance_body(req, full, *found)  # type: ignore[misc]

    def _patch_occurrence(self, req: Request, master: Record, key: str) -> None:
        self.check_request("event", req.body)
        body = dict(req.body)  # type: ignore[arg-type]
        refused = set(body) & {"recurrence", "singleValueExtendedProperties", "seriesMasterId"}
        if refused:
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                f"The property '{sorted(refused)[0]}' cannot be set on an occurrence.",
            )
        for prop in ("id", "changeKey", "createdDateTime", "lastModifiedDateTime", "type"):
            body.pop(prop, None)
        override = dict(master.overrides.get(key, {}))
        for prop, value in body.items():
            if value is None:
                override.pop(prop, None)
            else:
                override[prop] = value
        moment = datetime.fromisoformat(key.replace("Z", "+00:00"))
        length = parse_local(master.data["end"]) - parse_local(master.data["start"])
        tz_name = master.data["start"].get("timeZone") or "UTC"
        check = {
            "start": format_local(moment, tz_name),
            "end": format_local(moment + length, tz_name),
            "isAllDay": master.data.get("isAllDay", False),
        } | override
        self._check_event(check)
        master.overrides[key] = override
