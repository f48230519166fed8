"""The Graph test server's items of every kind (contacts, events, To Do tasks): list with
$filter, get, create, update (If-Match) and delete, and what Graph derives on a write.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

from .protocol import TYPES, GraphError, Request, ext_key
from .store import Collection, Mailbox, Record, format_local, new_id, now_iso

_ANY_EXT = re.compile(
    r"^singleValueExtendedProperties/any\((\w+):\s*\1/id eq '([^']*)' "
    r"and \1/value eq '((?:[^']|'')*)'\)$",
    re.I,
)


_ANY_LINK = re.compile(
    r"^linkedResources/any\((\w+):\s*\1/externalId eq '((?:[^']|'')*)'\)$",
    re.I,
)


class Items:
    """Items of a collection: a mixin of GraphServer."""

    def _items(
        self, req: Request, box: Mailbox, coll: Collection, item: str | None
    ) -> tuple[int, dict, object]:
        method = req.method
        if item == "delta" and method == "GET":
            return self._delta(req, box, coll)
        if item is None:
            if method == "POST":
                return self._create(req, box, coll)
            if method == "GET":
                return self._list(req, box, coll)
            raise GraphError(405, "ErrorInvalidRequest", f"{method} is not allowed here.")
        if coll.kind == "calendar" and item not in coll.records and item in self._occurrences:
            return self._occurrence(req, box, coll, item)
        record = coll.records.get(item)
        if record is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if method == "GET":
            return 200, {"ETag": record.etag}, self.render(req, coll, record)
        match = req.headers.get("if-match")
        if match and match != "*" and match != record.etag:
            raise GraphError(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )
        if method == "DELETE":
            self._delete(box, coll, record)
            return 204, {}, None
        if method == "PATCH":
            self._update(req, box, coll, record)
            return 200, {"ETag": record.etag}, self.render(req, coll, record)
        raise GraphError(405, "ErrorInvalidRequest", f"{method} is not allowed here.")

    def _create(self, req: Request, box: Mailbox, coll: Collection) -> tuple[int, dict, object]:
        type_name = TYPES[coll.kind]
        self.check_request(type_name, req.body)
        body = dict(req.body)  # type: ignore[arg-type]
        if coll.kind == "calendar" and body.get("transactionId"):
            for rec in coll.records.values():
                if rec.transaction_id == body["transactionId"]:
                    return 201, {"ETag": rec.etag}, self.render(req, coll, rec)
        record = Record(new_id(), {})
        self._apply(box, coll, record, body, creating=True)
        if coll.kind == "calendar":
            record.transaction_id = body.get("transactionId")
            record.data.setdefault(
                "organizer", {"emailAddress": {"address": box.address, "name": box.address}}
            )
        coll.records[record.id] = record
        self.store.touch(box, record)
        return 201, {"ETag": record.etag}, self.render(req, coll, record)

    def _update(self, req: Request, box: Mailbox, coll: Collection, record: Record) -> None:
        self.check_request(TYPES[coll.kind], req.body)
        before = self._instance_ids(record) if coll.kind == "calendar" else set()
        when = [record.data.get(k) for k in ("start", "end", "recurrence")]
        self._apply(box, coll, record, dict(req.body), creating=False)  # type: ignore[arg-type]
        if (
            coll.kind == "calendar"
            and (
                "recurrence" in req.body  # type: ignore[operator]
                or when[:2] != [record.data.get("start"), record.data.get("end")]
            )
        ):
            # As Outlook: setting a series' pattern or time drops its changed and cancelled
            # occurrences (they come back as plain occurrences).
            record.cancelled, record.overrides = [], {}
        self.store.touch(box, record)
        if coll.kind == "calendar":
            for gone in before - self._instance_ids(record):
                coll.tombstones[gone] = record.seq

    def _apply(
        self, box: Mailbox, coll: Collection, record: Record, body: dict, *, creating: bool
    ) -> None:
        for prop in ("id", "changeKey", "createdDateTime", "lastModifiedDateTime", "@odata.etag"):
            body.pop(prop, None)
        self._apply_extras(coll, record, body, creating=creating)
        data = dict(record.data) if not creating else {}
        if coll.kind == "contacts" and "emailAddresses" in body:
            addresses = body.pop("emailAddresses") or []
            for i, name in enumerate(
                ("primaryEmailAddress", "secondaryEmailAddress", "tertiaryEmailAddress")
            ):
                body[name] = addresses[i] if i < len(addresses) else None
        for key, value in body.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        self._complete(coll, data, body)
        record.data = data

    def _apply_extras(
        self, coll: Collection, record: Record, body: dict, *, creating: bool
    ) -> None:
        """Takes the extended properties and linked resources out of the body into the record."""
        for ext in body.pop("singleValueExtendedProperties", None) or []:
            if ext.get("value") is None:
                raise GraphError(400, "ErrorInvalidProperty", "An extended property needs a value.")
            record.ext[ext_key(ext["id"])] = ext["value"]
        links = body.pop("linkedResources", None)
        if links:
            if coll.kind != "tasks" or not creating:
                raise GraphError(400, "BadRequest", "linkedResources cannot be set here.")
            for link in links:
                self.check_request("linkedResource", link)
                record.links.append(dict(link) | {"id": new_id()[:36]})

    def _complete(self, coll: Collection, data: dict, body: dict) -> None:
        """What Graph derives or checks once the body is applied, per kind of item."""
        if coll.kind == "calendar":
            self._check_event(data)
        if coll.kind == "tasks":
            if data.get("status") == "completed" and "completedDateTime" not in data:
                data["completedDateTime"] = format_local(datetime.now(UTC), "UTC")
            if "body" in body:
                data["bodyLastModifiedDateTime"] = now_iso()
        if coll.kind == "contacts" and not data.get("displayName"):
            names = [data.get(k) for k in ("givenName", "middleName", "surname")]
            data["displayName"] = " ".join(n for n in names if n)

    def _delete(self, box: Mailbox, coll: Collection, record: Record) -> None:
        gone = self._instance_ids(record) if coll.kind == "calendar" else {record.id}
        del coll.records[record.id]
        seq = box.next_seq()
        for item_id in gone | {record.id}:
            coll.tombstones[item_id] = seq
        self.store.dirty = True

    def _list(self, req: Request, box: Mailbox, coll: Collection) -> tuple[int, dict, object]:
        text = (req.query.get("$filter") or "").strip()
        records = list(coll.records.values())
        if text:
            m_ext, m_link = _ANY_EXT.match(text), _ANY_LINK.match(text)
            if m_ext and coll.kind != "tasks":
                key, value = ext_key(m_ext.group(2)).lower(), m_ext.group(3).replace("''", "'")
                records = [
                    r
                    for r in records
                    if any(k.lower() == key and v == value for k, v in r.ext.items())
                ]
            elif m_link and coll.kind == "tasks":
                value = m_link.group(2).replace("''", "'")
                records = [r for r in records if any(x.get("externalId") == value for x in r.links)]
            else:
                raise GraphError(
                    400, "ErrorInvalidUrlQueryFilter", f"The $filter '{text}' is not supported."
                )
        records.sort(key=lambda r: r.seq)
        top = int(req.query.get("$top") or self.page_size)
        skip = int(req.query.get("$skip") or 0)
        page = records[skip : skip + top]
        body: dict = {"value": [self.render(req, coll, r) for r in page]}
        if skip + top < len(records):
            body["@odata.nextLink"] = self._link(req, {"$skip": str(skip + top)})
        return 200, {}, body

    def _link(self, req: Request, params: dict[str, str]) -> str:
        query = dict(req.query) | params
        text = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        return f"{self.graph_url}{req.path}?{text}"
