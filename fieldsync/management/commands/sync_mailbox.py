"""`manage.py sync_mailbox EMAIL [--entity contact] [--dry-run]`: one sync of one mailbox now,
printing what it did (or would do) per entity and direction, with a progress bar on a terminal.
A server error that stops the run (a missing collection, a refused sign-in or certificate) ends
it with the reason in words and what was already written, exit status 1, no traceback.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.base import ConnectorError
from fieldsync.service.rules import ENTITIES
from fieldsync.service.sync import SyncReport, sync_mailbox

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


def mailbox_of(email: str) -> Any:
    from fieldsync.models.mailboxes import Mailbox

    return (
        Mailbox.objects.select_related("owner", "server_profile")
        .filter(email_address__iexact=email)
        .first()
    )


def owner_and_connector(email: str) -> tuple[Any, Any]:
    from fieldsync.mailboxes.connection import connector_for, describe_error
    from fieldsync.mailboxes.credentials import CredentialsUnreadable
    from security.models import User

    mailbox = mailbox_of(email)
    if mailbox is not None:
        try:
            return mailbox.owner, connector_for(mailbox)
        except CredentialsUnreadable as exc:
            raise CommandError(describe_error(exc, mailbox)[1]) from None
    owner = User.objects.filter(email__iexact=email).first()
    if owner is None:
        raise CommandError(f"No mailbox and no user with the e-mail address {email}.")
    return owner, connector_from_env(email)


def written(report: SyncReport) -> str:
    """What a run had written per entity before it stopped, in one sentence."""
    parts = []
    for entity, r in report.entities.items():
        c = r.counts
        server = [c.get(f"exchange_{k}", 0) for k in ("created", "updated", "deleted")]
        crm = [c.get(f"crm_{k}", 0) for k in ("created", "updated", "deleted")]
        parts.append(
            f"{entity}: on the server {server[0]} created, {server[1]} updated, {server[2]} "
            f"deleted; in the CRM {crm[0]} created, {crm[1]} updated, {crm[2]} deleted"
        )
    return "; ".join(parts) if parts else "nothing"


def describe(report: SyncReport, remote: str = "Exchange") -> list[str]:
    """Lines a person reads: per entity, what went to the server (`remote`: Exchange or
    CalDAV/CardDAV) and what came into the CRM."""
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
            f"  CRM -> {remote}: {verb}create {c.get('exchange_created', 0)}, "
            f"update {c.get('exchange_updated', 0)}, delete {c.get('exchange_deleted', 0)}"
        )
        lines.append(
            f"  {remote} -> CRM: {verb}create {c.get('crm_created', 0)}, "
            f"update {c.get('crm_updated', 0)}; untrack {c.get('untracked', 0)}, "
            f"keep unsynced {c.get('suspended', 0)}"
        )
        lines.append(
            f"  conflicts {c.get('conflicts', 0)}, rejected changes {c.get('rejected', 0)}"
        )
        lines += [f"  {note}" for note in r.notes]
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

        mailbox = mailbox_of(options["email"])
        entities = options["entity"] or (mailbox.entities if mailbox else list(ENTITIES))
        if options["confirm"]:
            owner = mailbox.owner if mailbox else owner_and_connector(options["email"])[0]
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

        if mailbox is not None and not options["dry_run"]:
            try:
                self._recorded(mailbox, options["email"], entities, progress)
            finally:
                for bar in bars.values():
                    bar.close()
            return
        owner, connector = owner_and_connector(options["email"])
        report = SyncReport(owner=options["email"], dry_run=options["dry_run"])
        try:
            for entity in entities:
                try:
                    done = sync_mailbox(
                        owner=owner,
                        connector=connector,
                        entities=[entity],
                        dry_run=options["dry_run"],
                        progress=progress,
                    )
                except ConnectorError as exc:
                    self._stop(report, entity, exc, connector)
                report.entities.update(done.entities)
        finally:
            for bar in bars.values():
                bar.close()
            close = getattr(connector, "close", None)
            if close is not None:
                close()
        for line in describe(report, _remote(connector)):
            self.stdout.write(line)

    def _recorded(self, mailbox: Any, email: str, entities: list[str], progress: Any) -> None:
        """A mailbox's sync, recorded in its run history like the worker's (trigger
        "command", the mass-change guard's stops included); the mailbox's status follows.
        A run that stops on a server error ends with its reason and what was already written."""
        from fieldsync.mailboxes.run import mailbox_sync_run
        from fieldsync.models.mailboxes import RunTrigger, ServerKind

        report = SyncReport(owner=email, dry_run=False)

        def sync(**kw: Any) -> SyncReport:
            done = sync_mailbox(progress=progress, **kw)
            report.entities.update(done.entities)
            return done

        outcome = mailbox_sync_run(
            mailbox_id=mailbox.pk,
            trigger=RunTrigger.COMMAND,
            max_retries=0,
            sync=sync,
            entities=entities,
        )
        if outcome.status == "skipped":
            raise CommandError(outcome.message)
        remote = (
            "CalDAV/CardDAV" if mailbox.server_profile.kind == ServerKind.CALDAV else "Exchange"
        )
        for line in describe(report, remote):
            self.stdout.write(line)
        if outcome.status == "failed" and not any(r.guard for r in report.entities.values()):
            stopped = next((r for r in outcome.runs if r.error), None)
            where = f"The {stopped.entity} sync stopped: {stopped.error}" if stopped else ""
            reason = where or f"The sync failed: {outcome.message}"
            raise CommandError(f"{reason} Already written in this run: {written(report)}.")

    def _stop(
        self, report: SyncReport, entity: str, exc: ConnectorError, connector: Any
    ) -> NoReturn:
        """The run cannot go on: what it wrote so far, then the reason in words (exit 1)."""
        from fieldsync.mailboxes.connection import describe_error

        _, message = describe_error(exc, mailbox_of(report.owner), connector)
        for line in describe(report, _remote(connector)):
            self.stdout.write(line)
        done = (
            "Nothing was written (dry run)."
            if report.dry_run
            else f"Already written in this run: {written(report)}."
        )
        raise CommandError(f"The {entity} sync stopped: {message} {done}")


def _remote(connector: Any) -> str:
    from connectors.dav import DavConnector

    return "CalDAV/CardDAV" if isinstance(connector, DavConnector) else "Exchange"
