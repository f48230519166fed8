"""`manage.py mailbox_sync_path EMAIL ENTITY server|client`: which path syncs one entity of a
mailbox: the server-side worker, or the Outlook client through the REST API (never both).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fieldsync.models.mailboxes import Mailbox, SyncPath

# The entities of one folder share its path: appointments, recurring appointments and service
# activities the calendar's; tasks, phone calls, letters and faxes the tasks folder's.
_COLUMN = {
    "contact": "contacts_path",
    "appointment": "appointments_path",
    "recurring_appointment": "appointments_path",
    "service_activity": "appointments_path",
    "task": "tasks_path",
    "phone_call": "tasks_path",
    "letter": "tasks_path",
    "fax": "tasks_path",
}


class Command(BaseCommand):
    help = "Set whether the server-side sync or the Outlook client syncs an entity of a mailbox."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="The mailbox's e-mail address.")
        parser.add_argument("entity", choices=sorted(_COLUMN))
        parser.add_argument("path", choices=[p.value for p in SyncPath])

    def handle(self, *args: Any, **options: Any) -> None:
        mailbox = Mailbox.objects.filter(email_address__iexact=options["email"]).first()
        if mailbox is None:
            raise CommandError(f"No mailbox {options['email']}.")
        column = _COLUMN[options["entity"]]
        Mailbox.objects.filter(pk=mailbox.pk).update(**{column: options["path"]})
        label = SyncPath(options["path"]).label
        self.stdout.write(f"{mailbox}: {column.removesuffix('_path')} now use the {label}.")
