"""Writing a series' changed and cancelled occurrences through Graph, after the masters' own
POST or PATCH: read each master's state (and its occurrences' ids around the dates concerned),
write the recurrence again where a cancelled occurrence must come back, then DELETE and PATCH
occurrences, one per series a $batch round, and read the masters' final change keys.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlencode

from ..base import CONFLICT, NOT_FOUND, ItemResult
from . import exceptions as ex
from . import fields as gf
from .client import Answer, describe

_MINUTE = datetime.timedelta(minutes=1)


@dataclass
class Job:
    """One series whose exceptions are to be written: its result so far in `results[index]`."""

    index: int
    item_id: str
    desired: object
    expected: str | None = None  # the change key it must still have (no PATCH of its own)
    series: ex.Series | None = None
    target: dict = field(default_factory=dict)
    ops: list = field(default_factory=list)


def _stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SeriesWriter:
    def __init__(self, connector: Any) -> None:
        self.c = connector  # the GraphConnector (its client, codec, paths and failures)

    def master_url(self, item_id: str) -> str:
        props = {f.prop for f in gf.CALENDAR_FIELDS if not f.kind.startswith("ext")}
        select = ",".join(
            sorted(props | {"categories", "changeKey", "lastModifiedDateTime", "createdDateTime"})
            + list(ex.SERIES_SELECT)
        )
        expand = quote(self.c._expand("calendar"), safe="()='$")
        item = self.c._item("calendar", item_id)
        return f"{item}?$select={select}&$expand={expand},exceptionOccurrences"

    # -- the state of the series ---------------------------------------------------------------
    def _instances_url(self, job: Job) -> str | None:
        originals = [e["original_start"] for e in job.desired or []]  # type: ignore[attr-defined]
        if not originals:
            return None
        params = urlencode(
            {
                "startDateTime": _stamp(min(originals) - _MINUTE),
                "endDateTime": _stamp(max(originals) + datetime.timedelta(days=1)),
            }
        )
        return f"{self.c._item('calendar', job.item_id)}/instances?{params}&$top=1000"

    def read_states(self, jobs: list[Job], results: list) -> list[Job]:
        """Each job's series as the server holds it now; a job that cannot go on gets its
        failure in `results` and is left out."""
        requests: list[dict] = []
        spans: list[tuple[Job, int, int]] = []
        for job in jobs:
            first = len(requests)
            requests.append({"method": "GET", "url": self.master_url(job.item_id)})
            listing = self._instances_url(job)
            if listing:
                requests.append({"method": "GET", "url": listing})
            spans.append((job, first, len(requests)))
        for request in requests:
            request["headers"] = self.c._prefer()
        answers = self.c.client.batch(requests)
        kept = []
        for job, first, last in spans:
            master = answers[first]
            if master.status != 200 or not isinstance(master.body, dict):
                results[job.index] = self.c._failure(master, job.item_id, job.index)
                continue
            job.series = ex.read_series(self.c.codec, master.body)
            if job.series is None:
                continue  # no series (any more): nothing to hold
            if job.expected and job.series.etag != job.expected:
                results[job.index] = ItemResult(
                    False, job.item_id, None, CONFLICT, "The series changed meanwhile", job.index
                )
                continue
            for answer in answers[first + 1 : last]:
                self._learn_ids(job.series, answer)
            kept.append(job)
        return kept

    def _learn_ids(self, series: ex.Series, answer: Answer) -> None:
        if answer.status in (401, 403):
            raise describe(answer, self.c.mailbox)
        body = answer.body if isinstance(answer.body, dict) else {}
        for occ in body.get("value") or []:
            original = ex._original(occ)
            if original is not None and occ.get("id"):
                series.ids.setdefault(original, str(occ["id"]))

    # -- writing -------------------------------------------------------------------------------
    def write(self, jobs: list[Job], results: list) -> None:
        jobs = self.read_states(jobs, results)
        for job in jobs:
            job.target = ex.wanted(job.series, job.desired)  # type: ignore[arg-type]
        rewrite = [j for j in jobs if ex.needs_rewrite(j.series, j.target)]  # type: ignore[arg-type]
        if rewrite:
            jobs = [j for j in jobs if j not in rewrite] + self._rewrite(rewrite, results)
        for job in jobs:
            job.ops = ex.operations(job.series, job.target)  # type: ignore[arg-type]
        busy = [j for j in jobs if j.ops]
        self._rounds(busy, results)
        done = [j for j in jobs if j.ops or j in rewrite]
        self._final_keys(
            [j for j in done if results[j.index] is None or results[j.index].ok], results
        )
        for job in jobs:
            if results[job.index] is None:
                results[job.index] = ItemResult(
                    True,
                    job.item_id,
                    job.series.etag,
                    None,
                    "",
                    job.index,  # type: ignore[union-attr]
                )

    def _rewrite(self, jobs: list[Job], results: list) -> list[Job]:
        """The recurrence written again (it drops every exception), then the state re-read."""
        requests = [
            {
                "method": "PATCH",
                "url": self.c._item("calendar", j.item_id),
                "headers": {
                    "Content-Type": "application/json",
                    "If-Match": j.series.etag,  # type: ignore[union-attr]
                    **self.c._prefer(),
                },
                "body": {"recurrence": j.series.recurrence},  # type: ignore[union-attr]
            }
            for j in jobs
        ]
        again = []
        for job, answer in zip(jobs, self.c.client.batch(requests), strict=True):
            if answer.status == 200:
                again.append(replace(job, expected=None, series=None))
            else:
                results[job.index] = self.c._failure(answer, job.item_id, job.index)
        again = self.read_states(again, results)
        for job in again:
            job.target = ex.wanted(job.series, job.desired)  # type: ignore[arg-type]
        return again

    def _request(self, job: Job, op: tuple) -> dict | None:
        method, original, values = op
        occ_id = job.series.ids.get(original)  # type: ignore[union-attr]
        if occ_id is None:
            return None  # no occurrence there (the pattern has none at that time)
        request: dict = {"method": method, "url": self.c._item("calendar", occ_id)}
        if method == "PATCH":
            request["headers"] = {"Content-Type": "application/json", **self.c._prefer()}
            request["body"] = ex.patch_body(self.c.codec, job.series, values)  # type: ignore[arg-type]
        return request

    def _rounds(self, jobs: list[Job], results: list) -> None:
        """The k-th operation of every series in one $batch: a series' own are never
        concurrent (each changes its master)."""
        pending = {j.index: [r for op in j.ops if (r := self._request(j, op))] for j in jobs}
        by_index = {j.index: j for j in jobs}
        while any(pending.values()):
            order = [i for i, reqs in pending.items() if reqs]
            answers = self.c.client.batch([pending[i].pop(0) for i in order])
            for index, answer in zip(order, answers, strict=True):
                if answer.status in (200, 204):
                    continue
                if answer.status in (401, 403):
                    raise describe(answer, self.c.mailbox)
                results[index] = self.c._failure(answer, by_index[index].item_id, index)
                pending[index] = []

    def _final_keys(self, jobs: list[Job], results: list) -> None:
        requests = [
            {"method": "GET", "url": f"{self.c._item('calendar', j.item_id)}?$select=id"}
            for j in jobs
        ]
        for job, answer in zip(jobs, self.c.client.batch(requests), strict=True):
            previous = results[job.index]
            if answer.status == 200 and isinstance(answer.body, dict):
                etag = str(answer.body.get("@odata.etag") or "")
                crm_id = previous.crm_id if previous is not None else None
                results[job.index] = ItemResult(
                    True, job.item_id, etag, None, "", job.index, crm_id
                )
            elif answer.status == 404:
                results[job.index] = ItemResult(
                    False, job.item_id, None, NOT_FOUND, answer.message, job.index
                )


def _going(result: ItemResult | None) -> bool:
    return result is None or result.ok
