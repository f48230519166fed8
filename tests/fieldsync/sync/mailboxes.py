"""A mailbox as a test sees it, over any connector: what Outlook (or another CalDAV/CardDAV
client) would do to it (create, edit, delete items as a user) and what it holds, plus the
requests the sync sent."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass, replace

import vobject

from connectors.base import ItemRef, ItemResult, ItemUpdate, NewItem
from connectors.dav import DavConnector, vcard
from connectors.dav.radicale import RadicaleServer
from connectors.dav.xandikos import XandikosServer
from connectors.memory import MemoryConnector
from fieldsync.service.values import FOLDERS, _text_like, entity_fields

TRACKED = ("Tracked to CRM",)
_CALLS = {
    "list_changes": "SyncFolderItems",
    "get_items": "GetItem",
    "find_by_crm_ids": "FindItem",
    "create_items": "CreateItem",
    "update_items": "UpdateItem",
    "delete_items": "DeleteItem",
}


@dataclass(frozen=True)
class View:
    crm_id: str | None
    categories: tuple[str, ...]
    fields: dict


class MailboxLikeMemory(MemoryConnector):
    """The in-memory connector, reading every mapped column as a real mailbox does: a field
    nobody set reads as empty. (MemoryConnector itself keeps only the fields it was given, and
    the sync takes a missing column for "not read", never for "cleared".)"""

    def create_items(self, folder, items):  # type: ignore[no-untyped-def,override]
        blank = {
            c: "" if _text_like(ef.model_field(c)) else None
            for e, f in FOLDERS.items()
            if f == folder
            for ef in [entity_fields(e)]
            for c in ef.all_columns
        }
        filled = [NewItem(n.crm_id, blank | dict(n.fields), n.categories) for n in items]
        return super().create_items(folder, filled)


class MemoryMailbox:
    kind = "memory"

    def __init__(self) -> None:
        self.connector = MailboxLikeMemory(page_size=7)

    def create(
        self, folder: str, fields: dict, *, tracked: bool = True, categories: tuple = ()
    ) -> str:
        (r,) = self.connector.create_items(
            folder,  # type: ignore[arg-type]
            [NewItem(None, fields, categories or (TRACKED if tracked else ()))],  # type: ignore[arg-type]
        )
        return str(r.item_id)

    def set_categories(self, folder: str, item_id: str, categories: tuple) -> None:
        stored = self.connector.folders[folder][item_id]
        stored.categories = tuple(categories)
        self.connector._bump(stored)

    def edit(self, folder: str, item_id: str, **fields: object) -> None:
        self.connector.edit(folder, item_id, **fields)  # type: ignore[arg-type]

    def delete(self, folder: str, item_id: str) -> None:
        stored = self.connector.folders[folder][item_id]
        self.connector.delete_items(folder, [ItemRef(item_id, stored.change_key)])  # type: ignore[arg-type]

    def items(self, folder: str) -> dict[str, View]:
        return {
            i: View(s.crm_id, tuple(s.categories), dict(s.fields))
            for i, s in self.connector.folders[folder].items()
        }

    def reset_counts(self) -> None:
        self.connector.calls.clear()

    def requests(self) -> Counter:
        return Counter(_CALLS[c] for c in self.connector.calls)


class ExchangeMailbox:
    """A mailbox on the EWS test server; user actions go through a second connector, as
    Outlook is another client of the same server."""

    kind = "exchange"

    def __init__(self, ews, make_connector, address: str) -> None:  # type: ignore[no-untyped-def]
        self.ews = ews
        self.connector = make_connector(address)
        self.user = make_connector(address)

    def create(
        self, folder: str, fields: dict, *, tracked: bool = True, categories: tuple = ()
    ) -> str:
        (r,) = self.user.create_items(
            folder,
            [NewItem(None, fields, categories or (TRACKED if tracked else ()))],  # type: ignore[arg-type]
        )
        assert r.ok, r.message
        return str(r.item_id)

    def set_categories(self, folder: str, item_id: str, categories: tuple) -> None:
        """The user sets the item's categories in Outlook (through exchangelib)."""
        item = getattr(self.user.account, folder).get(id=item_id)
        item.categories = list(categories) or None
        item.save(update_fields=["categories"])

    def _key(self, folder: str, item_id: str) -> str:
        (got,) = self.user.get_items(
            folder, [item_id], ["subject"] if folder != "contacts" else ["first_name"]
        )
        return got.change_key  # type: ignore[union-attr]

    def edit(self, folder: str, item_id: str, **fields: object) -> None:
        key = self._key(folder, item_id)
        (r,) = self.user.update_items(
            folder, [ItemUpdate(item_id, key, dict(fields))], overwrite=True
        )
        assert r.ok, r.message

    def delete(self, folder: str, item_id: str) -> None:
        (r,) = self.user.delete_items(folder, [ItemRef(item_id, self._key(folder, item_id))])
        assert r.ok, r.message

    def items(self, folder: str) -> dict[str, View]:
        out = {}
        for page in self.user.list_changes(folder, None):  # type: ignore[arg-type]
            for it in page.created + page.updated:
                out[it.item_id] = View(it.crm_id, tuple(it.categories), dict(it.fields))
        return out

    def reset_counts(self) -> None:
        self.ews.reset()

    def requests(self) -> Counter:
        counts = Counter(dict(self.ews.counts))
        counts.pop("total", None)
        return counts


