"""Forms of the server-side sync pages: mailboxes, email server profiles, history filters.

Passwords are write-only: the inputs never render a stored value, and empty means "keep".
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from fieldsync.mailboxes.connection import DiscoveredCollections
from fieldsync.models.mailboxes import (
    AuthType,
    EmailServerProfile,
    Mailbox,
    RunStatus,
    ServerKind,
    valid_time_zone,
)

_KEEP = "Leave empty to keep the stored password. It is never shown again."
_FIXED = {
    "contacts_collection": "contacts/",
    "events_collection": "calendar/",
    "tasks_collection": "tasks/",
}


def _collection_field(name: str) -> forms.URLField:
    model_field = Mailbox._meta.get_field(name)
    return forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label=str(model_field.verbose_name),
        help_text=f"{model_field.help_text} Discover collections offers what the server has.",
    )


_KEEP_SECRET = "Leave empty to keep the stored one. It is stored encrypted and never shown again."


class _SecretTextarea(forms.Textarea):
    """A text area that never renders a value (not even the one just submitted)."""

    def format_value(self, value: object) -> None:
        return None


class MailboxForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), label="User", empty_label="Choose a user"
    )
    email_address = forms.EmailField(label="E-mail address")
    server_profile = forms.ModelChoiceField(
        queryset=EmailServerProfile.objects.all(),
        label="Email server profile",
        empty_label="Choose a profile",
    )
    username = forms.CharField(
        required=False, help_text="Only for a profile without impersonation."
    )
    password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False), help_text=_KEEP
    )
    sync_contacts = forms.BooleanField(required=False, initial=True, label="Contacts")
    sync_appointments = forms.BooleanField(required=False, initial=True, label="Appointments")
    sync_tasks = forms.BooleanField(required=False, initial=True, label="Tasks")
    enabled = forms.BooleanField(required=False, initial=True, label="Enabled")
    contacts_collection = _collection_field("contacts_collection")
    events_collection = _collection_field("events_collection")
    tasks_collection = _collection_field("tasks_collection")

    def __init__(  # type: ignore[no-untyped-def]
        self,
        *args,
        mailbox: Mailbox | None = None,
        discovered: DiscoveredCollections | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True, mailbox__isnull=True)
        if mailbox is not None:
            users = get_user_model().objects.filter(pk=mailbox.owner_id)
            self.fields["owner"].disabled = True
        self.fields["owner"].queryset = users.order_by("first_name", "last_name", "username")
        self.fields["owner"].label_from_instance = lambda u: (
            f"{u.get_full_name()} ({u.username})" if u.get_full_name() else u.username
        )
        if discovered is not None and discovered.ok:
            self._offer(discovered)

    def _offer(self, discovered: DiscoveredCollections) -> None:
        """The collection fields become choices among what discovery found (no script): the
        current value, else discovery's proposal, is preselected."""
        for name, fixed in _FIXED.items():
            offered = discovered.offered(name)
            proposed = discovered.proposed.get(name, "")
            # A proposal that does not exist yet (a fixed name) is what "none chosen" means.
            if proposed not in {c.url for c in offered}:
                proposed = ""
            current = self.initial.get(name) or proposed
            self.initial[name] = current
            choices: list[tuple[str, Any]] = [("", f"None chosen: {fixed} under the Server URL")]
            choices += [(c.url, c.label) for c in offered]
            if current and current not in {url for url, _ in choices}:
                choices.append((current, f"{current} (not found on the server)"))
            self.fields[name].widget = forms.Select(choices=choices)


