"""Serializers of the server-side sync API: mailboxes, server profiles and sync runs.

Passwords are write-only: outputs say whether one is stored, never what it is.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework import serializers

from fieldsync.models.mailboxes import (
    AuthType,
    EmailServerProfile,
    MailboxStatus,
    RunStatus,
    RunTrigger,
    ServerKind,
)


class ServerProfileOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=ServerKind.choices)
    ews_url = serializers.CharField(
        help_text="The EWS URL, or the CalDAV/CardDAV URL ({user}); empty for Graph."
    )
    auth_type = serializers.ChoiceField(choices=AuthType.choices)
    use_impersonation = serializers.BooleanField()
    service_username = serializers.CharField()
    has_service_password = serializers.BooleanField()
    timezone = serializers.CharField()
    max_wait = serializers.IntegerField()
    verify_tls = serializers.BooleanField(
        help_text="CalDAV/CardDAV: whether the server's TLS certificate is verified."
    )
    ca_certificates = serializers.CharField(
        help_text="CalDAV/CardDAV: PEM certificates that replace the system's trusted CAs; "
        "empty: the system's."
    )
    tenant_id = serializers.CharField(help_text="Graph: the directory (tenant) ID.")
    client_id = serializers.CharField(help_text="Graph: the application (client) ID.")
    has_client_secret = serializers.BooleanField()
    has_certificate = serializers.BooleanField(help_text="A certificate private key is stored.")
    certificate_thumbprint = serializers.CharField()
    graph_url = serializers.CharField(help_text="Empty: https://graph.microsoft.com/v1.0.")
    token_url = serializers.CharField(help_text="Empty: https://login.microsoftonline.com.")
    past_days = serializers.IntegerField(help_text="Graph calendar window: days back.")
    future_days = serializers.IntegerField(help_text="Graph calendar window: days ahead.")


class ServerProfileInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=ServerKind.choices, default=ServerKind.EXCHANGE)
    ews_url = serializers.URLField(
        max_length=500, required=False, allow_blank=True, help_text="Not used by Graph."
    )
    auth_type = serializers.ChoiceField(choices=AuthType.choices, default=AuthType.BASIC)
    use_impersonation = serializers.BooleanField(default=True)
    service_username = serializers.CharField(max_length=254, required=False, allow_blank=True)
    service_password = serializers.CharField(
        max_length=1000,
        required=False,
        allow_blank=True,
        write_only=True,
        style={"input_type": "password"},
        help_text="Write-only. Omitted or empty on update: the stored one is kept.",
    )
    timezone = serializers.CharField(max_length=64, default="UTC")
    max_wait = serializers.IntegerField(min_value=1, max_value=3600, default=60)
    verify_tls = serializers.BooleanField(
        default=True, help_text="CalDAV/CardDAV: false only for a test server."
    )
    ca_certificates = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100_000,
        help_text="CalDAV/CardDAV: PEM certificates (-----BEGIN CERTIFICATE----- blocks) of the "
        "authority that signed the server's certificate; they replace the system's trusted CAs.",
    )
    tenant_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    client_id = serializers.CharField(max_length=100, required=False, allow_blank=True)
    client_secret = serializers.CharField(
        max_length=1000,
        required=False,
        allow_blank=True,
        write_only=True,
        style={"input_type": "password"},
        help_text="Graph. Write-only. Omitted or empty on update: the stored one is kept.",
    )
    certificate_key = serializers.CharField(
        max_length=20000,
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=True,
        help_text="Graph: the certificate's unencrypted PEM private key, instead of a secret. "
        "Write-only. Omitted or empty on update: the stored one is kept.",
    )
    certificate_thumbprint = serializers.CharField(max_length=60, required=False, allow_blank=True)
    graph_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    token_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    past_days = serializers.IntegerField(min_value=0, max_value=3650, required=False)
    future_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)


class MailboxOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email_address = serializers.EmailField()
    owner = serializers.CharField(source="owner.username")
    server_profile = serializers.IntegerField(source="server_profile_id")
    server_profile_name = serializers.CharField(source="server_profile.name")
    username = serializers.CharField()
    has_password = serializers.BooleanField()
    sync_contacts = serializers.BooleanField()
    sync_appointments = serializers.BooleanField()
    sync_tasks = serializers.BooleanField()
    enabled = serializers.BooleanField()
    contacts_collection = serializers.CharField(
        help_text="CalDAV/CardDAV: the address book's URL; empty: contacts/ under the URL."
    )
    events_collection = serializers.CharField(
        help_text="CalDAV/CardDAV: the appointments' calendar; empty: calendar/ under the URL."
    )
    tasks_collection = serializers.CharField(
        help_text="CalDAV/CardDAV: the tasks' calendar (may be the events one); empty: tasks/."
    )
    status = serializers.ChoiceField(choices=MailboxStatus.choices)
    last_error = serializers.CharField()
    last_error_code = serializers.CharField()
    failure_count = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(
        allow_null=True, help_text="While failing: the scheduler waits until then."
    )
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)


class MailboxInputSerializer(serializers.Serializer):
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        help_text="Username of the mailbox's user (only on create).",
    )
    email_address = serializers.EmailField(max_length=254)
    server_profile = serializers.PrimaryKeyRelatedField(queryset=EmailServerProfile.objects.all())
    username = serializers.CharField(max_length=254, required=False, allow_blank=True)
    password = serializers.CharField(
        max_length=1000,
        required=False,
        allow_blank=True,
        write_only=True,
        style={"input_type": "password"},
        help_text="Write-only. Omitted or empty on update: the stored one is kept.",
    )
    sync_contacts = serializers.BooleanField(default=True)
    sync_appointments = serializers.BooleanField(default=True)
    sync_tasks = serializers.BooleanField(default=True)
    enabled = serializers.BooleanField(default=True)
    contacts_collection = serializers.URLField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="CalDAV/CardDAV: the address book's absolute URL, as "
        "GET mailboxes/{id}/collections/ lists them; empty: contacts/ under the profile's URL.",
    )
    events_collection = serializers.URLField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="CalDAV/CardDAV: the calendar for appointments; empty: calendar/.",
    )
    tasks_collection = serializers.URLField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="CalDAV/CardDAV: the calendar for tasks (may be the events one); empty: tasks/.",
    )


class ConfirmMassChangeInputSerializer(serializers.Serializer):
    entity = serializers.ChoiceField(
        choices=["contact", "appointment", "recurring_appointment", "task"],
        help_text="The record type whose stopped run goes ahead.",
    )


class SyncQueuedOutputSerializer(serializers.Serializer):
    mailbox = serializers.IntegerField()
    status = serializers.CharField(help_text="The mailbox's state after queueing: `queued`.")
    runs_url = serializers.CharField(help_text="Where the new runs will appear.")


class ConnectionCheckOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    code = serializers.CharField(help_text="The EWS error code; empty when ok.")
    message = serializers.CharField()


class FoundCollectionOutputSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Absolute URL: what a collection field takes.")
    name = serializers.CharField(help_text="The display name ('' when the server gives none).")
    kind = serializers.ChoiceField(choices=["addressbook", "calendar"])
    components = serializers.ListField(
        child=serializers.CharField(),
        help_text="A calendar's components (VEVENT, VTODO); empty: not said (all).",
    )


class DiscoveredCollectionsOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    code = serializers.CharField(help_text="The server's error code; empty when ok.")
    message = serializers.CharField()
    collections = FoundCollectionOutputSerializer(many=True)
    proposed = serializers.DictField(
        child=serializers.CharField(),
        help_text="contacts_collection, events_collection, tasks_collection -> the URL "
        "discovery proposes (a fixed name under the home when none exists yet).",
    )


class SyncRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    mailbox = serializers.IntegerField(source="mailbox_id")
    email_address = serializers.EmailField(source="mailbox.email_address")
    entity = serializers.CharField()
    attempt_id = serializers.UUIDField(help_text="Shared by the runs of one task execution.")
    trigger = serializers.ChoiceField(choices=RunTrigger.choices)
    retry = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    duration = serializers.FloatField(allow_null=True, help_text="Seconds.")
    created_in_crm = serializers.IntegerField()
    updated_in_crm = serializers.IntegerField()
    deleted_in_crm = serializers.IntegerField()
    created_in_exchange = serializers.IntegerField()
    updated_in_exchange = serializers.IntegerField()
    deleted_in_exchange = serializers.IntegerField()
    conflicts = serializers.IntegerField()
    rejected = serializers.IntegerField()
    items_seen = serializers.IntegerField()
    error_code = serializers.CharField()
    error = serializers.CharField()
    note = serializers.CharField(
        help_text="What the run left alone on purpose, e.g. service activities made in Outlook."
    )
    worker = serializers.CharField()


class ConflictOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    owner = serializers.CharField(source="owner.username")
    entity = serializers.CharField()
    crm_id = serializers.UUIDField(allow_null=True)
    item_id = serializers.CharField()
    field = serializers.CharField()
    base_value = serializers.JSONField(allow_null=True, help_text="What both sides agreed on.")
    crm_value = serializers.JSONField(allow_null=True)
    exchange_value = serializers.JSONField(allow_null=True)
    outcome = serializers.CharField(help_text="The side whose value won: crm, exchange or none.")
    losing_side = serializers.CharField(help_text="crm or exchange: whose value lost.")
    reason = serializers.CharField()
    created_on = serializers.DateTimeField()
    resolved_on = serializers.DateTimeField(
        allow_null=True, help_text="When the losing value was applied."
    )
    resolved_by = serializers.CharField(
        source="resolved_by.username", allow_null=True, default=None
    )
    values_withheld = serializers.BooleanField(
        default=False,
        help_text="The values are null because you may not read this field or record (or only "
        "a digest of a secured value was kept).",
    )


class RejectedChangeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    owner = serializers.CharField(source="owner.username")
    entity = serializers.CharField()
    crm_id = serializers.UUIDField(allow_null=True)
    item_id = serializers.CharField()
    field = serializers.CharField(help_text='"*" for the record as a whole.')
    offered_value = serializers.JSONField(allow_null=True)
    values_withheld = serializers.BooleanField(
        default=False,
        help_text="The values are null because you may not read this field or record (or only "
        "a digest of a secured value was kept).",
    )
    reason = serializers.CharField()
    created_on = serializers.DateTimeField()
