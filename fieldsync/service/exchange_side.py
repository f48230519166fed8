"""The Exchange side of one entity's sync: the connector's change list since the saved state
(or the folder listed again), the items it leaves out read by id, in the engine's form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.base import NOT_FOUND, Connector, ConnectorError, RemoteItem
from fieldsync.engine import LinkState, Remote
from fieldsync.models.sync import MailboxSyncState, UnconfirmedItems
from fieldsync.service.crm_side import uuid_or_none
from fieldsync.service.values import EntityFields, item_entity

INVALID_SYNC_STATE = "ErrorInvalidSyncStateData"
ITEM = "item:"  # an item id among MailboxSyncState.retry_ids (the rest are CRM ids)


@dataclass
class Listing:
    """What the connector listed: the changed items, the deleted ids and the new state;
    `full`: every item listed (no sync state to start from); `partial`: a part of the folder
    only (ChangePage.partial); `vanished`: unconfirmed items the listing left out."""

    items: list[RemoteItem]
    deleted: list[str]
    new_state: str
    full: bool = False
    partial: bool = False
    vanished: list[str] = field(default_factory=list)


@dataclass
class Seen:
    """What one run observed on the Exchange side."""

    items: list[Any]  # the change list's items
    deleted: list[str]  # item ids
    new_state: str  # the sync state to save
    vanished: list[str]  # items this sync created that the list no longer has
    remote: list[Remote]  # the changed items, our own writes left out
    unconfirmed: Any  # the UnconfirmedItems rows the saved state will cover
    # Our own writes as the server stored them (listed with the change key the write got).
    echoes: list[Remote] = field(default_factory=list)


class ExchangeReader:
    """Reads one entity's folder of one owner's mailbox through its connector; remembers the
    items the change list reported as created (`listed_new`, for the sink)."""

    def __init__(
        self,
        *,
        owner: Any,
        entity: str,
        connector: Connector,
        folder: str,
        ef: EntityFields,
        columns: list[str],
    ) -> None:
        self.owner = owner
        self.entity = entity
        self.connector = connector
        self.folder = folder
        self.ef = ef
        self.columns = columns
        self.listed_new: set[str] = set()

    def belongs(self, item: RemoteItem) -> bool:
        """Whether a listed item is this entity's (a folder holds several: see item_entity)."""
        if self.folder == "contacts":
            return True
        return item_entity(self.folder, item.fields) == self.entity

    def remote(self, item: RemoteItem) -> Remote:
        return Remote(
            item.item_id,
            item.change_key,
            uuid_or_none(item.crm_id) if item.crm_id else None,
            self.ef.values(item.fields),
            tuple(item.categories),
            item.modified.timestamp() if item.modified else None,
        )

    def changes(self, sync_state: str) -> Listing:
        """The change list since `sync_state`, or the folder listed again."""
        state = sync_state or None
        try:
            return self.read_pages(state)
        except ConnectorError as exc:
            if exc.code != INVALID_SYNC_STATE or state is None:
                raise
            return self.read_pages(None)  # the server forgot us: list everything again

    def read_pages(self, state: str | None) -> Listing:
        self.listed_new = set()
        listing = Listing([], [], state or "", full=state is None)
        for page in self.connector.list_changes(self.folder, state):  # type: ignore[arg-type]
            listing.items.extend(i for i in page.created + page.updated if self.belongs(i))
            self.listed_new.update(i.item_id for i in page.created)
            listing.deleted.extend(page.deleted)
            listing.new_state = page.sync_state
            listing.partial = listing.partial or page.partial
        return listing

    def read_items(self, ids: list[str]) -> tuple[list[RemoteItem], list[str]]:
        """Items by id, and the ids the server does not find (deleted)."""
        got: list[RemoteItem] = []
        gone: list[str] = []
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            answers = self.connector.get_items(self.folder, chunk, self.columns)  # type: ignore[arg-type]
            for answer in answers:
                if isinstance(answer, RemoteItem):
                    got.append(answer)
                elif answer.error_code == NOT_FOUND and answer.item_id:
                    gone.append(answer.item_id)
        return got, gone

    def read(self, ids: list[str]) -> tuple[list[Remote], list[str]]:
        got, gone = self.read_items(ids)
        return [self.remote(i) for i in got], gone

    def changed(
        self, state: MailboxSyncState, light: dict[str, tuple], by_item: dict[str, str]
    ) -> Seen:
        """The Exchange side: the change list since the saved sync state."""
        listing = self.changes(state.remote_sync_state)
        # Items this sync created after the state the list starts from come back as created;
        # one that does not was deleted before it could be listed.
        unconfirmed = UnconfirmedItems.objects.filter(owner=self.owner, entity=self.entity)
        listing.vanished = list(
            dict.fromkeys(i for ids in unconfirmed.values_list("item_ids", flat=True) for i in ids)
        )
        self.unlisted(listing, [v[1] for v in light.values() if v[1]])
        # Our own writes come back in the change list with the change key the write got: not
        # an Outlook change, but what the server stored of them (see server_normalized).
        remote, echoes = [], []
        for i in listing.items:
            crm_id = by_item.get(i.item_id)
            own = crm_id is not None and light[crm_id][2:4] == (i.change_key, LinkState.ACTIVE)
            (echoes if own else remote).append(self.remote(i))
        return Seen(
            listing.items,
            listing.deleted,
            listing.new_state,
            listing.vanished,
            remote,
            unconfirmed,
            echoes,
        )

    def unlisted(self, listing: Listing, known: list[str]) -> None:
        """What the listing leaves out. Of a full listing, the known items it does not list are
        gone; and so are, of any listing, the unconfirmed ones (`listing.vanished`). A partial
        listing (a calendar window) leaves out items that still exist: those are read by id,
        one batched GET each (Graph: a $batch request per 20), and only the ones the server
        does not find count as gone. The ones found join the listing (compared by change key,
        as any listed item: an item moved out of the window in Outlook brings its change)."""
        listed = {i.item_id for i in listing.items}
        left_out = [i for i in known if i not in listed] if listing.full else []
        vanished = [i for i in listing.vanished if i not in listed]
        if listing.partial:
            found, gone = self.read_items(sorted(set(left_out + vanished)))
            listing.items += [i for i in found if self.belongs(i)]
            missing = set(gone)
            left_out = [i for i in left_out if i in missing]
            vanished = [i for i in vanished if i in missing]
        if listing.full:
            listing.deleted = list(dict.fromkeys(listing.deleted + left_out))
        listing.vanished = vanished

    def reread_failed(self, state: MailboxSyncState, light: dict[str, tuple], seen: Seen) -> None:
        """The items whose write failed last run, as they are now. The change list has moved
        past them (it may even have reported the edit that made the write fail), so their
        status no longer tells what they hold: deciding from it would fail again for good and
        lose the Outlook edit."""
        want = {i.removeprefix(ITEM) for i in state.retry_ids if i.startswith(ITEM)}
        want.update(light[i][1] for i in state.retry_ids if i in light and light[i][1])
        want -= {r.item_id for r in seen.remote}
        if not want:
            return
        listed = [i for i in seen.items if i.item_id in want]
        seen.remote += [self.remote(i) for i in listed]
        want -= {i.item_id for i in listed}
        got, gone = self.read(sorted(want))
        seen.remote += got
        seen.deleted += gone
