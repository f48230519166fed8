"""Mailbox services: who sees which mailbox, server profiles and mailboxes with encrypted
credentials, sync requests (Sync now, the API), the demo's mailboxes and the mass-change guard.
Connecting to a mailbox lives in connection.py.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from fieldsync.mailboxes import credentials
from fieldsync.models.mailboxes import (
    AuthType,
    EmailServerProfile,
    Mailbox,
    MailboxStatus,
    RunTrigger,
    ServerKind,
    SyncRun,
)
from security import policy

# Connection settings: changing one of them is a fix, so a failing mailbox is retried at once.
_PROFILE_CONNECTION_FIELDS = {
    "kind",
    "ews_url",
    "auth_type",
    "use_impersonation",
    "service_username",
    "verify_tls",
    "ca_certificates",
    "tenant_id",
    "client_id",
    "certificate_thumbprint",
    "graph_url",
    "token_url",
}
COLLECTION_FIELDS = ("contacts_collection", "events_collection", "tasks_collection")
_MAILBOX_CONNECTION_FIELDS = {"email_address", "server_profile", "username", *COLLECTION_FIELDS}
_MAILBOX_FIELDS = {
    "email_address",
    "server_profile",
    "username",
    "sync_contacts",
    "sync_appointments",
    "sync_tasks",
    "enabled",
    *COLLECTION_FIELDS,
}
_PROFILE_FIELDS = {
    "name",
    "kind",
    "ews_url",
    "auth_type",
    "use_impersonation",
    "service_username",
    "timezone",
    "max_wait",
    "verify_tls",
    "ca_certificates",
    "tenant_id",
    "client_id",
    "certificate_thumbprint",
    "graph_url",
    "token_url",
    "past_days",
    "future_days",
}


# ---- who sees what ----------------------------------------------------------------------------


def can_manage_mailboxes(user: Any) -> bool:
    """Administrators (the sync-settings write privilege) manage every mailbox and profile."""
    return policy.can_change_sync_settings(user)


def mailboxes_visible_to(user: Any) -> QuerySet[Mailbox]:
    """Users see their own mailbox, administrators all of them."""
    qs = Mailbox.objects.select_related("owner", "server_profile")
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    return qs if can_manage_mailboxes(user) else qs.filter(owner=user)


def runs_visible_to(user: Any) -> QuerySet[SyncRun]:
    return SyncRun.objects.filter(mailbox__in=mailboxes_visible_to(user)).select_related(
        "mailbox", "mailbox__owner"
    )


# ---- profiles and mailboxes -------------------------------------------------------------------


def _full_clean(obj: Any) -> None:
    obj.full_clean(exclude=["owner"] if isinstance(obj, Mailbox) else None)


@transaction.atomic
def server_profile_create(
    *,
    name: str,
    ews_url: str = "",
    kind: str = ServerKind.EXCHANGE,
    auth_type: str = AuthType.BASIC,
    use_impersonation: bool = True,
    service_username: str = "",
    service_password: str = "",
    timezone_name: str = "UTC",
    max_wait: int = 60,
    verify_tls: bool = True,
    ca_certificates: str = "",
    client_secret: str = "",
    certificate_key: str = "",
    **graph: Any,
) -> EmailServerProfile:
    """A new profile. Exchange Online (Graph): `tenant_id`, `client_id`, `client_secret` or
    `certificate_key` + `certificate_thumbprint`, optionally `graph_url`, `token_url`,
    `past_days`, `future_days`; it signs in as the app (no service account)."""
    unknown = set(graph) - _PROFILE_FIELDS
    if unknown:
        raise TypeError(f"Unknown profile fields: {', '.join(sorted(unknown))}")
    profile = EmailServerProfile(
        name=name,
        kind=kind,
        ews_url=ews_url,
        auth_type=auth_type,
        use_impersonation=use_impersonation,
        service_username=service_username,
        timezone=timezone_name,
        max_wait=max_wait,
        verify_tls=verify_tls,
        ca_certificates=ca_certificates.strip(),
        **graph,
    )
    _app_only(profile)
    if profile.use_impersonation and not service_password:
        raise ValidationError({"service_password": "Impersonation needs the service password."})
    profile.service_password_encrypted = credentials.encrypt(service_password)
    _set_secrets(profile, client_secret=client_secret, certificate_key=certificate_key)
    _full_clean(profile)
    profile.save()
    return profile


def _app_only(profile: EmailServerProfile) -> None:
    """A Graph profile signs in as the app: no service account, no per-mailbox password."""
    if profile.is_app_only:
        profile.use_impersonation = False
        profile.service_username = ""
    if profile.is_graph:
        profile.auth_type = AuthType.BASIC
    if profile.tenant_id:
        profile.tenant_id = profile.tenant_id.strip()
    if profile.client_id:
        profile.client_id = profile.client_id.strip()
    if profile.certificate_thumbprint:
        profile.certificate_thumbprint = profile.certificate_thumbprint.replace(":", "").strip()


def _set_secrets(profile: EmailServerProfile, **secrets: str | None) -> bool:
    """Encrypts the given app secrets (None or "" keeps the stored one); True if one changed."""
    changed = False
    if secrets.get("client_secret"):
        profile.client_secret_encrypted = credentials.encrypt(str(secrets["client_secret"]))
        changed = True
    key = secrets.get("certificate_key")
    if key:
        _check_private_key(str(key))
        profile.certificate_key_encrypted = credentials.encrypt(str(key))
        changed = True
    return changed


def _check_private_key(pem: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(pem.strip().encode(), password=None)
    except (ValueError, TypeError):
        raise ValidationError(
            {
                "certificate_key": "The certificate's private key must be an unencrypted PEM "
                "key (-----BEGIN PRIVATE KEY----- ...)."
            }
        ) from None


@transaction.atomic
def server_profile_update(
    *,
    profile: EmailServerProfile,
    service_password: str | None = None,
    client_secret: str | None = None,
    certificate_key: str | None = None,
    **changes: Any,
) -> EmailServerProfile:
    """Change a profile; a secret (`service_password`, `client_secret`, `certificate_key`) None
    or "" keeps the stored one."""
    unknown = set(changes) - _PROFILE_FIELDS
    if unknown:
        raise TypeError(f"Unknown profile fields: {', '.join(sorted(unknown))}")
    if "ca_certificates" in changes:
        changes["ca_certificates"] = (changes["ca_certificates"] or "").strip()
    fixed = any(
        getattr(profile, k) != v for k, v in changes.items() if k in _PROFILE_CONNECTION_FIELDS
    )
    for key, value in changes.items():
        setattr(profile, key, value)
    _app_only(profile)
    if service_password:
        profile.service_password_encrypted = credentials.encrypt(service_password)
        fixed = True
    if _set_secrets(profile, client_secret=client_secret, certificate_key=certificate_key):
        fixed = True
    if profile.use_impersonation and not profile.service_password_encrypted:
        raise ValidationError({"service_password": "Impersonation needs the service password."})
    _full_clean(profile)
    profile.save()
    if fixed:
        _clear_back_off(Mailbox.objects.filter(server_profile=profile))
    return profile


@transaction.atomic
def mailbox_create(
    *,
    owner: Any,
    email_address: str,
    server_profile: EmailServerProfile,
    username: str = "",
    password: str = "",
    sync_contacts: bool = True,
    sync_appointments: bool = True,
    sync_tasks: bool = True,
    enabled: bool = True,
    contacts_collection: str = "",
    events_collection: str = "",
    tasks_collection: str = "",
) -> Mailbox:
    """Add a user's mailbox. On a CalDAV/CardDAV server, the collections are absolute URLs
    (Discover collections offers them); blank ones are contacts/, calendar/ and tasks/ under
    the profile's URL."""
    mailbox = Mailbox(
        owner=owner,
        email_address=email_address.strip().lower(),
        server_profile=server_profile,
        username=username,
        password_encrypted=credentials.encrypt(password),
        sync_contacts=sync_contacts,
        sync_appointments=sync_appointments,
        sync_tasks=sync_tasks,
        enabled=enabled,
        contacts_collection=contacts_collection.strip(),
        events_collection=events_collection.strip(),
        tasks_collection=tasks_collection.strip(),
    )
    _check_credentials(mailbox)
    _full_clean(mailbox)
    if Mailbox.objects.filter(owner=owner).exists():
        raise ValidationError({"owner": f"{owner} already has a mailbox."})
    mailbox.save()
    return mailbox


