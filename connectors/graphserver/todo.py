"""The Graph test server's To Do side: the default task list's body and a task's linked
resources (list, add, change, remove).
"""

from __future__ import annotations

from .protocol import GraphError, Request
from .store import Collection, Mailbox, new_id


class Todo:
    """To Do lists and linked resources: a mixin of GraphServer."""

    @staticmethod
    def _list_body(coll: Collection) -> dict:
        return {
            "id": coll.id,
            "displayName": coll.name,
            "isOwner": True,
            "isShared": False,
            "wellknownListName": "defaultList",
        }

    def _links(
        self, req: Request, box: Mailbox, coll: Collection, task_id: str | None, link_id: str | None
    ) -> tuple[int, dict, object]:
        record = coll.records.get(task_id or "")
        if record is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if req.method == "GET" and link_id is None:
            return (
                200,
                {},
                {"value": [self.checked("linkedResource", dict(x)) for x in record.links]},
            )
        if req.method == "POST" and link_id is None:
            self.check_request("linkedResource", req.body)
            link = dict(req.body) | {"id": new_id()[:36]}  # type: ignore[arg-type]
            record.links.append(link)
            self.store.touch(box, record)
            return 201, {}, self.checked("linkedResource", link)
        link = next((x for x in record.links if x["id"] == link_id), None)
        if link is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if req.method == "PATCH":
            self.check_request("linkedResource", req.body)
            link.update(req.body)  # type: ignore[arg-type]
            self.store.touch(box, record)
            return 200, {}, self.checked("linkedResource", dict(link))
        if req.method == "DELETE":
            record.links.remove(link)
            self.store.touch(box, record)
            return 204, {}, None
        raise GraphError(405, "ErrorInvalidRequest", f"{req.method} is not allowed here.")
