"""`manage.py outlook_client --url URL --token TOKEN --folder DIR [--entity contact]`: one sync
of a local folder of vCard/iCalendar files through the REST API (connectors/outlook_client.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.outlook_client import ENTITIES, ClientError, OutlookClient


class Command(BaseCommand):
    help = (
        "Sync a folder of .vcf (contacts) or .ics (appointments, tasks) files with the CRM "
        "through /api/v1/sync/, as the Outlook add-in would. The cursor and what each file "
        "last held are kept in DIR/.state.json."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", required=True, help="The server, e.g. http://127.0.0.1:8000")
        parser.add_argument("--token", required=True, help="The user's API token.")
        parser.add_argument("--folder", required=True, type=Path, help="The local folder.")
        parser.add_argument("--entity", default="contact", choices=ENTITIES)
        parser.add_argument("--page-size", type=int, default=100)

    def handle(self, *args: Any, **options: Any) -> None:
        client = OutlookClient(
            url=options["url"],
            token=options["token"],
            folder=options["folder"],
            entity=options["entity"],
            page_size=options["page_size"],
        )
        try:
            summary = client.sync()
        except (ClientError, requests.RequestException) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("\n".join(summary.lines()))