class GraphMailbox(ExchangeMailbox):
    """A mailbox on the Graph test server (Exchange Online through Microsoft Graph); user
    actions go through a second connector, as Outlook is another client of the same mailbox.
    The sync's HTTP requests are counted under the EWS operation each stands for."""

    kind = "graph"

    def set_categories(self, folder: str, item_id: str, categories: tuple) -> None:
        """The user sets the item's categories in Outlook (a PATCH of the item through Graph)."""
        kind = {"contacts": "contacts", "calendar": "events"}[folder]
        answer = self.user.client.request(
            "PATCH", f"{self.user.user}/{kind}/{item_id}", body={"categories": list(categories)}
        )
        assert answer.status == 200, answer.message

    def __init__(self, graph, make_graph, address: str) -> None:  # type: ignore[no-untyped-def]
        self.graph = graph
        self.connector = make_graph(address)
        self.user = make_graph(address)
        self.sent: Counter = Counter()
        self._lock = threading.Lock()
        client = self.connector.client
        request, send_batch = client.request, client._send_batch

        def counted(method: str, path: str, **kw: object):  # type: ignore[no-untyped-def]
            with self._lock:
                self.sent[_graph_call(method, path, kw.get("params"))] += 1
            return request(method, path, **kw)  # type: ignore[arg-type]

        def counted_batch(requests, chunk):  # type: ignore[no-untyped-def]
            with self._lock:
                self.sent[_BATCH_CALLS.get(requests[chunk[0]]["method"], "batch")] += 1
            return send_batch(requests, chunk)

        client.request = counted  # type: ignore[method-assign]
        client._send_batch = counted_batch  # type: ignore[method-assign]

    def reset_counts(self) -> None:
        self.sent.clear()

    def requests(self) -> Counter:
        return Counter(self.sent)


_BATCH_CALLS = {
    "GET": "GetItem",
    "POST": "CreateItem",
    "PATCH": "UpdateItem",
    "DELETE": "DeleteItem",
}


def _graph_call(method: str, path: str, params: object) -> str:
    """A Graph request the connector sent, named as the EWS operation it stands for."""
    if method == "GET" and ("/delta" in path or "deltatoken" in path or "skiptoken" in path):
        return "SyncFolderItems"
    if method == "GET" and "$filter" in str(params or "") + path:
        return "FindItem"
    return _BATCH_CALLS.get(method, method) if "/contacts/" in path else f"{method} {path}"


class DavMailbox:
    """An address book, calendar and task list of a user of their own on a real Radicale; user
    actions go through a second connector (or a raw PUT, as another CardDAV client writes)."""

    kind = "dav"

    def __init__(self, server: RadicaleServer | XandikosServer, user: str) -> None:
        self.connector = self._connect(server, user)
        self.connector.ensure_collections()
        self.user = self._connect(server, user)
        self.sent: Counter = Counter()
        send = self.connector.dav.request

        def counted(method: str, href: str, **kw: object):  # type: ignore[no-untyped-def]
            self.sent[_dav_call(method, kw)] += 1
            return send(method, href, **kw)  # type: ignore[arg-type]

        self.connector.dav.request = counted  # type: ignore[method-assign]

    @staticmethod
    def _connect(server: RadicaleServer | XandikosServer, user: str) -> DavConnector:
        return DavConnector(
            url=f"{server.url}{user}/",
            username=user,
            password="pw",
            timezone="Europe/Berlin",
            organizer=f"{user}@sync.test",
        )

    def close(self) -> None:
        self.connector.close()
        self.user.close()

    def create(
        self, folder: str, fields: dict, *, tracked: bool = True, categories: tuple = ()
    ) -> str:
        """An item made by a client that knows nothing of the CRM: no CRM id, a name of its own."""
        uid = str(uuid.uuid4())
        categories = categories or (TRACKED if tracked else ())
        coll = self.user.collections[folder]
        if folder == "contacts":
            card = vobject.readOne(vcard.new(uid, "-", fields, categories))
            card.contents.pop(vcard.CRM_ID.lower(), None)
            body = card.serialize().encode()
        else:
            text = self.user.codec.new(coll.component, uid, "-", fields, categories)
            lines = [ln for ln in text.splitlines() if not ln.startswith(b"X-SYNCADMIN-CRM-ID")]
            body = b"\r\n".join(lines) + b"\r\n"
        href = f"{coll.path}{uid}.{coll.ext}"
        self.user.dav.request(
            "PUT",
            coll.resolve(href),
            body=body,
            headers={"Content-Type": coll.content_type, "If-None-Match": "*"},
        )
        return href

    def edit(self, folder: str, item_id: str, **fields: object) -> None:
        (r,) = self.user.update_items(
            folder, [ItemUpdate(item_id, "", dict(fields))], overwrite=True
        )  # type: ignore[arg-type]
        assert r.ok, r.message

    def delete(self, folder: str, item_id: str) -> None:
        (r,) = self.user.delete_items(folder, [ItemRef(item_id, "")])  # type: ignore[arg-type]
        assert r.ok, r.message

    def set_categories(self, folder: str, item_id: str, categories: tuple) -> None:
        """Another client rewrites the CATEGORIES line of the card or event (raw GET and PUT)."""
        dav = self.user.dav
        url = dav.absolute(self.user.collections[folder].resolve(item_id))
        got = dav.session.get(url)
        lines = [ln for ln in got.text.splitlines() if not ln.upper().startswith("CATEGORIES")]
        end = (
            "END:VCARD"
            if folder == "contacts"
            else "END:VEVENT"
            if folder == "calendar"
            else "END:VTODO"
        )
        at = lines.index(end)
        if categories:
            lines.insert(at, "CATEGORIES:" + ",".join(categories))
        body = ("\r\n".join(lines) + "\r\n").encode()
        answer = dav.session.put(
            url, data=body, headers={"Content-Type": got.headers.get("Content-Type", "text/plain")}
        )
        assert answer.status_code in (201, 204), answer.status_code

    def items(self, folder: str) -> dict[str, View]:
        out = {}
        for page in self.user.list_changes(folder, None):  # type: ignore[arg-type]
            for it in page.created + page.updated:
                out[it.item_id] = View(it.crm_id, tuple(it.categories), dict(it.fields))
        return out

    def reset_counts(self) -> None:
        self.sent.clear()

    def requests(self) -> Counter:
        return Counter(self.sent)