class ServerProfileForm(forms.Form):
    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"].strip()
        if not valid_time_zone(name):
            raise forms.ValidationError(
                f"{name!r} is not a time zone: use an IANA name such as Europe/Berlin, "
                "America/New_York or UTC."
            )
        return name

    name = forms.CharField(max_length=100)
    kind = forms.TypedChoiceField(
        choices=ServerKind.choices,
        label="Server",
        initial=ServerKind.EXCHANGE,
        required=False,
        empty_value=ServerKind.EXCHANGE,
    )
    ews_url = forms.URLField(
        label="Server URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text="Exchange: the EWS URL (…/EWS/Exchange.asmx). CalDAV/CardDAV: the URL of a "
        "user's contacts/, calendar/ and tasks/ collections, {user} standing for the mailbox's "
        "sign-in name (e.g. https://dav.contoso.com/{user}/). Not used by Exchange Online "
        "(Microsoft Graph).",
    )
    auth_type = forms.ChoiceField(choices=AuthType.choices, label="Authentication")
    use_impersonation = forms.BooleanField(
        required=False,
        initial=True,
        label="Service account impersonates the mailboxes (Exchange; on CalDAV/CardDAV it "
        "signs in for every mailbox)",
    )
    service_username = forms.CharField(required=False, label="Service account")
    service_password = forms.CharField(
        required=False,
        label="Service account password",
        widget=forms.PasswordInput(render_value=False),
        help_text=_KEEP,
    )
    timezone = forms.CharField(
        max_length=64,
        initial="UTC",
        label="Time zone",
        help_text="An IANA name, e.g. Europe/Berlin, America/New_York or UTC.",
    )
    max_wait = forms.IntegerField(
        min_value=1, max_value=3600, initial=60, label="Wait out throttling for up to (s)"
    )
    # A choice, not a checkbox: a form posted without it keeps verifying.
    verify_tls = forms.TypedChoiceField(
        choices=[("on", "Verify (recommended)"), ("off", "Do not verify (test servers only)")],
        coerce=lambda value: value != "off",
        empty_value=True,
        required=False,
        initial="on",
        label="TLS certificate",
        help_text=EmailServerProfile._meta.get_field("verify_tls").help_text,
    )
    ca_certificates = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        label="CA certificates (PEM)",
        help_text=EmailServerProfile._meta.get_field("ca_certificates").help_text,
    )

    # Exchange Online (Microsoft Graph): the app registration.
    tenant_id = forms.CharField(
        required=False,
        max_length=100,
        label="Directory (tenant) ID (Microsoft Graph, EWS with OAuth 2.0)",
        help_text="The tenant's GUID or domain, e.g. contoso.onmicrosoft.com.",
    )
    client_id = forms.CharField(
        required=False,
        max_length=100,
        label="Application (client) ID (Microsoft Graph, EWS with OAuth 2.0)",
    )
    client_secret = forms.CharField(
        required=False,
        max_length=1000,
        label="Client secret (OAuth 2.0)",
        widget=forms.PasswordInput(render_value=False),
        help_text=_KEEP_SECRET,
    )
    certificate_key = forms.CharField(
        required=False,
        max_length=20000,
        label="Certificate private key (PEM), instead of a secret",
        widget=_SecretTextarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text=_KEEP_SECRET,
    )
    certificate_thumbprint = forms.CharField(
        required=False,
        max_length=60,
        label="Certificate thumbprint (SHA-1)",
    )
    graph_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Graph base URL",
        help_text="Empty: https://graph.microsoft.com/v1.0 (a national cloud's otherwise).",
    )
    token_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Sign-in (token) URL (OAuth 2.0)",
        help_text="Empty: https://login.microsoftonline.com.",
    )
    past_days = forms.IntegerField(
        min_value=0,
        max_value=3650,
        initial=365,
        required=False,
        label="Calendar window: days back (Microsoft Graph)",
    )
    future_days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        initial=730,
        required=False,
        label="Calendar window: days ahead (Microsoft Graph)",
    )


_ENTITIES = [
    ("", "All"),
    ("contact", "Contact"),
    ("appointment", "Appointment"),
    ("recurring_appointment", "Recurring appointment"),
    ("task", "Task"),
    ("phone_call", "Phone call"),
    ("letter", "Letter"),
    ("fax", "Fax"),
    ("service_activity", "Service activity"),
]


class HistoryFilterForm(forms.Form):
    mailbox = forms.ModelChoiceField(
        queryset=Mailbox.objects.none(), required=False, empty_label="All"
    )
    entity = forms.ChoiceField(required=False, choices=_ENTITIES, label="Record type")
    status = forms.ChoiceField(required=False, choices=[("", "All"), *RunStatus.choices])

    def __init__(self, *args, mailboxes=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if mailboxes is not None:
            self.fields["mailbox"].queryset = mailboxes


class IssueFilterForm(forms.Form):
    """Filters of the conflicts and rejected changes: mailbox, record type, field, dates."""

    mailbox = forms.ModelChoiceField(
        queryset=Mailbox.objects.none(), required=False, empty_label="All"
    )
    entity = forms.ChoiceField(required=False, choices=_ENTITIES, label="Record type")
    field = forms.CharField(
        required=False, max_length=80, label="Field", help_text="Part of the field's name."
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, mailboxes=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if mailboxes is not None:
            self.fields["mailbox"].queryset = mailboxes

    def clean(self) -> dict:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise forms.ValidationError("The From date is after the To date.")
        return data
