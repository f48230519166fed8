"""The demo's mailboxes: the demo EWS server's, the demo Radicale's and the demo Graph server's
server profiles and the demo salespeople's mailboxes (`make run`, `manage.py seed_demo`).
"""

from __future__ import annotations

from typing import Any

from fieldsync.mailboxes.services import mailbox_create, mailbox_update, server_profile_create
from fieldsync.models.mailboxes import EmailServerProfile, Mailbox, ServerKind

# The demo's Exchange: the EWS test server with one mailbox per demo salesperson and a
# service account that impersonates them (as server-side sync does).
DEMO_EWS_PORT = 8765
DEMO_MAILBOXES = ("sally@contoso.test", "sam@contoso.test")
DEMO_SERVICE_ACCOUNT = ("syncsvc@contoso.test", "demo")
# The demo's CalDAV/CardDAV server: Radicale with one user, whose mailbox syncs through the
# DAV connector (address -> sign-in name, password).
DEMO_DAV_PORT = 5232
DEMO_DAV_MAILBOXES = {"mona@contoso.test": ("mona", "demo")}
# The demo's Exchange Online: the Graph test server with one app registration (tenant, client
# id, secret) and one mailbox, synced through the Graph connector.
DEMO_GRAPH_PORT = 8766
DEMO_GRAPH_APP = ("contoso.onmicrosoft.com", "5f1c3a0e-2d4b-4f7a-9c11-8e2b6a7d0c01", "demo")
DEMO_GRAPH_MAILBOXES = ("otto@contoso.test",)


def demo_mailboxes_seed(*, users: dict[str, Any]) -> list[Mailbox]:
    """The demo EWS server's, demo Radicale's and demo Graph server's profiles and the demo
    salespeople's mailboxes (idempotent), one kind of each, so `make run` shows them syncing.
    `users` maps username -> User."""
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
    return mailboxes + _graph_mailboxes_seed(users)


def _graph_mailboxes_seed(users: dict[str, Any]) -> list[Mailbox]:
    online = EmailServerProfile.objects.filter(name="Demo Exchange Online (Graph) server").first()
    if online is None:
        online = server_profile_create(
            name="Demo Exchange Online (Graph) server",
            kind=ServerKind.GRAPH,
            tenant_id=DEMO_GRAPH_APP[0],
            client_id=DEMO_GRAPH_APP[1],
            client_secret=DEMO_GRAPH_APP[2],
            graph_url=f"http://127.0.0.1:{DEMO_GRAPH_PORT}/v1.0",
            token_url=f"http://127.0.0.1:{DEMO_GRAPH_PORT}",
            max_wait=10,
        )
    mailboxes = []
    for address in DEMO_GRAPH_MAILBOXES:
        owner = users.get(address.split("@")[0])
        if owner is None:
            continue
        mailbox = Mailbox.objects.filter(owner=owner).first()
        if mailbox is None:
            mailbox = mailbox_create(owner=owner, email_address=address, server_profile=online)
        mailboxes.append(mailbox)
    return mailboxes
