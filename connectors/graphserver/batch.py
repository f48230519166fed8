"""The Graph test server's JSON $batch: up to 20 steps, dependsOn, per-step throttling, answers
in any order.
"""

from __future__ import annotations

from .protocol import GraphError, Request

MAX_BATCH = 20


class Batch:
    """The $batch endpoint: a mixin of GraphServer."""

    def handle_batch(self, body: object, claims: dict) -> tuple[int, dict, object]:
        self._count("batch")
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise GraphError(400, "BadRequest", "Invalid batch payload format.")
        if len(requests) > MAX_BATCH:
            raise GraphError(
                400,
                "BadRequest",
                f"Number of batch request steps exceeds the maximum of {MAX_BATCH}.",
            )
        ids = [str(r.get("id")) for r in requests]
        if len(set(ids)) != len(ids):
            raise GraphError(400, "BadRequest", "Batch request ids must be unique.")
        status_by_id: dict[str, int] = {}
        answers = []
        for index, raw in enumerate(requests):
            rid = str(raw.get("id"))
            depends = raw.get("dependsOn") or []
            self._count(f"inner {str(raw.get('method', 'GET')).upper()}")
            if any(status_by_id.get(str(d), 500) >= 400 for d in depends):
                status, headers, answer = (
                    424,
                    {},
                    GraphError(
                        424, "FailedDependency", "A request this one depends on failed."
                    ).body(),
                )
            elif rule := self.faults.take_index("batch_throttle", index):
                retry = rule.params["retry_after"]
                status, headers = 429, {"Retry-After": str(retry)}
                answer = GraphError(
                    429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit."
                ).body()
            else:
                req = Request(
                    str(raw.get("method", "GET")),
                    str(raw.get("url", "")),
                    dict(raw.get("headers") or {}),
                    raw.get("body"),
                    claims,
                )
                status, headers, answer = self.handle(req)
            status_by_id[rid] = status
            entry: dict = {"id": rid, "status": status, "headers": dict(headers)}
            if answer is not None:
                entry["body"] = answer
                entry["headers"].setdefault("Content-Type", "application/json")
            answers.append(entry)
        answers.reverse()  # Graph answers in any order: clients must match by id
        return 200, {}, {"responses": answers}
