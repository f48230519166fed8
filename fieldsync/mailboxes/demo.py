"""The demo's mailboxes: the demo EWS server's and the demo Radicale's server profiles and the
demo salespeople's mailboxes (`make run`, `manage.py seed_demo`).
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


def demo_mailboxes_seed(*, users: dict[str, Any]) -> list[Mailbox]:
    """The demo EWS server's and demo Radicale's profiles and the demo salespeople's mailboxes
    (idempotent), one kind of each, so `make run` shows them syncing. `users` maps username ->
    User."""
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
