"""EWS operations of the test server: GetFolder, SyncFolderItems, GetItem, FindItem, CreateItem,
UpdateItem and DeleteItem, answering with per-item response messages as Exchange does.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from . import items as it
from . import listings, shapes
from . import occurrences as occ
from .items import ItemError, local
from .store import DISTINGUISHED, TNS, Store, StoredItem, parse_change_key

MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
M = f"{{{MNS}}}"
T = f"{{{TNS}}}"
NSMAP = {"m": MNS, "t": TNS}
CONFLICT_TEXT = (
    "The send or update operation could not be performed because the change key passed in the"
    " request does not match the current change key for the item."
)
ITEM_TAGS = {"Contact", "CalendarItem", "Task", "Item", "Message"}


class SoapFault(Exception):
    """A whole-request failure, answered as a SOAP fault (HTTP 500) with an EWS ResponseCode."""

    def __init__(
        self, code: str, message: str, *, back_off_ms: int | None = None, violation: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.back_off_ms = back_off_ms
        self.violation = violation


@dataclass
class Context:
    """Who is asking, for which mailbox, and the server's per-item fault hook."""

    store: Store
    principal: str
    impersonated: str | None
    delegates: dict[str, set[str]]
    item_fault: Callable[[str, int, etree._Element | None], tuple[str, str] | None]
    operation: str = ""
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def acting(self) -> str:
        return self.impersonated or self.principal

    def can_access(self, mailbox: str) -> bool:
        if self.impersonated is not None:
            return mailbox == self.impersonated
        return mailbox == self.principal or self.principal in self.delegates.get(mailbox, set())


# -- response helpers -------------------------------------------------------------------------
def response(op: str) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{M}{op}Response", nsmap=NSMAP)
    return root, etree.SubElement(root, f"{M}ResponseMessages")


def message(parent: etree._Element, op: str, error: ItemError | None = None) -> etree._Element:
    msg = etree.SubElement(
        parent, f"{M}{op}ResponseMessage", ResponseClass="Error" if error else "Success"
    )
    if error is not None:
        etree.SubElement(msg, f"{M}MessageText").text = error.message
    etree.SubElement(msg, f"{M}ResponseCode").text = error.code if error else "NoError"
    if error is not None:
        etree.SubElement(msg, f"{M}DescriptiveLinkKey").text = "0"
    return msg


# -- folder and item resolution ---------------------------------------------------------------
def resolve_folder(ctx: Context, elem: etree._Element) -> tuple[str, str]:
    """(mailbox, distinguished name) of a FolderId / DistinguishedFolderId the caller may use."""
    if local(elem) == "DistinguishedFolderId":
        name = elem.get("Id", "")
        mailbox = ctx.acting
        box_elem = elem.find(f"{T}Mailbox/{T}EmailAddress")
        if box_elem is not None and box_elem.text:
            mailbox = box_elem.text.strip().lower()
            if ctx.store.mailbox(mailbox) is None:
                raise ItemError(
                    "ErrorNonExistentMailbox", f"No mailbox with such address: {mailbox}"
                )
        if name not in DISTINGUISHED:
            raise ItemError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        key = (mailbox, name)
    else:
        found = ctx.store.folder_key_by_id(elem.get("Id", ""))
        if found is None:
            raise ItemError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        key = found
    if not ctx.can_access(key[0]):
        raise ItemError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
    return key


def folder_id_pair(store: Store, key: tuple[str, str]) -> tuple[str, str]:
    box = store.mailboxes[key[0]]
    return box.folder_ids[key[1]], store.folder_change_key(*key)


def resolve_item(ctx: Context, id_elem: etree._Element) -> StoredItem:
    item_id = id_elem.get("Id", "")
    try:
        base64.b64decode(item_id, validate=True)
    except (binascii.Error, ValueError):
        raise ItemError("ErrorInvalidIdMalformed", "Id is malformed.") from None
    item = ctx.store.items.get(item_id)
    if item is None or not ctx.can_access(item.mailbox):
        raise ItemError("ErrorItemNotFound", "The specified object was not found in the store.")
    return item


