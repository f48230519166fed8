"""`manage.py verify_mailbox EMAIL [--entity contact]`: read both sides of a mailbox and compare
every synced field; print what explains each difference and any drift with its two values. The
report is kept (VerifyReport) like a run; drift makes the command fail (exit status 1).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fieldsync.mailboxes.verify import REASONS
from fieldsync.management.commands.sync_mailbox import ENV_HELP, mailbox_of, owner_and_connector
from fieldsync.service.rules import ENTITIES


def describe(report: Any) -> list[str]:
    """Lines a person reads for one entity's report."""
    if report.error:
        return [f"{report.entity}: NOT VERIFIED: {report.error}"]
    explained = ", ".join(
        f"{REASONS.get(k, k)} {v}" for k, v in sorted(report.explained.items()) if v
    )
    head = (
        f"{report.entity}: {report.records} records, {report.fields_compared} fields compared: "
        + ("both sides agree" if not report.drift_count else f"DRIFT in {report.drift_count}")
    )
    lines = [head + (f" (explained: {explained})" if explained else "")]
    for d in report.drift:
        lines.append(
            f"  {d['crm_id']} {d['field']}: CRM {d['crm_value']!r}, mailbox {d['exchange_value']!r}"
        )
    return lines


class Command(BaseCommand):
    help = "Compare both sides of one mailbox, field by field." + ENV_HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--entity", action="append", choices=ENTITIES)

    def handle(self, *args: Any, **options: Any) -> None:
        from fieldsync.models.mailboxes import RunTrigger
        from fieldsync.service.verify import verify_mailbox

        mailbox = mailbox_of(options["email"])
        entities = options["entity"] or (mailbox.entities if mailbox else list(ENTITIES))
        owner, connector = owner_and_connector(options["email"])
        try:
            reports = verify_mailbox(
                owner=owner,
                connector=connector,
                entities=entities,
                mailbox=mailbox,
                trigger=RunTrigger.COMMAND,
            )
        finally:
            close = getattr(connector, "close", None)
            if close is not None:
                close()
        for report in reports:
            for line in describe(report):
                self.stdout.write(line)
        drift = sum(r.drift_count for r in reports)
        if drift:
            raise CommandError(
                f"{drift} unexplained difference(s) between the CRM and the mailbox."
            )
