"""The Graph connector's reads by id and by CRM id: batched GETs with the extended properties,
items turned into RemoteItems, and failed answers into ItemResults.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import quote

from ..base import CONFLICT, NOT_FOUND, Folder, ItemResult, RemoteItem
from . import exceptions as ex
from . import fields as gf
from .client import Answer, describe
from .constants import CORRUPT, EXCEPTIONS
from .recurrence import RecurrenceError
from .series import SeriesWriter

log = logging.getLogger(__name__)


class Reads:
    """get_items, find_by_crm_ids and the reading they share: a mixin of GraphConnector."""

    def _remote(self, folder: Folder, item: dict, columns: Sequence[str]) -> RemoteItem:
        if folder == "tasks":
            crm_id = next(
                (
                    r.get("externalId")
                    for r in item.get("linkedResources") or []
                    if r.get("applicationName") == gf.LINK_APP
                ),
                None,
            )
        else:
            crm_id = gf.extended(item).get(gf.CRM_ID.lower()) or None
        modified = item.get("lastModifiedDateTime")
        return RemoteItem(
            item_id=str(item["id"]),
            change_key=str(item.get("@odata.etag") or item.get("changeKey") or ""),
            crm_id=crm_id,
            categories=tuple(item.get("categories") or ()),
            fields=self._fields(folder, item, columns),
            modified=datetime.fromisoformat(modified.replace("Z", "+00:00")) if modified else None,
        )

    def _fields(self, folder: Folder, item: dict, columns: Sequence[str]) -> dict[str, object]:
        fields = self.codec.read(folder, item, [c for c in columns if c != EXCEPTIONS])
        if EXCEPTIONS in columns:
            fields[EXCEPTIONS] = ex.to_crm(ex.read_series(self.codec, item))
        return fields

    def _read(
        self, folder: Folder, ids: Sequence[str], columns: Sequence[str]
    ) -> list[RemoteItem | ItemResult]:
        """Full items by id (batched GETs with the extended properties)."""
        expand = quote(self._expand(folder), safe="()='$")
        series = folder == "calendar" and EXCEPTIONS in columns
        requests = [
            {
                "method": "GET",
                "url": SeriesWriter(self).master_url(i)
                if series
                else f"{self._item(folder, i)}?$expand={expand}",
                "headers": self._prefer(),
            }
            for i in ids
        ]
        out: list[RemoteItem | ItemResult] = []
        for index, (item_id, answer) in enumerate(
            zip(ids, self.client.batch(requests), strict=True)
        ):
            if answer.status == 200 and isinstance(answer.body, dict) and "id" in answer.body:
                try:
                    out.append(self._remote(folder, answer.body, columns))
                    continue
                except (KeyError, TypeError, ValueError, RecurrenceError) as e:
                    out.append(
                        ItemResult(
                            False, item_id, None, CORRUPT, f"Unreadable Graph item: {e}", index
                        )
                    )
                    continue
            out.append(self._failure(answer, item_id, index))
        return out

    def _failure(
        self, answer: Answer, item_id: str | None, index: int, crm_id: str | None = None
    ) -> ItemResult:
        if answer.status == 404:
            code = NOT_FOUND
        elif answer.status in (409, 412):
            code = CONFLICT
        elif answer.status in (401, 403):
            raise describe(answer, self.mailbox)
        elif 200 <= answer.status < 300:
            code = CORRUPT  # a success we cannot read
        else:
            code = answer.code or f"HTTP{answer.status}"
        message = (
            answer.message
            if answer.status >= 300
            else f"Unexpected Graph answer: {str(answer.body)[:200]}"
        )
        return ItemResult(False, item_id, None, code, message, index, crm_id)

    def get_items(
        self, folder: Folder, ids: Sequence[str], field_names: Sequence[str]
    ) -> list[RemoteItem | ItemResult]:
        self._check_columns(folder, field_names)
        out = self._read(folder, ids, field_names)
        return [
            ItemResult(r.ok, r.item_id, r.change_key, r.error_code, r.message, index)
            if isinstance(r, ItemResult)
            else r
            for index, r in enumerate(out)
        ]

    def find_by_crm_ids(self, folder: Folder, crm_ids: Sequence[str]) -> dict[str, RemoteItem]:
        wanted = list(dict.fromkeys(crm_ids))
        expand = quote(self._expand(folder), safe="()='$")
        requests = []
        for crm_id in wanted:
            value = crm_id.replace("'", "''")
            if folder == "tasks":
                text = f"linkedResources/any(r: r/externalId eq '{value}')"
            else:
                text = (
                    "singleValueExtendedProperties/any(ep: "
                    f"ep/id eq '{gf.CRM_ID}' and ep/value eq '{value}')"
                )
            path = self._collection(folder) if folder != "calendar" else f"{self.user}/events"
            requests.append(
                {
                    "method": "GET",
                    "url": f"{path}?$filter={quote(text, safe='()=/:$')}&$expand={expand}",
                    "headers": self._prefer(),
                }
            )
        columns = list(self.supported_columns(folder))
        found: dict[str, RemoteItem] = {}
        for crm_id, answer in zip(wanted, self.client.batch(requests), strict=True):
            if answer.status != 200 or not isinstance(answer.body, dict):
                if answer.status in (401, 403):
                    raise describe(answer, self.mailbox)
                log.warning(
                    "Looking up CRM id %s in %s failed: %s", crm_id, self.mailbox, answer.message
                )
                continue
            for item in answer.body.get("value") or []:
                try:
                    remote = self._remote(folder, item, columns)
                except (KeyError, TypeError, ValueError, RecurrenceError) as e:
                    log.warning("Unreadable Graph item in %s: %s", self.mailbox, e)
                    continue
                if remote.crm_id == crm_id and crm_id not in found:
                    found[crm_id] = remote
        if folder == "calendar":
            self._with_exceptions(found, columns)
        return found

    def _with_exceptions(self, found: dict[str, RemoteItem], columns: list[str]) -> None:
        """A list answers no series' occurrences (Graph returns them for a GET of the master by
        its id only): the series found are read again by id."""
        series = [(k, r.item_id) for k, r in found.items() if r.fields.get("recurrence_pattern")]
        if not series:
            return
        again = self._read("calendar", [i for _, i in series], columns)
        for (crm_id, _), got in zip(series, again, strict=True):
            if isinstance(got, RemoteItem):
                found[crm_id] = got
