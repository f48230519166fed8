"""The DAV connector's writes: one PUT or DELETE per item with an ETag precondition (If-Match, or
If-None-Match: * on create), each answered by its own ItemResult.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..base import (
    CONFLICT,
    NOT_FOUND,
    ConnectorError,
    Folder,
    ItemRef,
    ItemResult,
    ItemUpdate,
    NewItem,
    ThrottledError,
    TransientError,
)
from . import vcard
from .store import DavStore, Fetched
from .webdav import parse_multistatus, precondition

_STOPS = (TransientError, ThrottledError)  # the server is away or busy: stop the batch

INVALID = "ErrorInvalidPropertyValue"


def _same_etag(a: str | None, b: str | None) -> bool:
    def norm(tag: str | None) -> str:
        return (tag or "").removeprefix("W/")

    return bool(a) and norm(a) == norm(b)


def create_items(conn: DavStore, folder: Folder, items: Sequence[NewItem]) -> list[ItemResult]:
    coll = conn.collections[folder]
    results: list[ItemResult] = []
    stopped: ConnectorError | None = None
    for index, new in enumerate(items):
        if stopped is not None:
            results.append(_not_attempted(stopped, index, None, new.crm_id))
            continue
        href = conn._href(folder, new.crm_id)
        uid = conn._name(folder, new.crm_id)
        try:
            conn._check(folder, list(new.fields))
            if folder == "contacts":
                body = vcard.new(uid, new.crm_id, new.fields, new.categories).encode()
            else:
                body = conn.codec.new(coll.component, uid, new.crm_id, new.fields, new.categories)
        except (ValueError, TypeError) as e:
            results.append(ItemResult(False, None, None, INVALID, str(e), index, new.crm_id))
            continue
        try:
            result = _put(conn, folder, href, body, {"If-None-Match": "*"}, index)
        except _STOPS as e:
            stopped = e
            results.append(_not_attempted(e, index, None, new.crm_id, tried=True))
            continue
        if result.error_code == CONFLICT:
            result = ItemResult(
                False,
                href,
                None,
                CONFLICT,
                f"An item for CRM record {new.crm_id} already exists at {href} "
                "(left by an interrupted run?); find_by_crm_ids returns it",
                index,
            )
        results.append(_with_crm(result, new.crm_id))
    return results


def update_items(
    conn: DavStore, folder: Folder, updates: Sequence[ItemUpdate], *, overwrite: bool = False
) -> list[ItemResult]:
    results: list[ItemResult] = []
    stopped: ConnectorError | None = None
    for start in range(0, len(updates), conn.page_size):
        batch = updates[start : start + conn.page_size]
        current: dict[str, Fetched] = {}
        if stopped is None:
            try:
                current = conn._multiget(folder, [conn._item_id(u.item_id) for u in batch])
            except _STOPS as e:
                stopped = e
        for index, upd in enumerate(batch, start):
            if stopped is not None:
                results.append(_not_attempted(stopped, index, upd.item_id, upd.crm_id))
                continue
            got = current.get(conn._item_id(upd.item_id))
            result = _update_one(conn, folder, upd, got, index, overwrite)
            if isinstance(result, ConnectorError):
                stopped = result
                result = _not_attempted(result, index, upd.item_id, upd.crm_id, tried=True)
            results.append(result)
    return results


def _update_one(
    conn: DavStore,
    folder: Folder,
    upd: ItemUpdate,
    got: Fetched | None,
    index: int,
    overwrite: bool,
) -> ItemResult | ConnectorError:
    """One item's update; a ConnectorError returned means the server stopped answering."""
    if got is None:
        return ItemResult(False, upd.item_id, None, NOT_FOUND, "Not found", index)
    if not overwrite and upd.change_key and not _same_etag(got.etag, upd.change_key):
        return _stale(got.href, got.etag, upd.change_key, index)
    try:
        body, crm_id = _updated_body(conn, folder, got, upd)
    except (ValueError, TypeError) as e:
        return ItemResult(False, got.href, None, INVALID, str(e), index)
    # The ETag we read equals the caller's (or overwrite was asked): a change made
    # since then still fails the precondition, and nothing is overwritten.
    match = got.etag if overwrite or not upd.change_key else upd.change_key
    try:
        result = _put(conn, folder, got.href, body, {"If-Match": match}, index)
    except _STOPS as e:
        return e
    if result.error_code == CONFLICT:
        result = _stale(got.href, None, match, index)
    return _with_crm(result, crm_id)


