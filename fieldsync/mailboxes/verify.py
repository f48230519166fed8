"""*Verify* on a mailbox's page: compare both sides of the mailbox now (fieldsync.service.verify)
and keep the reports; the page shows the latest per entity."""

from __future__ import annotations

from typing import Any

from connectors.base import ConnectorError
from crm.models import CRM_MODELS
from fieldsync.mailboxes import credentials
from fieldsync.mailboxes.conflicts import WITHHELD
from fieldsync.mailboxes.connection import connector_for, describe_error
from fieldsync.models.mailboxes import Mailbox, RunTrigger, VerifyReport
from fieldsync.service.values import unreadable_fields
from security import policy as security

# What explains a difference, in the page's words.
REASONS = {
    "direction": "one-way or not synchronized",
    "field_security": "field security",
    "rejected_change": "rejected changes",
    "pending_run": "waiting for the next run",
    "not_held": "fields the mailbox cannot hold",
}


def mailbox_verify(*, mailbox: Mailbox, trigger: str = RunTrigger.MANUAL) -> list[VerifyReport]:
    """Read both sides of the mailbox's synced entities and compare every synced field."""
    from fieldsync.service.verify import verify_mailbox  # the sync's Django side, loaded late

    try:
        connector = connector_for(mailbox)
    except (ConnectorError, credentials.CredentialsUnreadable) as exc:
        _, message = describe_error(exc, mailbox)
        raise ConnectorError(message) from exc
    try:
        return verify_mailbox(
            owner=mailbox.owner,
            connector=connector,
            entities=mailbox.entities,
            mailbox=mailbox,
            trigger=trigger,
        )
    finally:
        connector.close()


def latest_reports(mailbox: Mailbox, viewer: Any) -> list[dict[str, Any]]:
    """The latest report per entity, with its explanations in words and its differences as the
    viewer may see them: the record's name and both values only where the viewer may read the
    record and the field now (managing mailboxes grants no reading)."""
    seen: dict[str, VerifyReport] = {}
    for report in VerifyReport.objects.filter(mailbox=mailbox).order_by("-started_at", "-id")[:20]:
        seen.setdefault(report.entity, report)
    return [
        {
            "r": r,
            "explained": [(REASONS.get(k, k), v) for k, v in sorted(r.explained.items()) if v],
            "drift": _drift_shown(r, viewer),
        }
        for r in seen.values()
    ]


def _drift_shown(report: VerifyReport, viewer: Any) -> list[dict[str, Any]]:
    drift = list(report.drift or [])[:20]
    model = CRM_MODELS.get(report.entity)
    records: dict[str, Any] = {}
    hidden: frozenset[str] = frozenset()
    if model is not None and drift:
        ids = {d["crm_id"] for d in drift if d.get("crm_id")}
        for record in security.restrict(model.objects.filter(pk__in=ids), viewer):
            records[str(record.pk)] = record
        hidden = unreadable_fields(viewer, report.entity)
    out = []
    for d in drift:
        record = records.get(str(d.get("crm_id")))
        shown = record is not None and d["field"] not in hidden
        out.append(
            {
                "field": d["field"],
                "record_name": str(record) if record is not None else "",
                "crm_value": d.get("crm_value") if shown else WITHHELD,
                "exchange_value": d.get("exchange_value") if shown else WITHHELD,
            }
        )
    return out
