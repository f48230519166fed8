"""Mailbox services: server profiles and mailboxes with encrypted credentials, the connector for
a mailbox, "Test connection" with the EWS error in words, and sync requests (Sync now, API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from connectors.base import AuthError, Connector, ConnectorError, ThrottledError, TransientError
from connectors.dav import UNSUPPORTED, DavConnector
from connectors.exchange import ExchangeConnector
from fieldsync.catalog import get_catalog
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
}
_MAILBOX_CONNECTION_FIELDS = {"email_address", "server_profile", "username"}
_MAILBOX_FIELDS = {
    "email_address",
    "server_profile",
    "username",
    "sync_contacts",
    "sync_appointments",
    "sync_tasks",
    "enabled",
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
    ews_url: str,
    kind: str = ServerKind.EXCHANGE,
    auth_type: str = AuthType.BASIC,
    use_impersonation: bool = True,
    service_username: str = "",
    service_password: str = "",
    timezone_name: str = "UTC",
    max_wait: int = 60,
) -> EmailServerProfile:
    profile = EmailServerProfile(
        name=name,
        kind=kind,
        ews_url=ews_url,
        auth_type=auth_type,
        use_impersonation=use_impersonation,
        service_username=service_username,
        timezone=timezone_name,
        max_wait=max_wait,
    )
    if use_impersonation and not service_password:
        raise ValidationError({"service_password": "Impersonation needs the service password."})
    profile.service_password_encrypted = credentials.encrypt(service_password)
    _full_clean(profile)
    profile.save()
    return profile


@transaction.atomic
def server_profile_update(
    *, profile: EmailServerProfile, service_password: str | None = None, **changes: Any
) -> EmailServerProfile:
    """Change a profile; `service_password` None or "" keeps the stored one."""
    unknown = set(changes) - _PROFILE_FIELDS
    if unknown:
        raise TypeError(f"Unknown profile fields: {', '.join(sorted(unknown))}")
    fixed = any(
        getattr(profile, k) != v for k, v in changes.items() if k in _PROFILE_CONNECTION_FIELDS
    )
    for key, value in changes.items():
        setattr(profile, key, value)
    if service_password:
        profile.service_password_encrypted = credentials.encrypt(service_password)
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
) -> Mailbox:
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
    fixed = any(
        getattr(mailbox, k) != v for k, v in changes.items() if k in _MAILBOX_CONNECTION_FIELDS
    )
    for key, value in changes.items():
        setattr(mailbox, key, value)
    if password:
        mailbox.password_encrypted = credentials.encrypt(password)
        fixed = True
    _check_credentials(mailbox)
    _full_clean(mailbox)
    mailbox.save()
    if fixed or changes.get("enabled"):
        _clear_back_off(Mailbox.objects.filter(pk=mailbox.pk))
        mailbox.refresh_from_db()
    return mailbox


def _check_credentials(mailbox: Mailbox) -> None:
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


# ---- connecting -------------------------------------------------------------------------------


def connector_for(mailbox: Mailbox, *, max_wait: float | None = None) -> Connector:
    """The connector for this mailbox (Exchange or CalDAV/CardDAV, by its server profile), with
    its credentials decrypted in memory only."""
    profile = mailbox.server_profile
    if profile.use_impersonation:
        username = profile.service_username
        password = credentials.decrypt(profile.service_password_encrypted)
        access = "impersonation"
    else:
        username = mailbox.username
        password = credentials.decrypt(mailbox.password_encrypted)
        access = "delegate"
    if profile.kind == ServerKind.CALDAV:
        # A DAV server has no impersonation: a service account reaches each user's
        # collections through {user} (the mailbox's own sign-in name, else its address).
        user = mailbox.username or mailbox.email_address
        return DavConnector(
            url=profile.ews_url.replace("{user}", user),
            username=username,
            password=password,
            timezone=profile.timezone,
            max_wait=float(profile.max_wait if max_wait is None else max_wait),
        )
    return ExchangeConnector(
        ews_url=profile.ews_url,
        username=username,
        password=password,
        primary_smtp_address=mailbox.email_address,
        auth_type=profile.auth_type,
        access_type=access,
        timezone=profile.timezone,
        max_wait=float(profile.max_wait if max_wait is None else max_wait),
    )


@dataclass(frozen=True)
class FieldNotHeld:
    entity: str  # the catalog entity's label
    field: str  # the CRM field's label
    reason: str


def fields_not_held(*, kind: str, entity: str | None = None) -> list[FieldNotHeld]:
    """The catalog fields a mailbox on a server of this kind cannot sync, and why: their columns
    have no place in vCard/iCalendar (connectors.dav.UNSUPPORTED). The sync leaves them alone."""
    if kind != ServerKind.CALDAV:
        return []
    out = []
    for entity_ in get_catalog().entities:
        if entity is not None and entity_.key != entity:
            continue
        reasons = UNSUPPORTED.get(entity_.key, {})
        for f in entity_.fields:
            why = [reasons[c] for c in f.crm_columns if c in reasons]
            if why:
                out.append(FieldNotHeld(entity_.label, f.crm_label, why[0]))
    return out


def describe_error(exc: BaseException, mailbox: Mailbox | None = None) -> tuple[str, str]:
    """(code, a sentence an administrator can act on) for an error of a sync or a test."""
    address = mailbox.email_address if mailbox else "the mailbox"
    profile = mailbox.server_profile if mailbox else None
    url = profile.ews_url if profile else "the server"
    if isinstance(exc, credentials.CredentialsUnreadable):
        return "CredentialsUnreadable", str(exc)
    if not isinstance(exc, ConnectorError):
        return type(exc).__name__, f"Unexpected error: {exc}"
    code = exc.code
    if (
        profile is not None
        and profile.kind == ServerKind.CALDAV
        and not isinstance(exc, ThrottledError | TransientError)
    ):
        return code, _dav_error(exc, mailbox, profile)
    if isinstance(exc, AuthError):
        if code == "ErrorImpersonateUserDenied":
            who = profile.service_username if profile else "The service account"
            return code, (
                f"{who} may not impersonate {address}: give it the ApplicationImpersonation "
                "role in Exchange, or use per-mailbox credentials."
            )
        if code == "ErrorAccessDenied":
            return code, f"Exchange denied access to {address}: {exc}"
        return code, (
            f"{url} refused the user name or password (HTTP 401). Check the "
            f"{'service account' if profile and profile.use_impersonation else 'mailbox'} "
            "credentials."
        )
    if isinstance(exc, ThrottledError):
        wait = f" for {exc.wait:.0f} s" if exc.wait else ""
        return code, f"Exchange is throttling requests (server busy) and asked to wait{wait}."
    if isinstance(exc, TransientError):
        return code, f"Could not complete the request to {url} ({code}): {exc}"
    if code == "ErrorNonExistentMailbox":
        return code, f"Exchange has no mailbox {address}: check the e-mail address."
    return code, f"Exchange answered {code}: {exc}"


def _dav_error(exc: ConnectorError, mailbox: Mailbox | None, profile: EmailServerProfile) -> str:
    user = (mailbox.username or mailbox.email_address) if mailbox else "{user}"
    url = profile.ews_url.replace("{user}", user)
    if exc.code == "ErrorUnauthorized":
        return f"{url} refused the user name or password (HTTP 401). Check the credentials."
    if exc.code == "ErrorAccessDenied":
        return f"The CalDAV/CardDAV server denied {user} access to {url} (HTTP 403): {exc}"
    if exc.code == "ErrorFolderNotFound":
        return (
            f"The CalDAV/CardDAV server has no contacts/, calendar/ or tasks/ collection at "
            f"{url}: create them for {user}, or check the profile's Server URL."
        )
    return f"The CalDAV/CardDAV server answered {exc.code}: {exc}"


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    code: str
    message: str


def mailbox_test_connection(*, mailbox: Mailbox) -> ConnectionCheck:
    """Sign in and open the mailbox's contacts folder; say in words what went wrong."""
    try:
        connector = connector_for(mailbox, max_wait=min(5, mailbox.server_profile.max_wait))
        try:
            # GetFolder then a FindItem that matches nothing: cheap, and proves read access.
            connector.find_by_crm_ids("contacts", ["00000000-connection-test"])
        finally:
            connector.close()
    except (ConnectorError, credentials.CredentialsUnreadable) as exc:
        code, message = describe_error(exc, mailbox)
        return ConnectionCheck(False, code, message)
    return ConnectionCheck(
        True, "", f"Connected to {mailbox.server_profile.ews_url} and opened {mailbox}."
    )


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


