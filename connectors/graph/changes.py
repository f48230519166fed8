"""The Graph connector's change lists: contacts' and tasks' delta, the calendar's calendarView
delta over a rolling window (series read by their master), paging and expired sync states.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode

from ..base import NOT_FOUND, ChangePage, ConnectorError, Folder, RemoteItem
from .client import describe
from .constants import CORRUPT, INVALID_SYNC_STATE, ROLL_DAYS

log = logging.getLogger(__name__)

_EXPIRED = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}


class Changes:
    """list_changes and its paging: a mixin of GraphConnector."""

    def _pages(self, url: str, stateful: bool) -> Iterator[tuple[list[dict], str, bool]]:
        while True:
            answer = self.client.request("GET", url, headers=self._prefer(page=True))
            expired = answer.status == 410 or (
                answer.status >= 400 and answer.code.lower() in _EXPIRED
            )
            if expired and stateful:
                raise ConnectorError(
                    f"Graph no longer knows this sync state ({answer.code or answer.status}); "
                    "listing everything again",
                    INVALID_SYNC_STATE,
                )
            if answer.status != 200 or not isinstance(answer.body, dict):
                raise describe(answer, self.mailbox)
            body = answer.body
            values = [v for v in body.get("value") or [] if isinstance(v, dict) and v.get("id")]
            following = body.get("@odata.nextLink")
            final = body.get("@odata.deltaLink")
            if not following and not final:
                raise ConnectorError(
                    "Graph's delta answer has neither a nextLink nor a deltaLink", CORRUPT
                )
            yield values, str(following or final), bool(final)
            if final:
                return
            url = str(following)
            stateful = True

    def list_changes(self, folder: Folder, sync_state: str | None) -> Iterator[ChangePage]:
        if folder == "calendar":
            yield from self._calendar_changes(sync_state)
            return
        url = sync_state or f"{self._collection(folder)}/delta"
        columns = list(self.supported_columns(folder))
        for values, state, complete in self._pages(url, bool(sync_state)):
            removed = list(dict.fromkeys(str(v["id"]) for v in values if "@removed" in v))
            changed = list(dict.fromkeys(str(v["id"]) for v in values if "@removed" not in v))
            created_ids = {
                str(v["id"])
                for v in values
                if v.get("createdDateTime") == v.get("lastModifiedDateTime")
            }
            created, updated, deleted = self._split(folder, changed, columns, created_ids)
            yield ChangePage(
                created, updated, list(dict.fromkeys(removed + deleted)), state, complete
            )

    def _split(
        self, folder: Folder, ids: list[str], columns: list[str], created_ids: set[str]
    ) -> tuple[list[RemoteItem], list[RemoteItem], list[str]]:
        created: list[RemoteItem] = []
        updated: list[RemoteItem] = []
        deleted: list[str] = []
        for item_id, got in zip(ids, self._read(folder, ids, columns), strict=True):
            if isinstance(got, RemoteItem):
                (created if item_id in created_ids else updated).append(got)
            elif got.error_code == NOT_FOUND:
                deleted.append(item_id)  # changed, then deleted before we read it
            else:
                log.warning(
                    "Graph item %s of %s unreadable: %s", item_id, self.mailbox, got.message
                )
        return created, updated, deleted

    def _calendar_changes(self, sync_state: str | None) -> Iterator[ChangePage]:
        """The window's changes since `sync_state`. When the window rolls, what changed in the
        old one comes first (its deletions included), then the new window listed from its
        start. A state Graph no longer knows raises INVALID_SYNC_STATE: the sync lists again
        (`list_changes(None)`) and reads the items it knows that the window leaves out by id."""
        link, _, fragment = (sync_state or "").partition("#")
        meta = {k: v[-1] for k, v in parse_qs(fragment).items()}
        masters = set(filter(None, meta.get("m", "").split(",")))
        now = datetime.now(UTC)
        end = datetime.fromisoformat(meta["e"]) if "e" in meta else None
        if link:
            if end is None:
                raise ConnectorError("A calendar sync state without its window", INVALID_SYNC_STATE)
            rolls = end < now + timedelta(days=self.future_days - ROLL_DAYS)
            for page in self._calendar_pages(link, True, masters, end):
                yield replace(page, complete=page.complete and not rolls)
            if not rolls:
                return
            log.info("Calendar window of %s rolls forward", self.mailbox)
        start = (now - timedelta(days=self.past_days)).replace(microsecond=0)
        end = (now + timedelta(days=self.future_days)).replace(microsecond=0)
        params = urlencode(
            {
                "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        link = f"{self.user}/calendarView/delta?{params}"
        yield from self._calendar_pages(link, False, masters, end)

    def _calendar_pages(
        self, link: str, stateful: bool, masters: set[str], end: datetime
    ) -> Iterator[ChangePage]:
        columns = list(self.supported_columns("calendar"))
        for values, state, complete in self._pages(link, stateful):
            ids: list[str] = []
            removed: list[str] = []
            for v in values:
                if "@removed" in v:
                    removed.append(str(v["id"]))
                elif v.get("type") in ("occurrence", "exception") and v.get("seriesMasterId"):
                    ids.append(str(v["seriesMasterId"]))
                else:
                    ids.append(str(v["id"]))
            ids = list(dict.fromkeys(ids))
            created, updated, deleted = self._split("calendar", ids, columns, set())
            for item in created + updated:
                if item.fields.get("recurrence_pattern"):
                    masters.add(item.item_id)
            if removed:
                # Out of the window or deleted: only a 404 means deleted. A deleted series shows
                # as removed occurrences only, so the known series masters are checked too.
                probe = list(dict.fromkeys(removed + sorted(masters - set(ids))))
                for item_id, got in zip(probe, self._exists("calendar", probe), strict=True):
                    if not got:
                        deleted.append(item_id)
                        masters.discard(item_id)
            fragment = urlencode({"e": end.isoformat(), "m": ",".join(sorted(masters))})
            yield ChangePage(
                created,
                updated,
                list(dict.fromkeys(deleted)),
                f"{state}#{fragment}",
                complete,
                partial=True,  # the window only
            )

    def _exists(self, folder: Folder, ids: Sequence[str]) -> list[bool]:
        requests = [{"method": "GET", "url": f"{self._item(folder, i)}?$select=id"} for i in ids]
        out = []
        for answer in self.client.batch(requests):
            if answer.status in (401, 403):
                raise describe(answer, self.mailbox)
            out.append(answer.status != 404)
        return out
