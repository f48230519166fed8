"""Server-side sync data: email server profiles, one mailbox per user, and the history of runs.

Credentials are stored only encrypted (fieldsync/mailboxes/credentials.py); workflows live in
fieldsync/mailboxes/.
"""

from __future__ import annotations

import re
import ssl
import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class AuthType(models.TextChoices):
    BASIC = "basic", "Basic"
    NTLM = "ntlm", "NTLM"
    OAUTH2 = "oauth2", "OAuth 2.0 (app registration, client credentials)"


class ServerKind(models.TextChoices):
    EXCHANGE = "exchange", "Exchange (EWS)"
    CALDAV = "caldav", "CalDAV/CardDAV"
    GRAPH = "graph", "Exchange Online (Microsoft Graph)"


_THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}")


def valid_time_zone(name: str) -> bool:
    """Whether `name` is an IANA time zone name (Europe/Berlin, UTC)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return bool(name)


class EmailServerProfile(models.Model):
    """How to reach one mail server: Exchange by its EWS URL, or a CalDAV/CardDAV server by the
    URL of a user's collections; the authentication, and either a service account (for
    Exchange, one that impersonates every mailbox) or per-mailbox credentials. Exchange Online
    through Microsoft Graph: an app registration (tenant, client id, and a client secret or a
    certificate) with app-only access to the mailboxes, addressed by their e-mail addresses."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(
        "Server", max_length=10, choices=ServerKind.choices, default=ServerKind.EXCHANGE
    )
    ews_url = models.URLField(
        "Server URL",
        max_length=500,
        blank=True,
        help_text="Exchange: the EWS URL, e.g. https://mail.contoso.com/EWS/Exchange.asmx. "
        "CalDAV/CardDAV: the URL holding a user's contacts/, calendar/ and tasks/ collections; "
        "{user} stands for the mailbox's sign-in name, e.g. https://dav.contoso.com/{user}/",
    )
    auth_type = models.CharField(max_length=10, choices=AuthType.choices, default=AuthType.BASIC)
    use_impersonation = models.BooleanField(
        default=True,
        help_text="Connect as the service account and impersonate each mailbox. Off: each "
        "mailbox signs in with its own credentials.",
    )
    service_username = models.CharField(max_length=254, blank=True)
    service_password_encrypted = models.TextField(blank=True, editable=False)
    timezone = models.CharField(max_length=64, default="UTC")
    max_wait = models.PositiveIntegerField(
        default=60,
        help_text="Seconds the connector waits out a throttling server before giving the "
        "mailbox back to the scheduler, which retries later.",
    )
    # TLS of a CalDAV/CardDAV server. The CA certificates are kept as PEM text in the database
    # (not a path): an administrator pastes them into the form, and every worker has them
    # without a file to deploy on each host. They are public, so they are not encrypted.
    verify_tls = models.BooleanField(
        "Verify the server's TLS certificate",
        default=True,
        help_text="CalDAV/CardDAV: off only for a test server; the connection is then open "
        "to interception.",
    )
    ca_certificates = models.TextField(
        "CA certificates (PEM)",
        blank=True,
        help_text="CalDAV/CardDAV: the certificate(s) of the authority that signed the server's "
        "certificate (or the server's self-signed certificate), pasted as "
        "-----BEGIN CERTIFICATE----- blocks. They replace the system's trusted CAs for this "
        "profile. Empty: the system's trusted CAs.",
    )
    # Exchange Online (Microsoft Graph): the app registration in Entra ID.
    tenant_id = models.CharField(
        "Directory (tenant) ID",
        max_length=100,
        blank=True,
        help_text="The tenant's GUID or its domain, e.g. contoso.onmicrosoft.com.",
    )
    client_id = models.CharField("Application (client) ID", max_length=100, blank=True)
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    certificate_key_encrypted = models.TextField(blank=True, editable=False)
    certificate_thumbprint = models.CharField(
        "Certificate thumbprint",
        max_length=40,
        blank=True,
        help_text="The SHA-1 thumbprint Entra ID shows for the uploaded certificate (40 hex "
        "digits).",
    )
    graph_url = models.URLField(
        "Graph base URL",
        max_length=500,
        blank=True,
        help_text="Empty: https://graph.microsoft.com/v1.0. A national cloud's, e.g. "
        "https://graph.microsoft.us/v1.0.",
    )
    token_url = models.URLField(
        "Sign-in (token) URL",
        max_length=500,
        blank=True,
        help_text="Empty: https://login.microsoftonline.com. Tokens come from "
        "<this>/<tenant>/oauth2/v2.0/token.",
    )
    past_days = models.PositiveIntegerField(
        "Calendar window: days back",
        default=365,
        help_text="Graph syncs the events of a window: from this many days ago...",
    )
    future_days = models.PositiveIntegerField(
        "Calendar window: days ahead", default=730, help_text="... to this many days ahead."
    )
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(use_impersonation=False) | ~Q(service_username=""),
                name="serverprofile_impersonation_needs_account",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == ServerKind.CALDAV and self.auth_type != AuthType.BASIC:
            raise ValidationError(
                {"auth_type": "A CalDAV/CardDAV server profile signs in with Basic authentication."}
            )
        if not valid_time_zone(self.timezone):
            raise ValidationError(
                {
                    "timezone": f"{self.timezone!r} is not a time zone: use an IANA name such as "
                    "Europe/Berlin, America/New_York or UTC."
                }
            )
        if self.ca_certificates.strip():
            if self.kind != ServerKind.CALDAV:
                raise ValidationError(
                    {"ca_certificates": "CA certificates are used by CalDAV/CardDAV profiles only."}
                )
            try:
                ssl.create_default_context(cadata=self.ca_certificates.strip())
            except (ssl.SSLError, ValueError) as exc:
                raise ValidationError(
                    {
                        "ca_certificates": "These are not PEM certificates: paste the "
                        "-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE----- blocks "
                        f"({exc.args[-1] if exc.args else exc})."
                    }
                ) from None
        if self.kind != ServerKind.GRAPH and not self.ews_url:
            raise ValidationError({"ews_url": "Enter the server's URL."})
        if self.is_app_only:
            self._clean_app()

    def _clean_app(self) -> None:
        errors = {}
        if self.kind == ServerKind.EXCHANGE and self.certificate_key_encrypted:
            errors["certificate_key"] = (
                "EWS with OAuth 2.0 signs in with a client secret (exchangelib's client "
                "credentials); a certificate is for Microsoft Graph profiles."
            )
        if not self.tenant_id.strip():
            errors["tenant_id"] = "Enter the directory (tenant) ID of the app registration."
        if not self.client_id.strip():
            errors["client_id"] = "Enter the application (client) ID of the app registration."
        if self.certificate_thumbprint and not _THUMBPRINT.fullmatch(self.certificate_thumbprint):
            errors["certificate_thumbprint"] = (
                "The thumbprint is the certificate's SHA-1 hash: 40 hexadecimal digits."
            )
        has_certificate = bool(self.certificate_key_encrypted and self.certificate_thumbprint)
        if bool(self.certificate_key_encrypted) != bool(self.certificate_thumbprint):
            errors.setdefault(
                "certificate_thumbprint",
                "A certificate needs both its private key and its thumbprint.",
            )
        elif not (self.client_secret_encrypted or has_certificate):
            errors["client_secret"] = (
                "Enter the app's client secret, or its certificate (private key and thumbprint)."
            )
        if self.past_days > 3650 or self.future_days > 3650:
            errors["future_days"] = "The calendar window reaches at most 3650 days each way."
        if errors:
            raise ValidationError(errors)

    @property
    def is_dav(self) -> bool:
        return self.kind == ServerKind.CALDAV

    @property
    def is_graph(self) -> bool:
        return self.kind == ServerKind.GRAPH

    @property
    def is_app_only(self) -> bool:
        """Signs in as an application (a token from Entra ID), not with user names: Graph, or
        EWS with OAuth 2.0."""
        return self.kind == ServerKind.GRAPH or (
            self.kind == ServerKind.EXCHANGE and self.auth_type == AuthType.OAUTH2
        )

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    @property
    def has_certificate(self) -> bool:
        return bool(self.certificate_key_encrypted)

    @property
    def has_service_password(self) -> bool:
        return bool(self.service_password_encrypted)