def resolve_target(ctx: Context, id_elem: etree._Element) -> StoredItem | occ.Occurrence:
    """An item, or one occurrence of a recurring master: by ItemId (an item's or an
    occurrence's own), OccurrenceItemId (master and 1-based InstanceIndex) or
    RecurringMasterItemId (an occurrence's id, naming its master)."""
    kind = local(id_elem)
    if kind == "ItemId":
        found = occ.parse_occurrence_id(id_elem.get("Id", ""))
        if found is None:
            return resolve_item(ctx, id_elem)
        master = _master(ctx, found[0], "ErrorItemNotFound")
        return occ.by_original(master, found[1])
    if kind == "OccurrenceItemId":
        master_id = id_elem.get("RecurringMasterId", "")
        master = _master(ctx, master_id, "ErrorCalendarCannotUseIdForRecurringMasterId")
        try:
            index = int(id_elem.get("InstanceIndex", "0"))
        except ValueError:
            raise ItemError(*occ.OUT_OF_RANGE) from None
        return occ.at_index(master, index)
    if kind == "RecurringMasterItemId":
        found = occ.parse_occurrence_id(id_elem.get("OccurrenceId", ""))
        if found is None:
            raise ItemError(
                "ErrorCalendarCannotUseIdForOccurrenceId",
                "The OccurrenceId does not name an occurrence of a recurring master.",
            )
        return _master(ctx, found[0], "ErrorItemNotFound")
    raise ItemError("ErrorInvalidIdXml", f"{kind} is not supported by this server.")


def _master(ctx: Context, item_id: str, not_master: str) -> StoredItem:
    item = resolve_item(ctx, etree.Element(f"{T}ItemId", Id=item_id))
    if not occ.is_master(item):
        raise ItemError(not_master, "The item is not the recurring master of a series.")
    return item


def _injected(ctx: Context, index: int, elem: etree._Element | None) -> None:
    hit = ctx.item_fault(ctx.operation, index, elem)
    if hit is not None:
        raise ItemError(hit[0], hit[1])


# -- GetFolder --------------------------------------------------------------------------------
def get_folder(ctx: Context, req: etree._Element) -> etree._Element:
    root, msgs = response("GetFolder")
    for i, fid in enumerate(req.find(f"{M}FolderIds")):
        try:
            _injected(ctx, i, fid)
            key = resolve_folder(ctx, fid)
        except ItemError as e:
            message(msgs, "GetFolder", e)
            continue
        msg = message(msgs, "GetFolder")
        folders = etree.SubElement(msg, f"{M}Folders")
        tag, folder_class, display = DISTINGUISHED[key[1]]
        folder = etree.SubElement(folders, f"{T}{tag}")
        fid_val, fck = folder_id_pair(ctx.store, key)
        etree.SubElement(folder, f"{T}FolderId", Id=fid_val, ChangeKey=fck)
        if key[1] != "root":
            parent = "root" if key[1] == "msgfolderroot" else "msgfolderroot"
            pid, pck = folder_id_pair(ctx.store, (key[0], parent))
            etree.SubElement(folder, f"{T}ParentFolderId", Id=pid, ChangeKey=pck)
        if folder_class:
            etree.SubElement(folder, f"{T}FolderClass").text = folder_class
        etree.SubElement(folder, f"{T}DisplayName").text = display
        etree.SubElement(folder, f"{T}TotalCount").text = str(len(ctx.store.folder_items[key]))
        etree.SubElement(folder, f"{T}ChildFolderCount").text = "0"
        if tag == "Folder":
            etree.SubElement(folder, f"{T}UnreadCount").text = "0"
    return root


# -- SyncFolderItems --------------------------------------------------------------------------
def listing_shape(operation: str, shape_elem: etree._Element | None) -> shapes.Shape:
    """A listing's ItemShape; one asking for a property only GetItem returns whole (a body, a
    recurrence, long text: listings.py) is refused as a whole."""
    refused = listings.refused(shape_elem)
    if refused:
        raise SoapFault("ErrorInvalidPropertyRequest", listings.refusal(operation, refused))
    shape = shapes.parse_shape(shape_elem)
    shape.leave_out = listings.LEFT_OUT
    return shape


