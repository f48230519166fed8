"""Test your configuration before deploying: run the sync engine for one mailbox without
writing, list what would change per entity and field, and estimate how long the real run takes
from the measured per-item costs of past runs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import ConnectorError
from fieldsync.mailboxes import credentials
from fieldsync.mailboxes.connection import connector_for, describe_error
from fieldsync.mailboxes.run import SyncFunction, _engine_sync, report_figures
from fieldsync.mailboxes.selectors import cost_model
from fieldsync.models.mailboxes import Mailbox

MAX_LISTED = 200  # changes listed per entity; the counts cover all of them


@dataclass(frozen=True)
class FieldChange:
    record: str
    field: str
    towards: str  # "Exchange" or "CRM"
    value: object
    kind: str  # create | update | delete

    @property
    def shown(self) -> str:
        """The value as a person reads it: a field of several columns as its parts."""
        if isinstance(self.value, tuple):
            return " / ".join(str(v) for v in self.value if v not in (None, ""))
        return "" if self.value is None else str(self.value)


@dataclass
class EntityPreview:
    entity: str
    figures: dict[str, int]
    changes: list[FieldChange] = field(default_factory=list)
    by_field: list[tuple[str, str, int]] = field(default_factory=list)  # field, towards, n
    estimate_seconds: float = 0.0
    measured_runs: int = 0
    preview_seconds: float = 0.0
    error: str = ""

    @property
    def total_changes(self) -> int:
        return sum(
            v for k, v in self.figures.items() if k not in ("items_seen", "conflicts", "rejected")
        )


@dataclass
class Preview:
    mailbox: Mailbox
    entities: list[EntityPreview]

    @property
    def estimate_seconds(self) -> float:
        return sum(e.estimate_seconds for e in self.entities)


def _records(report: Any) -> Iterable[Any]:
    """The RecordPlans of a report: sync_mailbox's SyncReport holds one plan per entity."""
    for part in getattr(report, "entities", {}).values() or [report]:
        yield from getattr(getattr(part, "plan", None), "records", None) or ()


def field_changes(report: Any) -> list[FieldChange]:
    """Per-field changes from the engine's plan (RecordPlan: remote_* and crm_* values)."""
    out: list[FieldChange] = []
    for rec in _records(report):
        label = str(getattr(rec, "crm_id", None) or getattr(rec, "item_id", None) or "?")
        if getattr(rec, "remote_create", None) is not None:
            out += [
                FieldChange(label, k, "Exchange", v, "create") for k, v in rec.remote_create.items()
            ]
        for k, v in (getattr(rec, "remote_update", None) or {}).items():
            out.append(FieldChange(label, k, "Exchange", v, "update"))
        if getattr(rec, "remote_delete", False):
            out.append(FieldChange(label, "(item)", "Exchange", None, "delete"))
        if getattr(rec, "crm_create", None) is not None:
            for k, v in rec.crm_create.items():
                out.append(FieldChange(label, k, "CRM", v, "create"))
        for k, v in (getattr(rec, "crm_update", None) or {}).items():
            out.append(FieldChange(label, k, "CRM", v, "update"))
    return out


def mailbox_preview(*, mailbox: Mailbox, sync: SyncFunction | None = None) -> Preview:
    """A dry run of every entity the mailbox syncs. Nothing is written on either side."""
    sync = sync or _engine_sync()
    entities: list[EntityPreview] = []
    try:
        connector = connector_for(mailbox)
    except credentials.CredentialsUnreadable as exc:
        return Preview(mailbox, [EntityPreview("*", {}, error=describe_error(exc, mailbox)[1])])
    try:
        for entity in mailbox.entities:
            began = time.monotonic()
            try:
                report = sync(
                    owner=mailbox.owner, connector=connector, entities=[entity], dry_run=True
                )
            except (ConnectorError, ValueError) as exc:
                entities.append(EntityPreview(entity, {}, error=describe_error(exc, mailbox)[1]))
                continue
            figures = report_figures(report)
            changes = field_changes(report)
            counted = Counter((c.field, c.towards) for c in changes)
            model = cost_model(entity)
            items = figures.get("items_seen") or len(changes)
            entities.append(
                EntityPreview(
                    entity,
                    figures,
                    changes[:MAX_LISTED],
                    sorted(((f, t, n) for (f, t), n in counted.items()), key=lambda r: -r[2]),
                    model.estimate(items),
                    model.measured_runs,
                    time.monotonic() - began,
                )
            )
    finally:
        connector.close()
    return Preview(mailbox, entities)