# ---- the demo ---------------------------------------------------------------------------------


def demo_mailboxes_seed(*, users: dict[str, Any]) -> list[Mailbox]:
    """The demo EWS server's and demo Radicale's profiles and the demo salespeople's mailboxes
    (idempotent), one kind of each, so `make run` shows them syncing. `users` maps username ->
    User."""
    from fieldsync.management.commands.run_demo import (
        DEMO_DAV_MAILBOXES,
        DEMO_DAV_PORT,
        DEMO_EWS_PORT,
        DEMO_MAILBOXES,
        DEMO_SERVICE_ACCOUNT,
    )

    profile = EmailServerProfile.objects.filter(name="Demo EWS server").first()
    if profile is None:
        profile = server_profile_create(
            name="Demo EWS server",
            ews_url=f"http://127.0.0.1:{DEMO_EWS_PORT}/EWS/Exchange.asmx",
            service_username=DEMO_SERVICE_ACCOUNT[0],
            service_password=DEMO_SERVICE_ACCOUNT[1],
            max_wait=10,
        )
    mailboxes = []
    for address in DEMO_MAILBOXES:
        owner = users.get(address.split("@")[0])
        if owner is None:
            continue
        mailbox = Mailbox.objects.filter(owner=owner).first()
        if mailbox is None:
            mailbox = mailbox_create(owner=owner, email_address=address, server_profile=profile)
        mailboxes.append(mailbox)
    dav = EmailServerProfile.objects.filter(name="Demo CalDAV/CardDAV server").first()
    if dav is None:
        dav = server_profile_create(
            name="Demo CalDAV/CardDAV server",
            kind=ServerKind.CALDAV,
            ews_url=f"http://127.0.0.1:{DEMO_DAV_PORT}/{{user}}/",
            use_impersonation=False,
            max_wait=10,
        )
    for address, (username, password) in DEMO_DAV_MAILBOXES.items():
        owner = users.get(address.split("@")[0])
        if owner is None:
            continue
        mailbox = Mailbox.objects.filter(owner=owner).first()
        if mailbox is None:
            mailbox = mailbox_create(
                owner=owner,
                email_address=address,
                server_profile=dav,
                username=username,
                password=password,
            )
        elif mailbox.server_profile == profile:  # seeded before the demo had a DAV server
            mailbox = mailbox_update(
                mailbox=mailbox, server_profile=dav, username=username, password=password
            )
        mailboxes.append(mailbox)
    return mailboxes


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