def sync_folder_items(ctx: Context, req: etree._Element) -> etree._Element:
    shape = listing_shape("SyncFolderItems", req.find(f"{M}ItemShape"))
    root, msgs = response("SyncFolderItems")
    store = ctx.store
    try:
        _injected(ctx, 0, None)
        key = resolve_folder(ctx, req.find(f"{M}SyncFolderId")[0])
        folder_key = f"{key[0]}/{key[1]}"
        state_elem = req.find(f"{M}SyncState")
        token = (state_elem.text or "").strip() if state_elem is not None else ""
        if token:
            snap = store.snapshots.get(token)
            if snap is None or snap.folder_key != folder_key:
                raise ItemError(
                    "ErrorInvalidSyncStateData",
                    "Synchronization state data is corrupt or otherwise invalid.",
                )
            seen = store.snapshot_view(token)
        else:
            seen = {}
    except ItemError as e:
        msg = message(msgs, "SyncFolderItems", e)
        # exchangelib reads these two even from an error answer, and crashes without them.
        etree.SubElement(msg, f"{M}SyncState")
        etree.SubElement(msg, f"{M}IncludesLastItemInRange").text = "true"
        return root
    ignore_elem = req.find(f"{M}Ignore")
    ignore = {e.get("Id") for e in ignore_elem} if ignore_elem is not None else set()
    max_changes = int(req.findtext(f"{M}MaxChangesReturned") or "100")
    current = store.folder_items[key]
    changes: list[tuple[int, str, str, StoredItem | None]] = []  # (order, kind, id, item)
    for item_id, item in current.items():
        if item_id in ignore:
            continue
        known = seen.get(item_id)
        if known is None:
            changes.append((item.modseq, "Create", item_id, item))
        elif known != item.change_key:
            changes.append((item.modseq, "Update", item_id, item))
    for item_id in seen:
        if item_id not in current:
            changes.append((0, "Delete", item_id, None))
    changes.sort(key=lambda c: c[0])
    page, rest = changes[:max_changes], changes[max_changes:]
    delta: dict[str, str | None] = {c[2]: (c[3].change_key if c[3] else None) for c in page}
    new_token = (
        store.new_snapshot(folder_key, token or None, delta) if (delta or not token) else token
    )
    msg = message(msgs, "SyncFolderItems")
    etree.SubElement(msg, f"{M}SyncState").text = new_token
    etree.SubElement(msg, f"{M}IncludesLastItemInRange").text = "false" if rest else "true"
    changes_elem = etree.SubElement(msg, f"{M}Changes")
    parent = folder_id_pair(store, key)
    for _, kind, item_id, item in page:
        change = etree.SubElement(changes_elem, f"{T}{kind}")
        if item is None:
            etree.SubElement(change, f"{T}ItemId", Id=item_id)
        else:
            change.append(shapes.project(item, shape, parent))
    return root


# -- GetItem ----------------------------------------------------------------------------------
def get_item(ctx: Context, req: etree._Element) -> etree._Element:
    root, msgs = response("GetItem")
    shape = shapes.parse_shape(req.find(f"{M}ItemShape"))
    for i, id_elem in enumerate(req.find(f"{M}ItemIds")):
        try:
            _injected(ctx, i, id_elem)
            target = resolve_target(ctx, id_elem)
            item = occ.view(target) if isinstance(target, occ.Occurrence) else target
            shaped = shapes.project(
                item, shape, folder_id_pair(ctx.store, (item.mailbox, item.folder))
            )
        except ItemError as e:
            etree.SubElement(message(msgs, "GetItem", e), f"{M}Items")
            continue
        etree.SubElement(message(msgs, "GetItem"), f"{M}Items").append(shaped)
    return root


