"""`manage.py sync_mailbox EMAIL [--entity contact] [--dry-run]`: one sync of one mailbox now,
printing what it did (or would do) per entity and direction, with a progress bar on a terminal.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fieldsync.service.sync import ENTITIES, SyncReport, sync_mailbox

ENV_HELP = """
The connector: the mailbox's server profile when EMAIL has a mailbox (Settings > Server-side
sync); otherwise these environment variables: SYNC_EWS_URL (required), SYNC_EWS_USERNAME,
SYNC_EWS_PASSWORD, SYNC_EWS_AUTH (basic | ntlm, default basic), SYNC_EWS_ACCESS
(impersonation | delegate, default delegate), SYNC_EWS_TIMEZONE (default UTC).
"""


def connector_from_env(email: str) -> Any:
    from connectors.exchange import ExchangeConnector

    url = os.environ.get("SYNC_EWS_URL", "")
    if not url:
        raise CommandError(f"{email} has no mailbox and SYNC_EWS_URL is not set.{ENV_HELP}")
    return ExchangeConnector(
        ews_url=url,
        username=os.environ.get("SYNC_EWS_USERNAME", email),
        password=os.environ.get("SYNC_EWS_PASSWORD", ""),
        primary_smtp_address=email,
        auth_type=os.environ.get("SYNC_EWS_AUTH", "basic"),
        access_type=os.environ.get("SYNC_EWS_ACCESS", "delegate"),
        timezone=os.environ.get("SYNC_EWS_TIMEZONE", "UTC"),
    )


def owner_and_connector(email: str) -> tuple[Any, Any]:
    from fieldsync.mailboxes.connection import connector_for
    from fieldsync.models.mailboxes import Mailbox
    from security.models import User

    mailbox = (
        Mailbox.objects.select_related("owner", "server_profile")
        .filter(email_address__iexact=email)
        .first()
    )
    if mailbox is not None:
        return mailbox.owner, connector_for(mailbox)
    owner = User.objects.filter(email__iexact=email).first()
    if owner is None:
        raise CommandError(f"No mailbox and no user with the e-mail address {email}.")
    return owner, connector_from_env(email)


def describe(report: SyncReport) -> list[str]:
    """Lines a person reads: per entity, what went to Exchange and what came into the CRM."""
    verb = "would " if report.dry_run else ""
    lines = []
    for entity, r in report.entities.items():
        c = r.counts
        if r.guard:
            lines.append(f"{entity}: STOPPED by the mass-change guard: {r.guard}")
            lines.append(
                f"  nothing was changed; an administrator confirms with "
                f"`manage.py sync_mailbox {report.owner} --entity {entity} --confirm`"
            )
            continue
        lines.append(f"{entity}: {c.get('items_seen', 0)} changes seen")
        lines.append(
            f"  CRM -> Exchange: {verb}create {c.get('exchange_created', 0)}, "
            f"update {c.get('exchange_updated', 0)}, delete {c.get('exchange_deleted', 0)}"
        )
        lines.append(
            f"  Exchange -> CRM: {verb}create {c.get('crm_created', 0)}, "
            f"update {c.get('crm_updated', 0)}; untrack {c.get('untracked', 0)}, "
            f"keep unsynced {c.get('suspended', 0)}"
        )
        lines.append(
            f"  conflicts {c.get('conflicts', 0)}, rejected changes {c.get('rejected', 0)}"
        )
        if r.failed:
            lines.append(f"  failed, retried next run: {len(r.failed)}")
    return lines


class Command(BaseCommand):
    help = "Sync one mailbox now." + ENV_HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--entity", action="append", choices=ENTITIES)
        parser.add_argument("--dry-run", action="store_true", help="Plan only; change nothing.")
        parser.add_argument(
            "--confirm",
            action="store_true",
            help="Confirm a run the mass-change guard stopped, then sync.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from fieldsync.service.sync import confirm_mass_change

        owner, connector = owner_and_connector(options["email"])
        entities = options["entity"] or list(ENTITIES)
        if options["confirm"]:
            for entity in entities:
                confirm_mass_change(owner=owner, entity=entity)
        bars: dict[str, Any] = {}
        progress = None
        if self.stdout.isatty():
            from tqdm import tqdm

            def progress(entity: str, done: int, total: int) -> None:
                bar = bars.get(entity)
                if bar is None:
                    bar = bars[entity] = tqdm(total=total, desc=entity, unit="record")
                bar.update(done - bar.n)
                if done >= total:
                    bar.close()

        try:
            report = sync_mailbox(
                owner=owner,
                connector=connector,
                entities=entities,
                dry_run=options["dry_run"],
                progress=progress,
            )
        finally:
            for bar in bars.values():
                bar.close()
            close = getattr(connector, "close", None)
            if close is not None:
                close()
        report.owner = options["email"]
        for line in describe(report):
            self.stdout.write(line)
