"""Connecting to a mailbox: the connector for it (Exchange by EWS or by Microsoft Graph, or
CalDAV/CardDAV, by its server profile: for DAV the mailbox's collections, the profile's TLS
setting, the mailbox's address as ORGANIZER), "Test connection" (on DAV checking every collection
the mailbox uses; on Graph the token, contacts, calendar and To Do), discovery of the collections
a DAV server has, the server's errors in words, and the fields a kind of server cannot hold.
Used by the pages, the API, the preview, the command and the worker's runs alike.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.views.decorators.debug import sensitive_variables

from connectors.base import AuthError, Connector, ConnectorError, ThrottledError, TransientError
from connectors.dav import UNSUPPORTED, DavConnector
from connectors.exchange import ExchangeConnector
from connectors.graph import UNSUPPORTED as GRAPH_UNSUPPORTED
from connectors.graph import GraphConnector
from fieldsync.catalog import get_catalog
from fieldsync.mailboxes import credentials
from fieldsync.models.mailboxes import EmailServerProfile, Mailbox, ServerKind
from fieldsync.service.values import FOLDERS

logger = logging.getLogger(__name__)


@sensitive_variables("password", "username")
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
        return DavConnector(
            url=dav_url(mailbox),
            username=username,
            password=password,
            # Blank: the fixed names under the URL, as before collections could be chosen.
            addressbook=mailbox.contacts_collection or "contacts/",
            calendar=mailbox.events_collection or "calendar/",
            tasks=mailbox.tasks_collection or "tasks/",
            timezone=profile.timezone,
            max_wait=float(profile.max_wait if max_wait is None else max_wait),
            verify=tls_verify(profile),
            # The calendar owner: ORGANIZER of an event with attendees that names none.
            organizer=mailbox.email_address,
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


def dav_url(mailbox: Mailbox) -> str:
    """The profile's CalDAV/CardDAV URL for this mailbox ({user}: its sign-in name, else its
    address)."""
    user = mailbox.username or mailbox.email_address
    return mailbox.server_profile.ews_url.replace("{user}", user)


def tls_verify(profile: EmailServerProfile) -> bool | str:
    """The connector's `verify`: False when the profile turns verification off, the path of a
    file holding the profile's CA certificates when it has some, else True (the system CAs).

    requests wants a path: the PEM text is written once per content to a private folder of the
    temporary directory, named by its hash, so every worker process makes its own copy."""
    if not profile.verify_tls:
        return False
    pem = profile.ca_certificates.strip()
    if not pem:
        return True
    folder = Path(tempfile.gettempdir()) / f"syncadmin-ca-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    path = folder / f"{hashlib.sha256(pem.encode()).hexdigest()[:32]}.pem"
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(pem + "\n", encoding="ascii")
        partial.replace(path)
    return str(path)


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


def describe_error(
    exc: BaseException, mailbox: Mailbox | None = None, connector: Any = None
) -> tuple[str, str]:
    """(code, a sentence an administrator can act on) for an error of a sync or a test. Given
    the DAV connector that met a missing collection, it checks the mailbox's collections and
    says which one is missing or wrong."""
    address = mailbox.email_address if mailbox else "the mailbox"
    profile = mailbox.server_profile if mailbox else None
    url = profile.ews_url if profile else "the server"
    if isinstance(exc, credentials.CredentialsUnreadable):
        return "CredentialsUnreadable", str(exc)
    if not isinstance(exc, ConnectorError):
        # Its text may hold record values (a database or validation error quotes them): the
        # run's history, which managers read too, keeps the kind only; the log has the rest.
        return type(exc).__name__, (
            f"Unexpected error ({type(exc).__name__}); the details are in the worker's log."
        )
    code = exc.code
    if (
        profile is not None
        and profile.kind == ServerKind.CALDAV
        and not isinstance(exc, ThrottledError | TransientError)
    ):
        if code == "ErrorFolderNotFound" and isinstance(connector, DavConnector) and mailbox:
            words = _collection_words(mailbox, connector)
            if words:
                return code, words
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
    if exc.code == "ErrorCertificate":
        against = (
            "the profile's CA certificates"
            if profile.ca_certificates.strip()
            else "the system's trusted CAs"
        )
        return (
            f"The TLS certificate of {url} could not be verified against {against}: paste the "
            "certificate of the authority that signed it (or the server's own self-signed one) "
            "into the profile's CA certificates, or fix the server's certificate chain. This "
            "is a setting to fix, not retried. Details: " + str(exc).rpartition("Details: ")[2]
        )
    return f"The CalDAV/CardDAV server answered {exc.code}: {exc}"


_FOLDERS = FOLDERS  # entity -> the folder its items live in (all eight entities)


def used_folders(mailbox: Mailbox) -> list[str]:
    """The connector folders of the entities the worker syncs for this mailbox (contacts when
    it syncs none, so a test still proves the sign-in)."""
    return list(dict.fromkeys(_FOLDERS[e] for e in mailbox.entities)) or ["contacts"]


def _collection_words(mailbox: Mailbox, connector: DavConnector) -> str:
    """What is missing or wrong with the collections the mailbox uses, in sentences; '' when
    all are fine (or checking them fails too)."""
    try:
        problems = connector.check_collections(used_folders(mailbox))
    except ConnectorError:
        return ""
    return _problem_words(problems)


def _problem_words(problems: list[Any]) -> str:
    if not problems:
        return ""
    return (
        ". ".join(p.message for p in problems)
        + ". Choose the collections on the mailbox (Discover collections), or create them."
    )


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
    """Sign in and open the mailbox; on a CalDAV/CardDAV server, check every collection the
    mailbox uses (there, an address book or a calendar, taking events or tasks); on Graph, get a
    token and open the contacts folder, the calendar and the default To Do list. Says in words
    what went wrong."""
    profile = mailbox.server_profile
    checked: list[str] = []
    try:
        connector = connector_for(mailbox, max_wait=min(5, profile.max_wait))
        try:
            if isinstance(connector, DavConnector):
                return _dav_check(mailbox, connector)
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
    except Exception as exc:
        # Any other failure (a setting the connector cannot use, a library's error) is words
        # on the page too, never a server error; the details go to the log.
        logger.exception("Test connection of %s failed", mailbox)
        return ConnectionCheck(
            False,
            type(exc).__name__,
            f"Could not connect with the server profile {mailbox.server_profile}: "
            f"{type(exc).__name__}. Check its settings (server URL, time zone, authentication).",
        )
    if isinstance(connector, GraphConnector):
        return ConnectionCheck(
            True,
            "",
            f"Connected to Microsoft Graph as the app and opened {mailbox}: "
            + ", ".join(checked)
            + ".",
        )
    return ConnectionCheck(True, "", f"Connected to {profile.ews_url} and opened {mailbox}.")


_FOLDER_WORDS = {"contacts": "contacts", "calendar": "events", "tasks": "tasks"}


def _dav_check(mailbox: Mailbox, connector: DavConnector) -> ConnectionCheck:
    folders = used_folders(mailbox)
    problems = connector.check_collections(folders)
    if problems:
        return ConnectionCheck(False, "ErrorFolderNotFound", _problem_words(problems))
    found = ", ".join(f"{_FOLDER_WORDS[f]} {connector.collections[f].url}" for f in folders)
    return ConnectionCheck(
        True, "", f"Connected to {dav_url(mailbox)} as {mailbox}; collections checked: {found}."
    )


# ---- discovery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FoundCollection:
    url: str
    name: str  # the display name ('' when the server gives none)
    kind: str  # addressbook | calendar
    components: tuple[str, ...]  # a calendar's components; () = not said (all)

    @property
    def label(self) -> str:
        """How a person picks it: the display name, what it holds, where it is."""
        if self.kind == "addressbook":
            holds = "address book"
        else:
            words = [_COMPONENTS.get(c, c) for c in self.components] or ["events", "tasks"]
            holds = "calendar for " + " and ".join(words)
        return f"{self.name or self.url.rstrip('/').rpartition('/')[2]} ({holds}) {self.url}"

    def takes(self, component: str) -> bool:
        if self.kind == "addressbook":
            return component == "VCARD"
        return not self.components or component in self.components


_COMPONENTS = {"VEVENT": "events", "VTODO": "tasks", "VJOURNAL": "journal entries"}


@dataclass(frozen=True)
class DiscoveredCollections:
    ok: bool
    code: str = ""
    message: str = ""
    collections: tuple[FoundCollection, ...] = ()
    # contacts_collection / events_collection / tasks_collection -> the URL discovery proposes
    proposed: dict[str, str] = field(default_factory=dict)

    def offered(self, name: str) -> list[FoundCollection]:
        """The collections fit for one of the mailbox's collection fields."""
        component = {
            "contacts_collection": "VCARD",
            "events_collection": "VEVENT",
            "tasks_collection": "VTODO",
        }[name]
        return [c for c in self.collections if c.takes(component)]


