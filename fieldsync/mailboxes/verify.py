"""*Verify* on a mailbox's page: compare both sides of the mailbox now (fieldsync.service.verify)
and keep the reports; the page shows the latest per entity."""

from __future__ import annotations

from typing import Any

from connectors.base import ConnectorError
from fieldsync.mailboxes import credentials
from fieldsync.mailboxes.connection import connector_for, describe_error
from fieldsync.models.mailboxes import Mailbox, RunTrigger, VerifyReport

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


def latest_reports(mailbox: Mailbox) -> list[dict[str, Any]]:
    """The latest report per entity, with its explanations in words."""
    seen: dict[str, VerifyReport] = {}
    for report in VerifyReport.objects.filter(mailbox=mailbox).order_by("-started_at", "-id")[:20]:
        seen.setdefault(report.entity, report)
    return [
        {
            "r": r,
            "explained": [(REASONS.get(k, k), v) for k, v in sorted(r.explained.items()) if v],
        }
        for r in seen.values()
    ]