def _updated_body(
    conn: DavStore, folder: Folder, got: Fetched, upd: ItemUpdate
) -> tuple[bytes, str | None]:
    conn._check(folder, list(upd.fields))
    if folder == "contacts":
        text, crm_id = vcard.update(got.data, upd.fields, upd.crm_id)
        return text.encode(), crm_id
    component = conn.collections[folder].component
    return conn.codec.update(got.data, component, upd.fields, upd.crm_id)


def delete_items(conn: DavStore, folder: Folder, refs: Sequence[ItemRef]) -> list[ItemResult]:
    results: list[ItemResult] = []
    stopped: ConnectorError | None = None
    for index, ref in enumerate(refs):
        if stopped is not None:
            results.append(_not_attempted(stopped, index, ref.item_id, None))
            continue
        headers = {"If-Match": ref.change_key} if ref.change_key else {}
        url = conn.collections[folder].resolve(conn._item_id(ref.item_id))
        try:
            response = conn.dav.request(
                "DELETE", url, headers=headers, passthrough=(404, 409, 412, 423)
            )
        except _STOPS as e:
            stopped = e
            results.append(_not_attempted(e, index, ref.item_id, None, tried=True))
            continue
        status = response.status_code
        if status == 404:
            results.append(ItemResult(False, ref.item_id, None, NOT_FOUND, "Not found", index))
        elif status == 412:
            results.append(_stale(ref.item_id, None, ref.change_key, index))
        elif status >= 400:
            results.append(
                ItemResult(False, ref.item_id, None, f"HTTP{status}", response.reason, index)
            )
        else:
            results.append(ItemResult(True, ref.item_id, None, None, "", index))
    return results


def _put(
    conn: DavStore, folder: Folder, href: str, body: bytes, headers: dict[str, str], index: int
) -> ItemResult:
    coll = conn.collections[folder]
    response = conn.dav.request(
        "PUT",
        coll.resolve(href),
        body=body,
        headers={"Content-Type": coll.content_type, **headers},
        passthrough=(400, 403, 409, 412, 413, 415, 422, 507),
    )
    status = response.status_code
    if status in (409, 412):
        # 412: the If-Match/If-None-Match precondition failed; 409: the UID is taken.
        return ItemResult(False, href, None, CONFLICT, response.reason, index)
    if status >= 400:
        # CalDAV/CardDAV name the rule broken (valid-calendar-data, max-resource-size...).
        rule = precondition(response.content)
        detail = f"HTTP {status} {response.reason}" + (f" ({rule})" if rule else "")
        return ItemResult(
            False, href, None, INVALID, f"{detail}: the server refused the item", index
        )
    etag = response.headers.get("ETag") or _etag(conn, coll.resolve(href))
    return ItemResult(True, href, etag, None, "", index)


def _etag(conn: DavStore, url: str) -> str | None:
    """Servers that rewrite what they store may answer a PUT without an ETag."""
    response = conn.dav.request(
        "PROPFIND", url, headers={"Depth": "0"}, ok=(207,), passthrough=(404,)
    )
    if response.status_code != 207:
        return None
    entries, _ = parse_multistatus(response.content)
    return entries[0].etag if entries else None


def _with_crm(result: ItemResult, crm_id: str | None) -> ItemResult:
    return ItemResult(
        result.ok,
        result.item_id,
        result.change_key,
        result.error_code,
        result.message,
        result.index,
        crm_id,
    )


def _stale(item_id: str, current: str | None, sent: str | None, index: int) -> ItemResult:
    message = f"Changed on the server since change key {sent}" + (
        f" (now {current})" if current else ""
    )
    return ItemResult(False, item_id, current, CONFLICT, message, index)


def _not_attempted(
    error: ConnectorError, index: int, item_id: str | None, crm_id: str | None, tried: bool = False
) -> ItemResult:
    prefix = "" if tried else "Not attempted after an earlier failure: "
    return ItemResult(False, item_id, None, error.code, prefix + str(error), index, crm_id)
