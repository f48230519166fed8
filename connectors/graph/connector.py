"""GraphConnector: the Connector protocol over Microsoft Graph (Exchange Online): contacts through
the contact folder's delta, events through calendarView/delta over a rolling window (series read
by seriesMasterId), tasks through the default To Do list's delta; writes in $batch with If-Match.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, quote, urlencode

from ..base import (
    CONFLICT,
    NOT_FOUND,
    AuthError,
    ChangePage,
    ConnectorError,
    Folder,
    ItemRef,
    ItemResult,
    ItemUpdate,
    NewItem,
    RemoteItem,
)
from . import exceptions as ex
from . import fields as gf
from .client import Answer, GraphClient, describe
from .recurrence import RecurrenceError
from .series import Job, SeriesWriter

log = logging.getLogger(__name__)

INVALID_SYNC_STATE = "ErrorInvalidSyncStateData"  # what the sync engine relists on
CORRUPT = "ErrorCorruptData"
REQUIRED_PERMISSIONS = (
    "Contacts.ReadWrite",
    "Calendars.ReadWrite",
    "Tasks.ReadWrite.All",
    "MailboxSettings.ReadWrite",
)
# The calendar window: a year back (recent meetings still get notes and outcomes), two years
# ahead (recurring series and planned events); it rolls forward once its end is 30 days nearer.
PAST_DAYS = 365
FUTURE_DAYS = 730
ROLL_DAYS = 30
_EXPIRED = {"syncstatenotfound", "resyncrequired", "syncstateinvalid"}
EXCEPTIONS = (
    "exceptions"  # a series' changed and cancelled occurrences (connectors.graph.exceptions)
)
_WHEN = {"scheduled_start", "scheduled_end", "is_all_day_event", "recurrence_pattern"}


class GraphConnector:
    """A Connector for one mailbox in Exchange Online, through Microsoft Graph (app-only)."""

    # A series' changed and cancelled occurrences: read from the master, written per occurrence.
    holds_exceptions = True

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        mailbox: str,
        client_secret: str | None = None,
        certificate_key: str | None = None,
        certificate_thumbprint: str | None = None,
        graph_url: str = "https://graph.microsoft.com/v1.0",
        login_url: str = "https://login.microsoftonline.com",
        timezone: str = "UTC",
        page_size: int = 100,
        past_days: int = PAST_DAYS,
        future_days: int = FUTURE_DAYS,
        max_wait: float = 60.0,
        timeout: float = 60.0,
        contact_folder: str = "contacts",
    ) -> None:
        self.client = GraphClient(
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            certificate_key=certificate_key,
            certificate_thumbprint=certificate_thumbprint,
            graph_url=graph_url,
            login_url=login_url,
            timeout=timeout,
            max_wait=max_wait,
        )
        self.mailbox = mailbox
        self.user = f"/users/{quote(mailbox, safe='@.')}"
        self.tz = zoneinfo.ZoneInfo(timezone)
        self.codec = gf.Codec(self.tz)
        self.page_size = page_size
        self.past_days, self.future_days = past_days, future_days
        self.contact_folder = contact_folder
        self._task_list: str | None = None
        self._categories_checked = False

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        return self.client.requests

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def supported_columns(folder: Folder) -> tuple[str, ...]:
        unsupported = gf.UNSUPPORTED["task"] if folder == "tasks" else {}
        columns = tuple(c for c in gf.MAPPINGS[folder] if c not in unsupported)
        return (*columns, EXCEPTIONS) if folder == "calendar" else columns

    def _prefer(self, *, page: bool = False) -> dict[str, str]:
        prefer = 'IdType="ImmutableId", outlook.timezone="UTC", outlook.body-content-type="text"'
        if page:
            prefer += f", odata.maxpagesize={self.page_size}"
        return {"Prefer": prefer}

    def _collection(self, folder: Folder) -> str:
        if folder == "contacts":
            return f"{self.user}/contactFolders/{self.contact_folder}/contacts"
        if folder == "calendar":
            return f"{self.user}/calendar/events"
        return f"{self.user}/todo/lists/{self.task_list()}/tasks"

    def _item(self, folder: Folder, item_id: str) -> str:
        if folder == "contacts":
            return f"{self.user}/contacts/{item_id}"
        if folder == "calendar":
            return f"{self.user}/events/{item_id}"
        return f"{self.user}/todo/lists/{self.task_list()}/tasks/{item_id}"

    def _expand(self, folder: Folder) -> str:
        if folder == "tasks":
            return "linkedResources"
        ids = " or ".join(f"id eq '{i}'" for i in gf.ext_ids(folder))
        return f"singleValueExtendedProperties($filter={ids})"

    def _get(self, path: str, params: dict[str, str] | None = None) -> Answer:
        answer = self.client.request("GET", path, headers=self._prefer(), params=params)
        if answer.status != 200 or not isinstance(answer.body, dict):
            raise describe(answer, self.mailbox)
        return answer

    def task_list(self) -> str:
        """The default To Do list's id (wellknownListName defaultList)."""
        if self._task_list is None:
            body = self._get(f"{self.user}/todo/lists").body
            lists = body.get("value") or []  # type: ignore[union-attr]
            chosen = next((x for x in lists if x.get("wellknownListName") == "defaultList"), None)
            if chosen is None and lists:
                chosen = lists[0]
            if chosen is None:
                raise ConnectorError(f"{self.mailbox} has no To Do list", "ErrorFolderNotFound")
            self._task_list = str(chosen["id"])
        return self._task_list

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

    def _check_columns(self, folder: Folder, columns: Sequence[str]) -> None:
        known = self.supported_columns(folder)
        bad = [c for c in columns if c not in known]
        if bad:
            reasons = [r for c in bad if (r := gf.UNSUPPORTED["task"].get(c)) and folder == "tasks"]
            raise ValueError(
                f"No Graph mapping for {bad} in {folder}"
                + (f" ({' '.join(reasons)})" if reasons else "")
            )

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

    # -- change lists --------------------------------------------------------------------------
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

    # -- reads ---------------------------------------------------------------------------------
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

    # -- writes --------------------------------------------------------------------------------
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

    # -- Test connection -----------------------------------------------------------------------
    def test_connection(self) -> list[str]:
        """Get a token, open the contacts folder, calendar and default To Do list; say what is
        wrong in words (AuthError / ConnectorError) or return what was checked."""
        token = self.client.token()
        roles = set(_claims(token).get("roles") or [])
        if not roles:
            raise AuthError(
                "Admin consent is missing: the token carries no application permissions. An "
                "administrator must grant admin consent to the app registration for "
                + ", ".join(REQUIRED_PERMISSIONS),
                "ErrorAccessDenied",
            )
        missing = [p for p in REQUIRED_PERMISSIONS if p not in roles]
        if missing:
            raise AuthError(
                "The app lacks the application permission(s) "
                + ", ".join(missing)
                + " (add them in Entra ID > App registrations > API permissions, then grant "
                "admin consent)",
                "ErrorAccessDenied",
            )
        done = [f"token for tenant {self.client.tenant_id} ({', '.join(sorted(roles))})"]
        self._get(f"{self.user}/contactFolders/{self.contact_folder}")
        done.append("contacts folder")
        self._get(f"{self.user}/calendar")
        done.append("calendar")
        self._task_list = None
        self.task_list()
        done.append("default To Do list")
        return done


def _keeps_exceptions(folder: Folder, fields: dict[str, object]) -> bool:
    """A series' new time or pattern (which drops its exceptions in Exchange) without new
    exceptions: the current ones are read first and written again. Not for a single event."""
    return (
        folder == "calendar"
        and bool(_WHEN & set(fields))
        and EXCEPTIONS not in fields
        and fields.get("recurrence_pattern") != ""
    )


def _claims(token: str) -> dict:
    """The payload of a JWT access token (not verified: only read for its roles)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
