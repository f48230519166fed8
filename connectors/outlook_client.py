"""A reference Outlook client of the REST sync API: keeps a folder of vCard (contacts) or
iCalendar (appointments, tasks) files in sync with the CRM, standing in for the add-in.

No Django: it speaks HTTP and files as an add-in would (`python -m connectors.outlook_client`,
or `manage.py outlook_client`). Local edits are found by content hash; the cursor, each file's
record id, version and last values live in DIR/.state.json.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import icalendar
import requests

from .base import ACTIVITY_TYPE, ACTIVITY_TYPES
from .dav import COLUMNS as CODEC_COLUMNS
from .dav import ical, vcard

STATE_FILE = ".state.json"
# Phone calls, letters and faxes are VTODOs, service activities VEVENTs, told apart by the
# activity type the server sends with each record (written as X-SYNCADMIN-ACTIVITY-TYPE, as the
# CalDAV connector writes it).
_FOLDER = {
    "contact": "contacts",
    "appointment": "calendar",
    "recurring_appointment": "calendar",
    "task": "tasks",
    "phone_call": "tasks",
    "letter": "tasks",
    "fax": "tasks",
    "service_activity": "calendar",
}
ENTITIES = tuple(_FOLDER)
_UTC = datetime.UTC


class ClientError(Exception):
    """The server refused (its error message), or the folder cannot be synced."""


@dataclass
class Summary:
    """What one sync did, for a person reading the command's output."""

    pulled: int = 0
    written: int = 0
    removed: int = 0
    pushed: int = 0
    applied: dict[str, int] = field(default_factory=dict)  # item status -> count
    not_applied: list[str] = field(default_factory=list)  # "file: column (reason)"

    def lines(self) -> list[str]:
        out = [
            f"pulled {self.pulled} record(s): {self.written} file(s) written, "
            f"{self.removed} removed",
            f"pushed {self.pushed} local change(s): "
            + (", ".join(f"{n} {s}" for s, n in sorted(self.applied.items())) or "none"),
        ]
        out += [f"  not applied: {line}" for line in self.not_applied]
        return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_value(value: object) -> object:
    if isinstance(value, datetime.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=_UTC)
        return aware.astimezone(_UTC).replace(microsecond=0).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


class _Codec:
    """One entity's files: which ones are its, and their values in the API's JSON form."""

    def __init__(self, entity: str) -> None:
        self.entity = entity
        self.folder = _FOLDER[entity]
        self.suffix = ".vcf" if entity == "contact" else ".ics"
        self.component = {"tasks": "VTODO", "contacts": ""}.get(self.folder, "VEVENT")
        self.ical = ical.Codec(zoneinfo.ZoneInfo("UTC"))
        self.columns: tuple[str, ...] = CODEC_COLUMNS[self.folder]

    def owns(self, data: bytes) -> bool:
        """Whether a new local file holds an item of this entity."""
        if self.entity == "contact":
            return True
        try:
            cal = icalendar.Calendar.from_ical(data)
            comp = ical.master(cal)
        except (ValueError, KeyError, IndexError):
            return False
        if comp.name != self.component:
            return False
        kind = self.marker(data)
        if kind in ACTIVITY_TYPES and _FOLDER[kind] == self.folder:
            return kind == self.entity
        if self.entity in ACTIVITY_TYPES:  # the file says nothing, or names another folder's
            return False
        if self.entity == "task":
            return True
        recurring = "RRULE" in comp
        return recurring == (self.entity == "recurring_appointment")

    def marker(self, data: bytes) -> str | None:
        """The activity type a calendar or task file carries (None: none, or a contact)."""
        if self.entity == "contact":
            return None
        try:
            kind = self.ical.read(data, [ACTIVITY_TYPE]).fields.get(ACTIVITY_TYPE)
        except (ValueError, KeyError, IndexError):
            return None
        return str(kind or "").strip().lower() or None

    def read(self, data: bytes, columns: Iterable[str]) -> dict[str, object]:
        wanted = [c for c in columns if c in self.columns]
        if self.entity == "contact":
            values = vcard.read(data.decode("utf-8"), wanted).fields
        else:
            values = self.ical.read(data, wanted).fields
        return {k: _json_value(v) for k, v in values.items()}

    def write(self, data: bytes | None, crm_id: str, values: Mapping[str, object]) -> bytes:
        """A new file (data None) or the file with `values` written; the rest is kept."""
        fields = {k: v for k, v in values.items() if k in self.columns}
        if self.entity == "contact":
            if data is None:
                return vcard.new(crm_id, crm_id, fields, ()).encode("utf-8")
            return vcard.update(data.decode("utf-8"), fields, crm_id)[0].encode("utf-8")
        if data is None:
            return self.ical.new(self.component, crm_id, crm_id, fields, ())
        return self.ical.update(data, self.component, fields, crm_id)[0]