def mailbox_discover_collections(*, mailbox: Mailbox) -> DiscoveredCollections:
    """The address books and calendars the mailbox's CalDAV/CardDAV server has for it (RFC 6764
    discovery from the profile's URL, with the mailbox's sign-in), and the ones it proposes."""
    if not mailbox.server_profile.is_dav:
        return DiscoveredCollections(
            False,
            "NotDav",
            f"{mailbox} is on an Exchange server: only a CalDAV/CardDAV server has collections "
            "to discover.",
        )
    try:
        connector = connector_for(mailbox, max_wait=min(5, mailbox.server_profile.max_wait))
        try:
            found = connector.discover()  # type: ignore[attr-defined]
        finally:
            connector.close()
    except (ConnectorError, credentials.CredentialsUnreadable) as exc:
        code, message = describe_error(exc, mailbox)
        return DiscoveredCollections(False, code, message)
    collections = tuple(
        FoundCollection(c.url, c.name, c.kind, tuple(c.components)) for c in found.collections
    )
    proposed = {
        "contacts_collection": found.choice["contacts"],
        "events_collection": found.choice["calendar"],
        "tasks_collection": found.choice["tasks"],
    }
    books = sum(c.kind == "addressbook" for c in collections)
    message = (
        f"{dav_url(mailbox)} has {books} address book{'s' if books != 1 else ''} and "
        f"{len(collections) - books} calendar{'s' if len(collections) - books != 1 else ''} "
        f"for {mailbox}."
    )
    return DiscoveredCollections(True, "", message, collections, proposed)
