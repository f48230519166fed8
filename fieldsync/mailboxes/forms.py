"""Forms of the server-side sync pages: mailboxes, email server profiles, history filters.

Passwords are write-only: the inputs never render a stored value, and empty means "keep".
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from fieldsync.models.mailboxes import AuthType, EmailServerProfile, Mailbox, RunStatus, ServerKind

_KEEP = "Leave empty to keep the stored password. It is never shown again."
_KEEP_SECRET = "Leave empty to keep the stored one. It is stored encrypted and never shown again."


class _SecretTextarea(forms.Textarea):
    """A text area that never renders a value (not even the one just submitted)."""

    def format_value(self, value: object) -> None:
        return None


class MailboxForm(forms.Form):
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.none(), label="User")
    email_address = forms.EmailField(label="E-mail address")
    server_profile = forms.ModelChoiceField(
        queryset=EmailServerProfile.objects.all(), label="Email server profile"
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

    def __init__(self, *args, mailbox: Mailbox | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True, mailbox__isnull=True)
        if mailbox is not None:
            users = get_user_model().objects.filter(pk=mailbox.owner_id)
            self.fields["owner"].disabled = True
        self.fields["owner"].queryset = users.order_by("username")


class ServerProfileForm(forms.Form):
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
    timezone = forms.CharField(max_length=64, initial="UTC")
    max_wait = forms.IntegerField(
        min_value=1, max_value=3600, initial=60, label="Wait out throttling for up to (s)"
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


class HistoryFilterForm(forms.Form):
    mailbox = forms.ModelChoiceField(queryset=Mailbox.objects.none(), required=False)
    entity = forms.ChoiceField(
        required=False,
        choices=[
            ("", "All"),
            ("contact", "Contact"),
            ("appointment", "Appointment"),
            ("recurring_appointment", "Recurring appointment"),
            ("task", "Task"),
        ],
        label="Record type",
    )
    status = forms.ChoiceField(required=False, choices=[("", "All"), *RunStatus.choices])

    def __init__(self, *args, mailboxes=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if mailboxes is not None:
            self.fields["mailbox"].queryset = mailboxes
