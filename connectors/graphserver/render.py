"""How the Graph test server renders an item: $select, $expand of extended properties, a
series' exceptions, time zones and body content types asked for with Prefer.
"""

from __future__ import annotations

import html
import re
from datetime import datetime

from .protocol import TYPES, Request, ext_key
from .store import Collection, Record, cancelled_ids, format_local, occurrence, parse_local

_EXPAND = re.compile(r"singleValueExtendedProperties\(\$filter=(.*)\)", re.I)


_EXPAND_ID = re.compile(r"id eq '([^']*)'", re.I)


def _html_to_text(markup: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


class Rendering:
    """Item bodies as Graph answers them: a mixin of GraphServer."""

    def render(
        self, req: Request, coll: Collection, record: Record, *, delta: bool = False
    ) -> dict:
        type_name = TYPES[coll.kind]
        data = record.data
        body: dict = {"@odata.etag": record.etag, "id": record.id}
        body["createdDateTime"] = record.created
        body["lastModifiedDateTime"] = record.modified
        if coll.kind != "tasks":
            body["changeKey"] = record.change_key
            body["categories"] = list(data.get("categories") or [])
        for key, value in data.items():
            if key == "categories" and coll.kind != "tasks":
                continue
            body[key] = value
        if coll.kind == "contacts":
            body["parentFolderId"] = coll.id
            body["emailAddresses"] = [
                data[k]
                for k in ("primaryEmailAddress", "secondaryEmailAddress", "tertiaryEmailAddress")
                if data.get(k)
            ]
        elif coll.kind == "calendar":
            self._render_event(req, body, data)
            body["type"] = "seriesMaster" if data.get("recurrence") else "singleInstance"
            if record.transaction_id:
                body["transactionId"] = record.transaction_id
            if not delta and req.path.endswith(record.id):  # a GET of the master by its id
                self._render_series(req, body, record)
        else:
            body.setdefault("status", "notStarted")
            body.setdefault("importance", "normal")
            body.setdefault("isReminderOn", False)
            body.setdefault("bodyLastModifiedDateTime", record.created)
            body.setdefault("categories", [])
            if "body" in body:
                body["body"] = self._body(req, body["body"])
            if "linkedresources" in (req.query.get("$expand") or "").lower():
                body["linkedResources"] = [dict(x) for x in record.links]
        if not delta:
            wanted = self._expanded(req)
            if wanted is not None:
                body["singleValueExtendedProperties"] = [
                    {"id": k, "value": v}
                    for k, v in record.ext.items()
                    if wanted == {"*"} or k.lower() in wanted
                ]
        return self.checked(type_name, self._select(req, body))

    @staticmethod
    def _expanded(req: Request) -> set[str] | None:
        text = req.query.get("$expand") or ""
        m = _EXPAND.search(text)
        if m:
            return {ext_key(i).lower() for i in _EXPAND_ID.findall(m.group(1))}
        if "singlevalueextendedproperties" in text.lower():
            return {"*"}
        return None

    @staticmethod
    def _select(req: Request, body: dict) -> dict:
        select = req.query.get("$select")
        if not select:
            return body
        keep = {s.strip() for s in select.split(",")} | {
            "id",
            "singleValueExtendedProperties",
            "exceptionOccurrences",  # expanded, not selected
        }
        return {k: v for k, v in body.items() if k in keep or k.startswith("@")}

    def _render_series(self, req: Request, body: dict, record: Record) -> None:
        """A series master's cancelledOccurrences (on $select only) and exceptionOccurrences
        (on $expand only), as Graph returns them for a GET of the master by its id."""
        if not record.data.get("recurrence"):
            return
        if "cancelledoccurrences" in (req.query.get("$select") or "").lower():
            body["cancelledOccurrences"] = cancelled_ids(record)
        if "exceptionoccurrences" in (req.query.get("$expand") or "").lower():
            length = parse_local(record.data["end"]) - parse_local(record.data["start"])
            tz = parse_local(record.data["start"]).tzinfo
            out = []
            for key in sorted(record.overrides):
                moment = datetime.fromisoformat(key.replace("Z", "+00:00")).astimezone(tz)
                found = occurrence(record, moment, length)
                if found is not None:
                    out.append(self._instance_body(req, body, *found))
            body["exceptionOccurrences"] = out

    def _instance_body(self, req: Request, master: dict, inst_id: str, inst: dict) -> dict:
        """An occurrence or exception as Graph renders it, from its master's rendering."""
        body = {
            k: v
            for k, v in master.items()
            if k not in ("recurrence", "cancelledOccurrences", "exceptionOccurrences")
        }
        when: dict = {}
        self._render_event(req, when, inst)
        body.update({k: v for k, v in inst.items() if k not in ("start", "end", "body")})
        body.update(when)
        body.pop("recurrence", None)
        body["id"] = inst_id
        return self.checked("event", body)

    def _render_event(self, req: Request, body: dict, data: dict) -> None:
        tz_name = req.prefer("outlook.timezone") or "UTC"
        if data.get("isAllDay"):
            # All-day events are floating dates: the day, whatever the zone asked for.
            for key in ("start", "end"):
                body[key] = {
                    "dateTime": data[key]["dateTime"][:10] + "T00:00:00.0000000",
                    "timeZone": tz_name,
                }
        else:
            for key in ("start", "end"):
                body[key] = format_local(parse_local(data[key]), tz_name)
        if "body" in data:
            body["body"] = self._body(req, data["body"])

    @staticmethod
    def _body(req: Request, value: dict) -> dict:
        want = (req.prefer("outlook.body-content-type") or "html").lower()
        content = value.get("content") or ""
        is_html = (value.get("contentType") or "text").lower() == "html"
        if want == "text":
            return {
                "contentType": "text",
                "content": _html_to_text(content) if is_html else content,
            }
        if not is_html:
            content = f"<html><body>{html.escape(content)}</body></html>"
        return {"contentType": "html", "content": content}
