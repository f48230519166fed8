"""The Graph connector's writes: creates, PATCHes with If-Match and deletes in $batch, a task's
CRM link, the master category list, and a series' occurrences handed to series.py.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from ..base import Folder, ItemRef, ItemResult, ItemUpdate, NewItem, RemoteItem
from . import fields as gf
from .constants import EXCEPTIONS
from .recurrence import RecurrenceError
from .series import Job, SeriesWriter

log = logging.getLogger(__name__)

_WHEN = {"scheduled_start", "scheduled_end", "is_all_day_event", "recurrence_pattern"}


class Writes:
    """create_items, update_items and delete_items: a mixin of GraphConnector."""

    def _ensure_categories(self, names: set[str]) -> None:
        """The tracked category in the mailbox's master list, so Outlook shows it in colour."""
        if self._categories_checked or not names:
            return
        self._categories_checked = True
        path = f"{self.user}/outlook/masterCategories"
        answer = self.client.request("GET", path)
        if answer.status != 200 or not isinstance(answer.body, dict):
            log.info("Master categories of %s not readable: %s", self.mailbox, answer.message)
            return
        have = {c.get("displayName") for c in answer.body.get("value") or []}
        for name in sorted(names - have):
            self.client.request("POST", path, body={"displayName": name, "color": "preset7"})

    def create_items(self, folder: Folder, items: Sequence[NewItem]) -> list[ItemResult]:
        results: list[ItemResult | None] = [None] * len(items)
        requests: list[dict] = []
        positions: list[int] = []
        self._ensure_categories({c for i in items for c in i.categories})
        for index, new in enumerate(items):
            try:
                self._check_columns(folder, list(new.fields))
                body = self._new_body(folder, new)
            except (ValueError, TypeError, RecurrenceError) as e:
                results[index] = ItemResult(
                    False, None, None, "ErrorInvalidPropertyValue", str(e), index, new.crm_id
                )
                continue
            requests.append(
                {
                    "method": "POST",
                    "url": self._collection(folder),
                    "headers": {"Content-Type": "application/json", **self._prefer()},
                    "body": body,
                }
            )
            positions.append(index)
        jobs: list[Job] = []
        for index, answer in zip(positions, self.client.batch(requests), strict=True):
            crm_id = items[index].crm_id
            if answer.status == 201 and isinstance(answer.body, dict) and answer.body.get("id"):
                etag = str(answer.body.get("@odata.etag") or "")
                item_id = str(answer.body["id"])
                results[index] = ItemResult(True, item_id, etag, None, "", index, crm_id)
                if folder == "calendar" and items[index].fields.get(EXCEPTIONS):
                    jobs.append(Job(index, item_id, items[index].fields[EXCEPTIONS]))
            else:
                results[index] = self._failure(answer, None, index, crm_id)
        if jobs:
            SeriesWriter(self).write(jobs, results)  # type: ignore[arg-type]
        return [r for r in results if r is not None]

    def _new_body(self, folder: Folder, new: NewItem) -> dict:
        values = dict(new.fields)
        values.pop(EXCEPTIONS, None)
        if folder == "contacts":
            for column in ("first_name", "middle_name", "last_name"):
                values.setdefault(column, "")
        if folder == "calendar" and not {"scheduled_start", "scheduled_end"} <= set(values):
            raise ValueError("An appointment needs scheduled_start and scheduled_end")
        body = self.codec.write(folder, values)
        if folder == "contacts" and not body.get("displayName"):
            email = (body.get("primaryEmailAddress") or {}).get("address")
            body["displayName"] = body.get("companyName") or email or "(no name)"
        if folder == "contacts" and not any(body.get(k) for k in ("displayName", "companyName")):
            raise ValueError("A contact needs a name")
        for key in [k for k, v in body.items() if v is None]:
            del body[key]  # nothing to clear on a new item
        if new.categories:
            body["categories"] = list(new.categories)
        if folder == "tasks":
            body.setdefault("title", "")
            kind = str(new.fields.get("activity_type") or "")
            if new.crm_id or kind:  # an untracked typed task: the link says the type only
                body["linkedResources"] = [self._link(new.crm_id or "", kind)]
        else:
            if new.crm_id:
                body.setdefault("singleValueExtendedProperties", []).append(
                    {"id": gf.CRM_ID, "value": new.crm_id}
                )
        if folder == "calendar":
            # The same transaction id for the same CRM record: a retried POST makes no duplicate.
            seed = new.crm_id or uuid.uuid4().hex
            body["transactionId"] = str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"syncadmin:{self.mailbox}:{seed}")
            )
        return body

    @staticmethod
    def _link(crm_id: str, kind: str = "") -> dict:
        name = gf.LINK_NAMES.get(kind, gf.LINK_NAMES[""])
        return {"applicationName": gf.LINK_APP, "displayName": name, "externalId": crm_id}

    def update_items(
        self, folder: Folder, updates: Sequence[ItemUpdate], *, overwrite: bool = False
    ) -> list[ItemResult]:
        results: list[ItemResult | None] = [None] * len(updates)
        current = self._current_for_update(folder, updates, results)
        requests: list[dict] = []
        positions: list[int] = []
        jobs: list[Job] = []
        for index, upd in enumerate(updates):
            if results[index] is not None:
                continue
            values = current.get(index, {})
            if EXCEPTIONS in upd.fields or values.get(EXCEPTIONS):
                desired = upd.fields.get(EXCEPTIONS, values.get(EXCEPTIONS))
                jobs.append(Job(index, upd.item_id, desired))
            request = self._patch_request(folder, upd, values, overwrite, index)
            if request is None:  # the series' occurrences only
                jobs[-1].expected = None if overwrite else upd.change_key
                continue
            if isinstance(request, ItemResult):
                results[index] = request
                continue
            requests.append(request)
            positions.append(index)
        for index, answer in zip(positions, self.client.batch(requests), strict=True):
            upd = updates[index]
            if answer.status == 200 and isinstance(answer.body, dict) and answer.body.get("id"):
                etag = str(answer.body.get("@odata.etag") or "")
                if folder == "tasks" and upd.crm_id:
                    etag = self._retag_task(upd.item_id, upd.crm_id) or etag
                results[index] = ItemResult(True, upd.item_id, etag, None, "", index, upd.crm_id)
            else:
                results[index] = self._failure(answer, upd.item_id, index)
        jobs = [j for j in jobs if results[j.index] is None or results[j.index].ok]  # type: ignore[union-attr]
        if jobs:
            SeriesWriter(self).write(jobs, results)
        return [r for r in results if r is not None]

    def _current_for_update(
        self, folder: Folder, updates: Sequence[ItemUpdate], results: list[ItemResult | None]
    ) -> dict[int, dict[str, object]]:
        """Checks the columns, and reads the values a partial update must send whole (a
        start without its end, an address part...). Refusals go into `results`."""
        need: dict[int, list[str]] = {}
        for index, upd in enumerate(updates):
            try:
                self._check_columns(folder, list(upd.fields))
            except ValueError as e:
                results[index] = ItemResult(
                    False, upd.item_id, None, "ErrorInvalidPropertyValue", str(e), index
                )
                continue
            missing = gf.missing_for(folder, [c for c in upd.fields if c != EXCEPTIONS])
            if _keeps_exceptions(folder, upd.fields):
                missing.append(EXCEPTIONS)  # a new time or pattern drops them: written again
            if missing:
                need[index] = missing
        current: dict[int, dict[str, object]] = {}
        if not need:
            return current
        cols = list(dict.fromkeys(c for cs in need.values() for c in cs))
        for index, got in zip(
            need, self._read(folder, [updates[i].item_id for i in need], cols), strict=True
        ):
            if isinstance(got, RemoteItem):
                current[index] = {c: got.fields.get(c) for c in need[index]}
            else:
                results[index] = ItemResult(
                    False, updates[index].item_id, None, got.error_code, got.message, index
                )
        return current

    def _patch_request(
        self,
        folder: Folder,
        upd: ItemUpdate,
        current: dict[str, object],
        overwrite: bool,
        index: int,
    ) -> dict | ItemResult | None:
        """The PATCH of one update inside a `$batch`, the refusal of that item, or None when
        only the series' occurrences change."""
        values = dict(upd.fields)
        for column, value in current.items():
            values.setdefault(column, value)
        values.pop(EXCEPTIONS, None)  # written per occurrence (series.py)
        series = EXCEPTIONS in upd.fields
        try:
            body = self.codec.write(folder, values)
        except (ValueError, TypeError, RecurrenceError) as e:
            return ItemResult(False, upd.item_id, None, "ErrorInvalidPropertyValue", str(e), index)
        if upd.crm_id is not None and folder != "tasks":
            body.setdefault("singleValueExtendedProperties", []).append(
                {"id": gf.CRM_ID, "value": upd.crm_id}
            )
        if not body and series:
            return None
        if not body and not (upd.crm_id and folder == "tasks"):
            return ItemResult(
                False, upd.item_id, None, "ErrorInvalidPropertyValue", "Nothing to update", index
            )
        headers = {"Content-Type": "application/json", **self._prefer()}
        if not overwrite and upd.change_key:
            headers["If-Match"] = upd.change_key
        return {
            "method": "PATCH",
            "url": self._item(folder, upd.item_id),
            "headers": headers,
            "body": body,
        }

    def _retag_task(self, item_id: str, crm_id: str) -> str | None:
        path = f"{self._item('tasks', item_id)}/linkedResources"
        links = self.client.request("GET", path)
        kind = ""  # the activity type the old link said, kept on the new one
        for link in (links.body or {}).get("value") or [] if isinstance(links.body, dict) else []:
            if link.get("applicationName") == gf.LINK_APP:
                kind = gf.LINK_TYPES.get(str(link.get("displayName") or ""), kind)
                self.client.request("DELETE", f"{path}/{link['id']}")
        self.client.request("POST", path, body=self._link(crm_id, kind))
        got = self.client.request("GET", self._item("tasks", item_id), params={"$select": "id"})
        return (
            str((got.body or {}).get("@odata.etag") or "") if isinstance(got.body, dict) else None
        )

    def delete_items(self, folder: Folder, refs: Sequence[ItemRef]) -> list[ItemResult]:
        requests = []
        for ref in refs:
            headers = {"If-Match": ref.change_key} if ref.change_key else {}
            requests.append(
                {"method": "DELETE", "url": self._item(folder, ref.item_id), "headers": headers}
            )
        results = []
        for index, (ref, answer) in enumerate(zip(refs, self.client.batch(requests), strict=True)):
            if answer.status in (200, 204):
                results.append(ItemResult(True, ref.item_id, None, None, "", index))
            else:
                results.append(self._failure(answer, ref.item_id, index))
        return results


def _keeps_exceptions(folder: Folder, fields: dict[str, object]) -> bool:
    """A series' new time or pattern (which drops its exceptions in Exchange) without new
    exceptions: the current ones are read first and written again. Not for a single event."""
    return (
        folder == "calendar"
        and bool(_WHEN & set(fields))
        and EXCEPTIONS not in fields
        and fields.get("recurrence_pattern") != ""
    )