# -- FindItem ---------------------------------------------------------------------------------
def find_item(ctx: Context, req: etree._Element) -> etree._Element:
    shape = listing_shape("FindItem", req.find(f"{M}ItemShape"))
    root, msgs = response("FindItem")
    restriction = req.find(f"{M}Restriction")
    view = req.find(f"{M}IndexedPageItemView")
    for i, fid in enumerate(req.find(f"{M}ParentFolderIds")):
        try:
            _injected(ctx, i, fid)
            key = resolve_folder(ctx, fid)
            found = [
                item
                for item in ctx.store.folder_items[key].values()
                if restriction is None or shapes.matches(item.elem, restriction[0])
            ]
        except ItemError as e:
            message(msgs, "FindItem", e)
            continue
        sort = req.find(f"{M}SortOrder")
        if sort is not None and len(sort):
            for order in reversed(list(sort)):
                path = it.parse_path(order[0])

                def sort_key(item: StoredItem, path: it.Path = path) -> str:
                    value = it.get_value(item.elem, path)
                    return "" if value is None else (value.text or "")

                found.sort(key=sort_key, reverse=order.get("Order") == "Descending")
        else:
            found.sort(key=lambda item: item.modseq)
        total = len(found)
        offset, limit = 0, total
        if view is not None:
            offset = int(view.get("Offset", "0"))
            limit = int(view.get("MaxEntriesReturned", str(total)))
            if view.get("BasePoint") == "End":
                offset = max(total - offset - limit, 0)
        page = found[offset : offset + limit]
        msg = message(msgs, "FindItem")
        last = offset + len(page) >= total
        folder_elem = etree.SubElement(
            msg,
            f"{M}RootFolder",
            IndexedPagingOffset=str(offset + len(page)),
            TotalItemsInView=str(total),
            IncludesLastItemInRange="true" if last else "false",
        )
        items_elem = etree.SubElement(folder_elem, f"{T}Items")
        parent = folder_id_pair(ctx.store, key)
        for item in page:
            items_elem.append(shapes.project(item, shape, parent))
    return root


# -- CreateItem -------------------------------------------------------------------------------
def create_item(ctx: Context, req: etree._Element) -> etree._Element:
    root, msgs = response("CreateItem")
    saved = req.find(f"{M}SavedItemFolderId")
    try:
        key = resolve_folder(ctx, saved[0]) if saved is not None else (ctx.acting, "drafts")
    except ItemError as e:
        raise SoapFault(e.code, e.message) from None
    for i, src in enumerate(req.find(f"{M}Items")):
        try:
            _injected(ctx, i, src)
            if local(src) not in ITEM_TAGS:
                raise ItemError(
                    "ErrorInvalidItemForOperation", f"{local(src)} cannot be created here."
                )
            elem = copy.deepcopy(src)
            it.check_writable(elem)
            it.validate_and_compute(elem, created=True, owner=key[0])
            item = ctx.store.add_item(key[0], key[1], elem)
        except ItemError as e:
            etree.SubElement(message(msgs, "CreateItem", e), f"{M}Items")
            continue
        items_elem = etree.SubElement(message(msgs, "CreateItem"), f"{M}Items")
        out = etree.SubElement(items_elem, src.tag)
        etree.SubElement(out, f"{T}ItemId", Id=item.item_id, ChangeKey=item.change_key)
    return root


# -- UpdateItem -------------------------------------------------------------------------------
def _apply_updates(item: StoredItem, updates: etree._Element) -> tuple[etree._Element, set[str]]:
    work = copy.deepcopy(item.elem)
    changed: set[str] = set()
    for upd in updates:
        kind = local(upd)
        path = it.parse_path(upd[0])
        if path.kind == "field" and path.name in it.READ_ONLY:
            raise ItemError(
                "ErrorInvalidPropertySet", f"Set action is invalid for property {path.name}."
            )
        if kind == "SetItemField":
            source = upd[1]
            if local(source) != local(work) and local(source) != "Item":
                raise ItemError(
                    "ErrorInvalidPropertyForOperation",
                    f"{local(source)} does not match the item type.",
                )
            it.set_value(work, path, source)
        elif kind == "AppendToItemField":
            it.append_value(work, path, upd[1])
        else:
            it.delete_value(work, path)
        changed.add(path.prop_key)
    it.validate_and_compute(work, created=False)
    return work, changed