@transaction.atomic
def mailbox_update(*, mailbox: Mailbox, password: str | None = None, **changes: Any) -> Mailbox:
    """Change a mailbox; `password` None or "" keeps the stored one. A changed connection
    setting or password ends the back-off of a failing mailbox: it is tried at the next tick."""
    unknown = set(changes) - _MAILBOX_FIELDS
    if unknown:
        raise TypeError(f"Unknown mailbox fields: {', '.join(sorted(unknown))}")
    if "email_address" in changes:
        changes["email_address"] = changes["email_address"].strip().lower()
    for name in COLLECTION_FIELDS:
        if name in changes:
            changes[name] = (changes[name] or "").strip()
    fixed = any(
        getattr(mailbox, k) != v for k, v in changes.items() if k in _MAILBOX_CONNECTION_FIELDS
    )
    moved = "server_profile" in changes and _server_of(changes["server_profile"]) != _server_of(
        mailbox.server_profile
    )
    for key, value in changes.items():
        setattr(mailbox, key, value)
    if password:
        mailbox.password_encrypted = credentials.encrypt(password)
        fixed = True
    _check_credentials(mailbox)
    _full_clean(mailbox)
    mailbox.save()
    if moved:
        _forget_item_ids(mailbox)
    if fixed or changes.get("enabled"):
        _clear_back_off(Mailbox.objects.filter(pk=mailbox.pk))
        mailbox.refresh_from_db()
    return mailbox


