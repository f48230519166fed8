"""Create (idempotently) a demo organization: an admin, salespeople in two business units,
a manager, their contacts, appointments and tasks."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from crm.demo import seed_records
from fieldsync.mailboxes.demo import demo_mailboxes_seed
from security.models import BusinessUnit, User
from security.services import seed_security_demo

PEOPLE = [
    # username, first, last, business unit, superuser
    ("admin", "Ada", "Admin", "Contoso", True),
    ("sally", "Sally", "Seller", "Sales East", False),
    ("sam", "Sam", "Seller", "Sales West", False),
    ("mona", "Mona", "Manager", "Sales East", False),
    ("otto", "Otto", "Online", "Sales West", False),
]


class Command(BaseCommand):
    help = "Create the demo organization (idempotent)."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--contacts", type=int, default=120, help="contacts per salesperson")

    @transaction.atomic
    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        root, _ = BusinessUnit.objects.get_or_create(name="Contoso")
        units = {"Contoso": root}
        for name in ("Sales East", "Sales West"):
            units[name], _ = BusinessUnit.objects.get_or_create(
                name=name, defaults={"parent": root}
            )
        users = {}
        for username, first, last, unit, superuser in PEOPLE:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@contoso.test",
                    "business_unit": units[unit],
                    "is_superuser": superuser,
                    "is_staff": superuser,
                },
            )
            if created:
                user.set_password(username)
                user.save()
            users[username] = user
        seed_security_demo(
            admin=users["admin"],
            salespeople=[users["sally"], users["sam"], users["otto"]],
            managers=[users["mona"]],
        )
        sellers = ("sally", "sam", "mona", "otto")
        made = sum(seed_records(users[u], contacts=options["contacts"]) for u in sellers)
        # The server-side sync's demo: run_demo's EWS test server (sally, sam), Radicale (mona)
        # and Graph test server (otto, on Exchange Online).
        demo_mailboxes_seed(users=users)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {len(users)} users, {made} new records. "
                "Sign in as admin/admin, sally/sally, sam/sam, mona/mona or otto/otto."
            )
        )
