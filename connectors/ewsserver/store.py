"""The test server's mailbox store: mailboxes, distinguished folders, items as EWS XML, sync states.

Items keep their properties as the t:Contact / t:CalendarItem / t:Task element a client sent;
the store adds ids, change keys, per-property versions (for ConflictResolution) and snapshots.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

TNS = "http://schemas.microsoft.com/exchange/services/2006/types"

# Distinguished folders every mailbox has: name -> (element tag, FolderClass, DisplayName).
DISTINGUISHED = {
    "root": ("Folder", None, "Root"),
    "msgfolderroot": ("Folder", None, "Top of Information Store"),
    "inbox": ("Folder", "IPF.Note", "Inbox"),
    "drafts": ("Folder", "IPF.Note", "Drafts"),
    "sentitems": ("Folder", "IPF.Note", "Sent Items"),
    "deleteditems": ("Folder", "IPF.Note", "Deleted Items"),
    "contacts": ("ContactsFolder", "IPF.Contact", "Contacts"),
    "calendar": ("CalendarFolder", "IPF.Appointment", "Calendar"),
    "tasks": ("TasksFolder", "IPF.Task", "Tasks"),
}

# A sync snapshot chain is re-materialised into a full copy every this many links.
_SNAPSHOT_FLATTEN_DEPTH = 32
_MAX_SNAPSHOTS = 5000


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StoredItem:
    """One item: its XML properties plus bookkeeping the client never sends."""

    item_id: str
    mailbox: str
    folder: str  # distinguished folder name
    elem: etree._Element  # t:Contact / t:CalendarItem / t:Task without ItemId/ParentFolderId
    version: int = 1
    modseq: int = 0
    salt: int = 0
    prop_versions: dict[str, int] = field(default_factory=dict)
    # A recurring master's exceptions by original start (UTC): the overrides of a modified
    # occurrence (a t:CalendarItem holding them), or None for a deleted one (occurrences.py).
    occurrences: dict[str, etree._Element | None] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return etree.QName(self.elem).localname

    @property
    def change_key(self) -> str:
        return _b64(b"CK" + struct.pack(">IQ", self.version, self.salt))


def parse_change_key(change_key: str) -> tuple[int, int] | None:
    """(version, salt) of a change key this server issued, or None if it is not one."""
    try:
        raw = base64.b64decode(change_key, validate=True)
    except (ValueError, TypeError):
        return None
    if len(raw) != 14 or raw[:2] != b"CK":
        return None
    return struct.unpack(">IQ", raw[2:])


@dataclass
class Snapshot:
    """What one client has seen of a folder: a delta (item id -> change key) on a parent."""

    folder_key: str
    parent: str | None
    delta: dict[str, str | None]
    depth: int = 0


@dataclass
class Mailbox:
    smtp: str
    password: str
    folder_ids: dict[str, str] = field(default_factory=dict)  # distinguished name -> FolderId


class Store:
    """All mailboxes of one server. Every public method takes the store lock."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.lock = threading.RLock()
        self.path = Path(path) if path else None
        self.mailboxes: dict[str, Mailbox] = {}
        self.items: dict[str, StoredItem] = {}
        self.folder_items: dict[tuple[str, str], dict[str, StoredItem]] = {}
        self.folders_by_id: dict[str, tuple[str, str]] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self._materialised: dict[str, dict[str, str]] = {}
        self.seq = 0
        self.dirty = False
        if self.path and self.path.exists():
            self._load()

    # -- mailboxes and folders -----------------------------------------------------------------
    def add_mailbox(self, smtp: str, password: str) -> Mailbox:
        with self.lock:
            key = smtp.lower()
            box = self.mailboxes.get(key)
            if box is None:
                box = Mailbox(smtp=smtp, password=password)
                self.mailboxes[key] = box
            box.password = password
            for name in DISTINGUISHED:
                if name not in box.folder_ids:
                    box.folder_ids[name] = _b64(b"FLD" + key.encode() + b"\x00" + name.encode())
                self.folders_by_id[box.folder_ids[name]] = (key, name)
                self.folder_items.setdefault((key, name), {})
            self.dirty = True
            return box

    def mailbox(self, smtp: str) -> Mailbox | None:
        return self.mailboxes.get(smtp.lower())

    def folder_key_by_id(self, folder_id: str) -> tuple[str, str] | None:
        return self.folders_by_id.get(folder_id)

    def folder_change_key(self, mailbox: str, name: str) -> str:
        return _b64(b"FCK" + mailbox.encode() + name.encode())

    # -- items ---------------------------------------------------------------------------------
    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def new_item_id(self, mailbox: str) -> str:
        return _b64(b"\x00\x00ITM" + mailbox.encode()[:16].ljust(16, b"\x00") + uuid.uuid4().bytes)

    def add_item(self, mailbox: str, folder: str, elem: etree._Element) -> StoredItem:
        item = StoredItem(
            item_id=self.new_item_id(mailbox), mailbox=mailbox, folder=folder, elem=elem
        )
        item.modseq = self.next_seq()
        item.salt = item.modseq
        for child in elem:
            item.prop_versions[prop_key(child)] = 1
        self.items[item.item_id] = item
        self.folder_items[(mailbox, folder)][item.item_id] = item
        self.dirty = True
        return item

    def touch(self, item: StoredItem, changed_props: set[str]) -> None:
        item.version += 1
        item.modseq = self.next_seq()
        item.salt = item.modseq
        for key in changed_props:
            item.prop_versions[key] = item.version
        self.dirty = True

    def remove_item(self, item: StoredItem) -> None:
        self.items.pop(item.item_id, None)
        self.folder_items[(item.mailbox, item.folder)].pop(item.item_id, None)
        self.dirty = True

    def move_item(self, item: StoredItem, folder: str) -> None:
        self.folder_items[(item.mailbox, item.folder)].pop(item.item_id, None)
        item.folder = folder
        self.folder_items[(item.mailbox, folder)][item.item_id] = item
        self.touch(item, set())

    # -- sync snapshots ------------------------------------------------------------------------
    def snapshot_view(self, token: str) -> dict[str, str]:
        """The full item id -> change key map a sync state stands for."""
        cached = self._materialised.get(token)
        if cached is not None:
            return cached
        chain: list[Snapshot] = []
        cur: str | None = token
        while cur is not None:
            snap = self.snapshots[cur]
            chain.append(snap)
            cur = snap.parent
        view: dict[str, str] = {}
        for snap in reversed(chain):
            for item_id, ck in snap.delta.items():
                if ck is None:
                    view.pop(item_id, None)
                else:
                    view[item_id] = ck
        if len(self._materialised) > 64:
            self._materialised.clear()
        self._materialised[token] = view
        return view

    def new_snapshot(
        self, folder_key: str, parent: str | None, delta: dict[str, str | None]
    ) -> str:
        depth = 0
        if parent is not None:
            depth = self.snapshots[parent].depth + 1
            if depth >= _SNAPSHOT_FLATTEN_DEPTH:
                full: dict[str, str | None] = dict(self.snapshot_view(parent))
                for item_id, ck in delta.items():
                    if ck is None:
                        full.pop(item_id, None)
                    else:
                        full[item_id] = ck
                parent, delta, depth = None, full, 0
        token = _b64(b"SYNC" + folder_key.encode() + b"\x00" + uuid.uuid4().bytes)
        self.snapshots[token] = Snapshot(
            folder_key=folder_key, parent=parent, delta=delta, depth=depth
        )
        if len(self.snapshots) > _MAX_SNAPSHOTS:
            self._evict_snapshots()
        self.dirty = True
        return token

    def _evict_snapshots(self) -> None:
        # Drop the oldest chains' heads first; a client holding one gets ErrorInvalidSyncStateData.
        referenced = {s.parent for s in self.snapshots.values() if s.parent}
        for token in list(self.snapshots)[: len(self.snapshots) // 4]:
            if token not in referenced:
                del self.snapshots[token]
                self._materialised.pop(token, None)

    # -- persistence ---------------------------------------------------------------------------
    def save(self) -> None:
        """Write the store to its JSON file (atomically) if one was given."""
        if not self.path:
            return
        with self.lock:
            data = {
                "seq": self.seq,
                "mailboxes": [
                    {"smtp": b.smtp, "password": b.password} for b in self.mailboxes.values()
                ],
                "items": [
                    {
                        "id": i.item_id,
                        "mailbox": i.mailbox,
                        "folder": i.folder,
                        "version": i.version,
                        "modseq": i.modseq,
                        "salt": i.salt,
                        "props": i.prop_versions,
                        "xml": etree.tostring(i.elem, encoding="unicode"),
                        "occurrences": {
                            k: None if v is None else etree.tostring(v, encoding="unicode")
                            for k, v in i.occurrences.items()
                        },
                    }
                    for i in self.items.values()
                ],
                "snapshots": {
                    t: {
                        "folder": s.folder_key,
                        "parent": s.parent,
                        "delta": s.delta,
                        "depth": s.depth,
                    }
                    for t, s in self.snapshots.items()
                },
            }
            self.dirty = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)

    def _load(self) -> None:
        data = json.loads(self.path.read_text(encoding="utf-8"))  # type: ignore[union-attr]
        self.seq = data.get("seq", 0)
        for b in data.get("mailboxes", []):
            self.add_mailbox(b["smtp"], b["password"])
        for raw in data.get("items", []):
            item = StoredItem(
                item_id=raw["id"],
                mailbox=raw["mailbox"],
                folder=raw["folder"],
                elem=etree.fromstring(raw["xml"]),
                version=raw["version"],
                modseq=raw["modseq"],
                salt=raw["salt"],
                prop_versions=raw["props"],
                occurrences={
                    k: None if v is None else etree.fromstring(v)
                    for k, v in raw.get("occurrences", {}).items()
                },
            )
            self.items[item.item_id] = item
            self.folder_items.setdefault((item.mailbox, item.folder), {})[item.item_id] = item
        for token, s in data.get("snapshots", {}).items():
            self.snapshots[token] = Snapshot(s["folder"], s["parent"], s["delta"], s["depth"])
        self.dirty = False


def prop_key(elem: etree._Element) -> str:
    """A stable key for one stored property, used to track which properties changed when."""
    name = etree.QName(elem).localname
    if name == "ExtendedProperty":
        uri = elem.find(f"{{{TNS}}}ExtendedFieldURI")
        attrs = sorted((uri.attrib if uri is not None else {}).items())
        return "ext:" + ";".join(f"{k}={v}" for k, v in attrs)
    return name