def _server_of(profile: EmailServerProfile) -> tuple[str, ...]:
    """Which store of items a profile reaches: its item ids and sync states are that store's."""
    if profile.is_graph:
        return (profile.kind, profile.graph_url.rstrip("/"), profile.tenant_id.lower())
    return (profile.kind, profile.ews_url)


def _forget_item_ids(mailbox: Mailbox) -> None:
    """A mailbox moved to another server (EWS to Graph, say): the item ids and sync states of
    the old one mean nothing there. The next run lists the folders again and finds each linked
    item by the CRM id it carries (the same named property on EWS and Graph), so nothing is
    duplicated and no link is lost."""
    from fieldsync.models.sync import MailboxSyncState, SyncLink, UnconfirmedItems

    owner = mailbox.owner_id
    MailboxSyncState.objects.filter(owner=owner).update(remote_sync_state="")
    SyncLink.objects.filter(owner=owner).update(item_id="", change_key="")
    UnconfirmedItems.objects.filter(owner=owner).delete()


def _check_credentials(mailbox: Mailbox) -> None:
    if mailbox.server_profile.is_app_only:
        return
    if not mailbox.server_profile.use_impersonation and not (
        mailbox.username and mailbox.password_encrypted
    ):
        raise ValidationError(
            {
                "password": f"The server profile {mailbox.server_profile} does not impersonate: "
                "this mailbox needs its own user name and password."
            }
        )


def _clear_back_off(mailboxes: QuerySet[Mailbox]) -> None:
    mailboxes.filter(status=MailboxStatus.FAILING).update(next_attempt_at=None, failure_count=0)


# ---- sync requests ----------------------------------------------------------------------------


def mailbox_sync_request(*, mailbox: Mailbox, trigger: str = RunTrigger.MANUAL) -> None:
    """Queue one sync of this mailbox now (Sync now, the API), whatever its back-off.

    Queued after the transaction commits, so the worker never misses what the caller wrote.
    """
    from fieldsync.mailboxes.tasks import sync_mailbox_task

    Mailbox.objects.filter(pk=mailbox.pk).exclude(status=MailboxStatus.SYNCING).update(
        status=MailboxStatus.QUEUED
    )
    Mailbox.objects.filter(pk=mailbox.pk).update(queued_at=timezone.now())
    mailbox_id = mailbox.pk
    transaction.on_commit(
        lambda: sync_mailbox_task.delay(mailbox_id, trigger=str(trigger)), robust=False
    )


# ---- the mass-change guard ------------------------------------------------------------------


def mailbox_guard_stops(*, mailbox: Mailbox) -> list[Any]:
    """The entities of this mailbox whose last run the mass-change guard stopped, unconfirmed."""
    from fieldsync.models.sync import MailboxSyncState

    return list(
        MailboxSyncState.objects.filter(owner=mailbox.owner_id, guard_confirmed=False)
        .exclude(guard_reason="")
        .order_by("entity")
    )


def mailbox_guard_confirm(*, mailbox: Mailbox, entity: str, actor: Any) -> None:
    """An administrator's go-ahead for a run the mass-change guard stopped: the next run of
    that entity applies its plan, and one is queued now."""
    from django.core.exceptions import PermissionDenied

    from fieldsync.service.sync import confirm_mass_change

    if not can_manage_mailboxes(actor):
        raise PermissionDenied("Only an administrator may confirm a mass change.")
    if entity not in {s.entity for s in mailbox_guard_stops(mailbox=mailbox)}:
        raise ValidationError(
            {"entity": f"The mass-change guard has not stopped {mailbox}'s {entity} sync."}
        )
    confirm_mass_change(owner=mailbox.owner, entity=entity)
    mailbox_sync_request(mailbox=mailbox, trigger=RunTrigger.MANUAL)
