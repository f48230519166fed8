"""Connecting to a mailbox: the connector for it (Exchange by EWS or by Microsoft Graph, or
CalDAV/CardDAV, by its server profile), "Test connection" with the server's error in words, and
the fields a kind of server cannot hold. Used by the pages, the preview and the worker's runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.base import AuthError, Connector, ConnectorError, ThrottledError, TransientError
from connectors.dav import UNSUPPORTED, DavConnector
from connectors.exchange import ExchangeConnector
from connectors.graph import UNSUPPORTED as GRAPH_UNSUPPORTED
from connectors.graph import GraphConnector
from fieldsync.catalog import get_catalog
from fieldsync.mailboxes import credentials
from fieldsync.models.mailboxes import EmailServerProfile, Mailbox, ServerKind


def connector_for(mailbox: Mailbox, *, max_wait: float | None = None) -> Connector:
    """The connector for this mailbox (Exchange by EWS or Graph, or CalDAV/CardDAV, by its
    server profile), with its credentials decrypted in memory only."""
    profile = mailbox.server_profile
    if profile.kind == ServerKind.GRAPH:
        return graph_connector_for(mailbox, max_wait=max_wait)
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
    if profile.is_app_only:  # EWS with OAuth 2.0: the app impersonates the mailbox
        return ExchangeConnector(
            ews_url=profile.ews_url,
            username="",
            password="",
            primary_smtp_address=mailbox.email_address,
            auth_type="oauth2",
            tenant_id=profile.tenant_id,
            client_id=profile.client_id,
            client_secret=credentials.decrypt(profile.client_secret_encrypted),
            timezone=profile.timezone,
            max_wait=float(profile.max_wait if max_wait is None else max_wait),
            **({"login_url": profile.token_url.rstrip("/")} if profile.token_url else {}),
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


def graph_connector_for(mailbox: Mailbox, *, max_wait: float | None = None) -> GraphConnector:
    """Exchange Online through Microsoft Graph: the app's token, the mailbox by its address."""
    profile = mailbox.server_profile
    optional = {}
    if profile.graph_url:
        optional["graph_url"] = profile.graph_url.rstrip("/")
    if profile.token_url:
        optional["login_url"] = profile.token_url.rstrip("/")
    return GraphConnector(
        tenant_id=profile.tenant_id,
        client_id=profile.client_id,
        mailbox=mailbox.email_address,
        client_secret=credentials.decrypt(profile.client_secret_encrypted) or None,
        certificate_key=credentials.decrypt(profile.certificate_key_encrypted) or None,
        certificate_thumbprint=profile.certificate_thumbprint or None,
        timezone=profile.timezone,
        past_days=profile.past_days,
        future_days=profile.future_days,
        max_wait=float(profile.max_wait if max_wait is None else max_wait),
        **optional,
    )


# Per kind of server: the columns it cannot hold (entity -> column -> why), and why in general.
_NOT_HELD = {
    ServerKind.CALDAV: (
        UNSUPPORTED,
        "A CalDAV/CardDAV server keeps contacts as vCards and appointments and tasks as "
        "iCalendar, which have no place for these fields",
    ),
    ServerKind.GRAPH: (
        GRAPH_UNSUPPORTED,
        "Exchange Online keeps tasks in Microsoft To Do, which has no place for these fields",
    ),
}


def not_held_reason(kind: str) -> str:
    """Why a server of this kind cannot hold some fields, in a sentence ("" if it holds all)."""
    return _NOT_HELD[kind][1] if kind in _NOT_HELD else ""  # type: ignore[index]


@dataclass(frozen=True)
class FieldNotHeld:
    entity: str  # the catalog entity's label
    field: str  # the CRM field's label
    reason: str


def fields_not_held(*, kind: str, entity: str | None = None) -> list[FieldNotHeld]:
    """The catalog fields a mailbox on a server of this kind cannot sync, and why: their columns
    have no place in vCard/iCalendar (connectors.dav.UNSUPPORTED) or in Microsoft To Do
    (connectors.graph.UNSUPPORTED). The sync leaves them alone."""
    if kind not in _NOT_HELD:
        return []
    unsupported = _NOT_HELD[kind][0]  # type: ignore[index]
    out = []
    for entity_ in get_catalog().entities:
        if entity is not None and entity_.key != entity:
            continue
        reasons = unsupported.get(entity_.key, {})
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
    if profile is not None and profile.kind == ServerKind.GRAPH:
        return code, _graph_error(exc, address)
    if isinstance(exc, AuthError) and profile is not None and profile.is_app_only:
        return code, (
            f"The app {profile.client_id} (OAuth 2.0) could not open {address} on {url}: {exc}"
        )
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


def _graph_error(exc: ConnectorError, address: str) -> str:
    """The Graph connector already words its errors (AADSTS codes, missing permissions...)."""
    if isinstance(exc, ThrottledError):
        wait = f" for {exc.wait:.0f} s" if exc.wait else ""
        return f"Microsoft Graph is throttling requests for {address} and asked to wait{wait}."
    if isinstance(exc, AuthError):
        return f"Microsoft Graph refused the app for {address}: {exc}"
    return f"Microsoft Graph: {exc}"


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    code: str
    message: str


def mailbox_test_connection(*, mailbox: Mailbox) -> ConnectionCheck:
    """Sign in and open the mailbox's contacts folder (on Graph: get a token and open the
    contacts folder, the calendar and the default To Do list); say in words what went wrong."""
    profile = mailbox.server_profile
    try:
        connector = connector_for(mailbox, max_wait=min(5, profile.max_wait))
        try:
            if isinstance(connector, GraphConnector):
                checked = connector.test_connection()
            else:
                # GetFolder then a FindItem that matches nothing: cheap, and proves read access.
                connector.find_by_crm_ids("contacts", ["00000000-connection-test"])
        finally:
            connector.close()
    except (ConnectorError, credentials.CredentialsUnreadable) as exc:
        code, message = describe_error(exc, mailbox)
        return ConnectionCheck(False, code, message)
    if isinstance(connector, GraphConnector):
        return ConnectionCheck(
            True,
            "",
            f"Connected to Microsoft Graph as the app and opened {mailbox}: "
            + ", ".join(checked)
            + ".",
        )
    return ConnectionCheck(True, "", f"Connected to {profile.ews_url} and opened {mailbox}.")