def _check_change_key(
    item: StoredItem, client_ck: str | None, resolution: str, changed: set[str]
) -> None:
    """Refuse a change made on a stale ChangeKey (an occurrence's key is its master's)."""
    if client_ck is None or resolution == "AlwaysOverwrite" or client_ck == item.change_key:
        return
    parsed = parse_change_key(client_ck)
    if parsed is None:
        raise ItemError("ErrorInvalidChangeKey", "ChangeKey is invalid.")
    seen_version = parsed[0]
    touched_since = any(
        item.prop_versions.get(k, 0) > seen_version
        or item.prop_versions.get(k.split(":")[0], 0) > seen_version
        for k in changed
    )
    if resolution == "NeverOverwrite" or touched_since or seen_version > item.version:
        raise ItemError("ErrorIrresolvableConflict", CONFLICT_TEXT)


def _update_one(ctx: Context, change: etree._Element, resolution: str) -> StoredItem:
    """Apply one ItemChange; the item (or occurrence) as it is now."""
    id_elem = change[0]
    target = resolve_target(ctx, id_elem)
    client_ck = id_elem.get("ChangeKey")
    if isinstance(target, occ.Occurrence):
        _check_change_key(target.master, client_ck, resolution, {"ModifiedOccurrences"})
        occ.update(ctx.store, target, change.find(f"{T}Updates"))
        return occ.view(target)
    work, changed = _apply_updates(target, change.find(f"{T}Updates"))
    _check_change_key(target, client_ck, resolution, changed)
    # Exchange drops a series' exceptions when its pattern is set or its start moves.
    moved = work.findtext(f"{T}Start") != target.elem.findtext(f"{T}Start")
    target.elem = work
    if target.occurrences and ("Recurrence" in changed or moved or not occ.is_master(target)):
        occ.clear(target)
        changed |= {"ModifiedOccurrences", "DeletedOccurrences"}
    ctx.store.touch(target, changed)
    return target


def update_item(ctx: Context, req: etree._Element) -> etree._Element:
    root, msgs = response("UpdateItem")
    resolution = req.get("ConflictResolution", "AutoResolve")
    for i, change in enumerate(req.find(f"{M}ItemChanges")):
        try:
            _injected(ctx, i, change)
            item = _update_one(ctx, change, resolution)
        except ItemError as e:
            etree.SubElement(message(msgs, "UpdateItem", e), f"{M}Items")
            continue
        msg = message(msgs, "UpdateItem")
        out = etree.SubElement(etree.SubElement(msg, f"{M}Items"), item.elem.tag)
        etree.SubElement(out, f"{T}ItemId", Id=item.item_id, ChangeKey=item.change_key)
        conflicts = etree.SubElement(msg, f"{M}ConflictResults")
        etree.SubElement(conflicts, f"{T}Count").text = "0"
    return root


# -- DeleteItem -------------------------------------------------------------------------------
def delete_item(ctx: Context, req: etree._Element) -> etree._Element:
    root, msgs = response("DeleteItem")
    delete_type = req.get("DeleteType", "HardDelete")
    for i, id_elem in enumerate(req.find(f"{M}ItemIds")):
        try:
            _injected(ctx, i, id_elem)
            target = resolve_target(ctx, id_elem)
            if isinstance(target, occ.Occurrence):
                occ.delete(ctx.store, target)
                message(msgs, "DeleteItem")
                continue
            item = target
            if delete_type == "MoveToDeletedItems" and item.folder != "deleteditems":
                ctx.store.move_item(item, "deleteditems")
            else:
                ctx.store.remove_item(item)
        except ItemError as e:
            message(msgs, "DeleteItem", e)
            continue
        message(msgs, "DeleteItem")
    return root


OPERATIONS: dict[str, Callable[[Context, etree._Element], etree._Element]] = {
    "GetFolder": get_folder,
    "SyncFolderItems": sync_folder_items,
    "GetItem": get_item,
    "FindItem": find_item,
    "CreateItem": create_item,
    "UpdateItem": update_item,
    "DeleteItem": delete_item,
}
