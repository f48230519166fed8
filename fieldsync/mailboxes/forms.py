"""Forms of the server-side sync pages: mailboxes, email server profiles, history filters.

Passwords are write-only: the inputs never render a stored value, and empty means "keep".
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from fieldsync.mailboxes.connection import DiscoveredCollections
from fieldsync.models.mailboxes import AuthType, EmailServerProfile, Mailbox, RunStatus, ServerKind

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
        self.fields["owner"].queryset = users.order_by("username")
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
        assume_scheme="https",
        help_text="Exchange: the EWS URL (…/EWS/Exchange.asmx). CalDAV/CardDAV: the URL of a "
        "user's contacts/, calendar/ and tasks/ collections, {user} standing for the mailbox's "
        "sign-in name (e.g. https://dav.contoso.com/{user}/).",
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