class MailboxStatus(models.TextChoices):
    NEW = "new", "Not synced yet"
    QUEUED = "queued", "Queued"
    SYNCING = "syncing", "Syncing"
    OK = "ok", "OK"
    RETRYING = "retrying", "Retrying"
    FAILING = "failing", "Failing"


class SyncPath(models.TextChoices):
    """Which path keeps one entity of a mailbox in sync (the same field rules govern both)."""

    SERVER = "server", "server-side sync"
    CLIENT = "client", "Outlook client (REST API)"


class Mailbox(models.Model):
    """One user's Exchange mailbox and what of it the server-side sync keeps current."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mailbox"
    )
    email_address = models.EmailField(max_length=254, unique=True)
    server_profile = models.ForeignKey(
        EmailServerProfile, on_delete=models.PROTECT, related_name="mailboxes"
    )
    # Used only when the profile does not impersonate.
    username = models.CharField(max_length=254, blank=True)
    password_encrypted = models.TextField(blank=True, editable=False)
    sync_contacts = models.BooleanField(default=True)
    sync_appointments = models.BooleanField(default=True)
    sync_tasks = models.BooleanField(default=True)
    # Per entity: the server-side worker, or the Outlook client through /api/v1/sync/ (never both).
    contacts_path = models.CharField(max_length=10, choices=SyncPath.choices, default="server")
    appointments_path = models.CharField(max_length=10, choices=SyncPath.choices, default="server")
    tasks_path = models.CharField(max_length=10, choices=SyncPath.choices, default="server")
    enabled = models.BooleanField(default=True, db_index=True)
    # CalDAV/CardDAV: the absolute URLs of the collections this mailbox syncs (events and tasks
    # may be one calendar). Blank: contacts/, calendar/ and tasks/ under the profile's URL.
    contacts_collection = models.URLField(
        "Contacts collection",
        max_length=500,
        blank=True,
        help_text="CalDAV/CardDAV: the address book's URL. Empty: contacts/ under the Server URL.",
    )
    events_collection = models.URLField(
        "Events calendar",
        max_length=500,
        blank=True,
        help_text="CalDAV/CardDAV: the calendar for appointments. Empty: calendar/ under the "
        "Server URL.",
    )
    tasks_collection = models.URLField(
        "Tasks calendar",
        max_length=500,
        blank=True,
        help_text="CalDAV/CardDAV: the calendar for tasks (may be the events calendar). Empty: "
        "tasks/ under the Server URL.",
    )

    status = models.CharField(
        max_length=10, choices=MailboxStatus.choices, default=MailboxStatus.NEW, editable=False
    )
    last_error = models.TextField(blank=True, editable=False)
    last_error_code = models.CharField(max_length=80, blank=True, editable=False)
    failure_count = models.PositiveIntegerField(
        default=0, editable=False, help_text="Consecutive failed runs (back-off grows with it)."
    )
    next_attempt_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Set while a failing mailbox backs off; the scheduler skips it until then.",
    )
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_attempt_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_on = models.DateTimeField(auto_now_add=True)
    updated_on = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email_address"]
        verbose_name_plural = "mailboxes"
        indexes = [models.Index(fields=["enabled", "next_attempt_at"], name="mailbox_due")]

    def __str__(self) -> str:
        return self.email_address

    def clean(self) -> None:
        chosen = {
            "contacts_collection": self.contacts_collection,
            "events_collection": self.events_collection,
            "tasks_collection": self.tasks_collection,
        }
        if not any(chosen.values()) or self.server_profile_id is None:
            return
        if not self.server_profile.is_dav:
            raise ValidationError(
                {
                    name: "Only a mailbox on a CalDAV/CardDAV server has collections to choose."
                    for name, value in chosen.items()
                    if value
                }
            )
        book = self.contacts_collection.rstrip("/")
        if book and book in (self.events_collection.rstrip("/"), self.tasks_collection.rstrip("/")):
            raise ValidationError(
                {
                    "contacts_collection": "The contacts collection is an address book: it "
                    "cannot also be the events or tasks calendar."
                }
            )

    @property
    def collections(self) -> dict[str, str]:
        """The connector's folder -> the collection URL chosen ('' = the fixed name)."""
        return {
            "contacts": self.contacts_collection,
            "calendar": self.events_collection,
            "tasks": self.tasks_collection,
        }

    def _synced(self) -> list[tuple[str, str]]:
        out = []
        if self.sync_contacts:
            out.append(("contact", self.contacts_path))
        if self.sync_appointments:
            out += [
                ("appointment", self.appointments_path),
                ("recurring_appointment", self.appointments_path),
                ("service_activity", self.appointments_path),
            ]
        if self.sync_tasks:
            # Phone calls, letters and faxes are Outlook tasks: they go where tasks go.
            out += [(e, self.tasks_path) for e in ("task", "phone_call", "letter", "fax")]
        return out

    @property
    def entities(self) -> list[str]:
        """The CRM entities the server-side sync keeps current for this mailbox, as catalog
        keys (those on the Outlook client path are synced by the client, not the worker)."""
        return [entity for entity, path in self._synced() if path == SyncPath.SERVER]

    @property
    def client_entities(self) -> list[str]:
        """The entities the Outlook client syncs through the REST API."""
        return [entity for entity, path in self._synced() if path == SyncPath.CLIENT]

    def path_for(self, entity: str) -> str | None:
        """SyncPath value of one entity, or None when the mailbox does not sync it at all."""
        return dict(self._synced()).get(entity)

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    RETRYING = "retrying", "Failed, will retry"
    ABANDONED = "abandoned", "Abandoned (worker stopped)"


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    MANUAL = "manual", "Sync now"
    API = "api", "API"
    COMMAND = "command", "Command (manage.py sync_mailbox)"