def _python(kind: str, value: object) -> object:
    """An API value in the form the vCard/iCalendar conversions take."""
    if value is None or value == "":
        return None if kind in ("date", "datetime") else value
    if kind == "date":
        return datetime.date.fromisoformat(str(value))
    if kind == "datetime":
        return datetime.datetime.fromisoformat(str(value))
    return value


class OutlookClient:
    """Keeps DIR in sync with one entity of the CRM: push local edits, then pull changes."""

    def __init__(
        self,
        *,
        url: str,
        token: str,
        folder: Path | str,
        entity: str = "contact",
        page_size: int = 100,
        http: requests.Session | None = None,
    ) -> None:
        if entity not in ENTITIES:
            raise ClientError(f"Unknown entity {entity!r} (known: {', '.join(ENTITIES)})")
        self.endpoint = f"{url.rstrip('/')}/api/v1/sync/{entity}/changes/"
        self.folder = Path(folder)
        self.entity = entity
        self.page_size = page_size
        self.codec = _Codec(entity)
        self.http = http or requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"
        self.state_path = self.folder / STATE_FILE
        self.state: dict[str, Any] = {}
        self.summary = Summary()

    # -- state -----------------------------------------------------------------------------
    def _load(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {}
        self.state = state
        mine = state.setdefault("entities", {}).setdefault(self.entity, {})
        mine.setdefault("cursor", None)
        mine.setdefault("fields", [])
        mine.setdefault("items", {})

    def _save(self) -> None:
        # Written aside and renamed: a crash leaves the old state or the new, never half.
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        os.replace(tmp, self.state_path)

    @property
    def mine(self) -> dict[str, Any]:
        return self.state["entities"][self.entity]

    @property
    def items(self) -> dict[str, dict[str, Any]]:
        return self.mine["items"]

    def _columns(self) -> list[str]:
        return [f["column"] for f in self.mine["fields"] if f["column"] in self.codec.columns]

    def _kinds(self) -> dict[str, str]:
        return {f["column"]: f["type"] for f in self.mine["fields"]}

    def _remember(self, name: str, crm_id: str | None, version: int | None) -> None:
        data = (self.folder / name).read_bytes()
        self.items[name] = {
            "id": crm_id,
            "version": version,
            "hash": _sha(data),
            "values": self.codec.read(data, self._columns()),
        }

    def _write(self, name: str | None, record: Mapping[str, Any]) -> str:
        """Write a record's values into its file (a new one when `name` is None)."""
        kinds = self._kinds()
        values = {k: _python(kinds.get(k, "string"), v) for k, v in record["values"].items()}
        if record.get("activity_type"):  # the item says which activity it is, for good
            values[ACTIVITY_TYPE] = record["activity_type"]
        path = self.folder / (name or f"{record['id']}{self.codec.suffix}")
        old = path.read_bytes() if name is not None and path.exists() else None
        path.write_bytes(self.codec.write(old, record["id"], values))
        self._remember(path.name, record["id"], record["version"])
        self.summary.written += 1
        return path.name

    # -- HTTP ------------------------------------------------------------------------------------
    def _check(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                message = f"{error['code']}: {error['message']}"
            except (ValueError, KeyError, TypeError):
                message = response.text[:300]
            raise ClientError(f"HTTP {response.status_code} from {response.url}: {message}")
        return response.json()

    # -- the sync ----------------------------------------------------------------------------------
    def sync(self) -> Summary:
        """Push local edits (after the initial pull on a first run), then pull CRM changes."""
        self._load()
        self.summary = Summary()
        if self.mine.get("pending"):  # a batch whose answer was lost: the same key again
            self._post(self.mine["pending"])
        self._send_offers()
        if self.mine["cursor"] is None:
            self.pull()
        self.push()
        self.pull()
        return self.summary

    def pull(self) -> None:
        initial = self.mine["cursor"] is None
        seen: set[str] = set()
        while True:
            params: dict[str, Any] = {"page_size": self.page_size}
            if self.mine["cursor"]:
                params["cursor"] = self.mine["cursor"]
            response = self.http.get(self.endpoint, params=params, timeout=60)
            if response.status_code == 410:  # the server forgot this client: start again
                self.mine["cursor"] = None
                self._save()
                return self.pull()
            page = self._check(response)
            self.mine["fields"] = page["fields"]
            sent = [f["column"] for f in page["fields"] if f["sent"]]
            # Columns newly sent (a direction changed) come with versions we already hold.
            fresh = sent != self.mine.get("sent")
            newly = set(sent) - set(self.mine.get("sent") or sent)
            by_id = {v["id"]: k for k, v in self.items.items() if v.get("id")}
            for record in page["records"]:
                seen.add(record["id"])
                self.summary.pulled += 1
                name = by_id.get(record["id"])
                held = name is not None and self.items[name]["version"] == record["version"]
                if held and not fresh:
                    continue  # our own change coming back
                if name is not None and not (self.folder / name).exists():
                    name = None
                if name is not None and newly:
                    record = self._keep_local(name, record, newly)
                self._write(name, record)
            for removal in page["removed"]:
                name = by_id.get(removal["id"])
                if name is not None:
                    (self.folder / name).unlink(missing_ok=True)
                    del self.items[name]
                    self.summary.removed += 1
            self.mine["cursor"] = page["next_cursor"]
            if not page["has_more"]:
                self.mine["sent"] = sent
                self._save()
                break
            self._save()
        if initial:  # after a restart, what the server no longer sends is not ours any more
            for name, item in list(self.items.items()):
                if item.get("id") and item["id"] not in seen:
                    (self.folder / name).unlink(missing_ok=True)
                    del self.items[name]
                    self.summary.removed += 1
            self._save()
        self._send_offers()

    def _keep_local(self, name: str, record: dict[str, Any], newly: set[str]) -> dict[str, Any]:
        """A column that starts syncing must not silently replace what the file holds: the
        file's own value is kept and offered to the CRM (with no version, so the server's
        conflict policy decides and records the loser, as server-side sync does)."""
        data = (self.folder / name).read_bytes()
        local = self.codec.read(data, [c for c in newly if c in record["values"]])
        keep = {c: v for c, v in local.items() if v not in (None, "") and v != record["values"][c]}
        if not keep:
            return record
        offers = self.mine.setdefault("offers", [])
        offers.append({"ref": name, "id": record["id"], "values": keep})
        values = {k: v for k, v in record["values"].items() if k not in keep}
        return {**record, "values": values}

    def _send_offers(self) -> None:
        offers = self.mine.pop("offers", None)
        if not offers:
            return
        self._send(offers)

    def _local_changes(self) -> list[dict[str, Any]]:
        columns = self._columns()
        known = {n for e in self.state["entities"].values() for n in e.get("items", {})}
        changes = []
        for path in sorted(self.folder.glob(f"*{self.codec.suffix}")):
            data = path.read_bytes()
            item = self.items.get(path.name)
            if item is not None and item["hash"] == _sha(data):
                continue
            if item is None and (path.name in known or not self.codec.owns(data)):
                continue
            now = self.codec.read(data, columns)
            if item is None:
                values = {k: v for k, v in now.items() if v not in (None, "")}
                change: dict[str, Any] = {"ref": path.name, "values": values}
                marker = self.codec.marker(data)
                if marker:
                    change["activity_type"] = marker
                changes.append(change)
            elif item["id"] is None:  # refused before: offered again once edited
                changes.append({"ref": path.name, "values": now})
            else:
                before = item["values"]
                values = {k: v for k, v in now.items() if before.get(k) != v}
                if values:
                    edit = {"ref": path.name, "id": item["id"], "version": item["version"]}
                    changes.append(edit | {"values": values})
                else:
                    item["hash"] = _sha(data)  # rewritten, no value changed
        for name, item in self.items.items():
            if item.get("id") and not (self.folder / name).exists():
                changes.append({"ref": name, "id": item["id"], "deleted": True})
        return changes

    def push(self) -> None:
        changes = self._local_changes()
        if not changes:
            self._save()
            return
        self._send(changes)

    def _send(self, changes: list[dict[str, Any]]) -> None:
        # The batch and its key are saved before posting: after a crash the same key goes
        # again, and the server answers without applying anything twice.
        body = {"cursor": self.mine["cursor"] or "", "changes": changes}
        pending = {"key": str(uuid.uuid4()), "body": body}
        self.mine["pending"] = pending
        self._save()
        self._post(pending)

    def _post(self, pending: Mapping[str, Any]) -> None:
        response = self.http.post(
            self.endpoint,
            json=pending["body"],
            headers={"Idempotency-Key": pending["key"]},
            timeout=120,
        )
        answer = self._check(response)
        changes = pending["body"]["changes"]
        for result in answer["results"]:
            self._apply(changes[result["index"]], result)
        self.mine.pop("pending", None)
        self._save()

    def _apply(self, change: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        name = change["ref"]
        status = result["status"]
        self.summary.pushed += 1
        self.summary.applied[status] = self.summary.applied.get(status, 0) + 1
        for column, outcome in (result.get("fields") or {}).items():
            if outcome["status"] not in ("applied", "unchanged"):
                reason = outcome.get("reason", outcome["status"])
                self.summary.not_applied.append(f"{name}: {column} ({reason})")
        path = self.folder / name
        if status == "untracked":
            self.items.pop(name, None)
        elif status == "not_found":
            # Gone or out of reach in the CRM: set the file aside, or it would come back as new.
            if path.exists():
                path.rename(path.with_name(path.name + ".orphaned"))
            self.items.pop(name, None)
        elif "record" in result:
            restored = status == "restored" or not path.exists()
            record = result["record"]
            # An edit the direction does not take (to_outlook) stays in Outlook until the CRM
            # value changes, as with server-side sync; refused and lost values are put back.
            local = {
                c for c, o in (result.get("fields") or {}).items() if o["status"] == "not_synced"
            }
            if local and not restored:
                values = {k: v for k, v in record["values"].items() if k not in local}
                record = {**record, "values": values}
            self._write(None if restored else name, record)
            if restored:
                self.items.pop(name, None)
        elif path.exists():  # refused or invalid: kept locally, offered again once edited
            item = self.items.get(name, {"id": None, "version": None})
            self._remember(name, item.get("id"), item.get("version"))
            if status in ("refused", "invalid"):
                error = (result.get("error") or {}).get("message", status)
                self.summary.not_applied.append(f"{name}: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="the user's API token")
    parser.add_argument("--folder", required=True, type=Path)
    parser.add_argument("--entity", default="contact", choices=ENTITIES)
    args = parser.parse_args(argv)
    client = OutlookClient(url=args.url, token=args.token, folder=args.folder, entity=args.entity)
    try:
        summary = client.sync()
    except (ClientError, requests.RequestException) as exc:
        print(f"outlook_client: {exc}", file=sys.stderr)
        return 1
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