class XandikosMailbox(DavMailbox):
    """The same on Xandikos, whose layout is not Radicale's: one principal, and the mailbox's
    address book and calendars made in its homes (contacts/NAME/, calendars/NAME/...)."""

    @staticmethod
    def _connect(server: RadicaleServer | XandikosServer, user: str) -> DavConnector:
        home = server.principal_url  # type: ignore[union-attr]
        return DavConnector(
            url=home,
            addressbook=f"{home}contacts/{user}/",
            calendar=f"{home}calendars/{user}/",
            tasks=f"{home}calendars/{user}-tasks/",
            timezone="Europe/Berlin",
            organizer=f"{user}@sync.test",
        )


def _dav_call(method: str, kw: dict) -> str:
    """The HTTP request the DAV connector sent, named as the EWS operation it stands for."""
    body = kw.get("body") or b""
    if method == "REPORT":
        if b"sync-collection" in body:
            return "SyncFolderItems"
        return "GetItem" if b"multiget" in body else "FindItem"
    if method == "PUT":
        return "CreateItem" if "If-None-Match" in (kw.get("headers") or {}) else "UpdateItem"
    return {"DELETE": "DeleteItem"}.get(method, method)


# -- fault injection, the same scenario on every connector ----------------------------------------

TRANSIENT = "ErrorInternalServerTransientError"


def fail_next_update(mailbox, item_id: str) -> None:  # type: ignore[no-untyped-def]
    """The sync's next write of `item_id` fails with a transient error (the item is untouched):
    an injected per-item error on the EWS test server, a 503 answering the PUT on DAV."""
    if mailbox.kind == "memory":
        left = [1]

        def once(operation: str, upd: object) -> bool:
            hit = operation == "update" and getattr(upd, "item_id", None) == item_id and left[0]
            if hit:
                left[0] -= 1
            return bool(hit)

        mailbox.connector.fail_when(once, TRANSIENT)
    elif mailbox.kind == "exchange":
        mailbox.ews.faults.item_error(TRANSIENT, operation="UpdateItem", match=item_id)
    elif mailbox.kind == "graph":
        # The item's PATCH inside the $batch answers a transient error once (Graph's 503).
        update_items = mailbox.connector.update_items
        left = [1]

        def refuse_once(folder, updates, **kw):  # type: ignore[no-untyped-def]
            hit = [i for i, u in enumerate(updates) if u.item_id == item_id and left[0]]
            if not hit:
                return update_items(folder, updates, **kw)
            left[0] -= 1
            rest = [u for u in updates if u.item_id != item_id]
            done = iter(update_items(folder, rest, **kw) if rest else [])
            return [
                ItemResult(False, item_id, None, TRANSIENT, "HTTP 503 inside $batch", index=i)
                if u.item_id == item_id
                else replace(next(done), index=i)
                for i, u in enumerate(updates)
            ]

        mailbox.connector.update_items = refuse_once
    else:
        from connectors.base import ThrottledError

        send = mailbox.connector.dav.request
        left = [1]

        def refuse_once(method: str, href: str, **kw: object):  # type: ignore[no-untyped-def]
            if method == "PUT" and href.endswith(item_id) and left[0]:
                left[0] -= 1
                raise ThrottledError(f"PUT {href}: HTTP 503, retry after None s", "HTTP503")
            return send(method, href, **kw)  # type: ignore[arg-type]

        mailbox.connector.dav.request = refuse_once