class SyncRun(models.Model):
    """One run of the sync for one mailbox and one entity: when, what it changed, what failed.

    The runs of one task execution share `attempt_id`.
    """

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="runs")
    entity = models.CharField(max_length=40)
    attempt_id = models.UUIDField(default=uuid.uuid4, db_index=True, editable=False)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    retry = models.PositiveSmallIntegerField(default=0, help_text="0 for the first try.")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    created_in_crm = models.PositiveIntegerField(default=0)
    updated_in_crm = models.PositiveIntegerField(default=0)
    deleted_in_crm = models.PositiveIntegerField(default=0)
    created_in_exchange = models.PositiveIntegerField(default=0)
    updated_in_exchange = models.PositiveIntegerField(default=0)
    deleted_in_exchange = models.PositiveIntegerField(default=0)
    conflicts = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    items_seen = models.PositiveIntegerField(
        default=0, help_text="Items the run looked at (both sides): the base of the cost model."
    )
    # While the run applies its plan (a first sync of a large mailbox takes a while): how many
    # records it has done of how many it planned, so the pages can show progress.
    items_done = models.PositiveIntegerField(default=0)
    items_planned = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=80, blank=True)
    error = models.TextField(blank=True)
    note = models.TextField(
        blank=True, help_text="What the run left alone on purpose, in words (nothing to resolve)."
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["mailbox", "-started_at"], name="syncrun_mailbox_recent")]

    def __str__(self) -> str:
        return f"{self.mailbox} {self.entity} {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def changes(self) -> int:
        return (
            self.created_in_crm
            + self.updated_in_crm
            + self.deleted_in_crm
            + self.created_in_exchange
            + self.updated_in_exchange
            + self.deleted_in_exchange
        )


class VerifyReport(models.Model):
    """One convergence check of one mailbox and entity (*Verify*, `manage.py verify_mailbox`):
    both sides read and every synced field compared. A difference is explained (a direction,
    field security, a rejected value, a run still to come: counted per reason in `explained`)
    or drift, kept with the two values. Kept like a run."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.CASCADE, related_name="verify_reports"
    )
    entity = models.CharField(max_length=40)
    trigger = models.CharField(max_length=10, choices=RunTrigger.choices)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    records = models.PositiveIntegerField(default=0, help_text="Synced records compared.")
    fields_compared = models.PositiveIntegerField(default=0)
    explained = models.JSONField(default=dict, blank=True, help_text="Differences per reason.")
    drift = models.JSONField(
        default=list, blank=True, help_text="Unexplained differences: record, field, both values."
    )
    drift_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return (
            f"{self.owner} {self.entity} {self.started_at:%Y-%m-%d %H:%M}: {self.drift_count} drift"
        )
