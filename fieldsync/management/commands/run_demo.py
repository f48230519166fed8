"""Run the whole demo in one terminal: web app, Celery worker and beat, the EWS test server, the
Graph test server (Exchange Online) and a CalDAV/CardDAV server (Radicale, storage under
var/radicale).

Stops every process when one of them dies or on Ctrl-C, so nothing is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from fieldsync.mailboxes.demo import (
    DEMO_DAV_MAILBOXES,
    DEMO_DAV_PORT,
    DEMO_EWS_PORT,
    DEMO_GRAPH_APP,
    DEMO_GRAPH_MAILBOXES,
    DEMO_GRAPH_PORT,
    DEMO_MAILBOXES,
    DEMO_SERVICE_ACCOUNT,
)


def demo_radicale():  # type: ignore[no-untyped-def]
    from connectors.dav.radicale import RadicaleServer

    users = dict(DEMO_DAV_MAILBOXES.values())
    return RadicaleServer(settings.VAR_DIR / "radicale", users, port=DEMO_DAV_PORT)


def _dav_collections(stdout) -> None:  # type: ignore[no-untyped-def]
    """Give each demo DAV user an address book, a calendar and a task list (idempotent)."""
    from connectors.base import ConnectorError
    from connectors.dav import DavConnector

    url = demo_radicale().url
    for user, password in DEMO_DAV_MAILBOXES.values():
        connector = DavConnector(url=f"{url}{user}/", username=user, password=password)
        for _ in range(100):  # Radicale takes a moment to listen
            try:
                connector.ensure_collections()
                break
            except ConnectorError:
                time.sleep(0.1)
        else:
            stdout.write(f"Radicale at {url} did not answer; {user}'s sync will fail")
        connector.close()


def demo_processes(*, host: str, port: int) -> list[tuple[str, list[str]]]:
    py = sys.executable
    ews = [py, "-m", "connectors.ewsserver", "--port", str(DEMO_EWS_PORT)]
    for address in DEMO_MAILBOXES:
        ews += ["--mailbox", f"{address}:demo"]
    ews += ["--service-account", ":".join(DEMO_SERVICE_ACCOUNT)]
    ews += ["--store", str(settings.VAR_DIR / "ews-demo.json")]
    graph = [py, "-m", "connectors.graphserver", "--port", str(DEMO_GRAPH_PORT)]
    for address in DEMO_GRAPH_MAILBOXES:
        graph += ["--mailbox", address]
    graph += ["--app", ":".join(DEMO_GRAPH_APP)]
    graph += ["--store", str(settings.VAR_DIR / "graph-demo.json")]
    procs = [
        ("ews", ews),
        ("graph", graph),
        ("radicale", demo_radicale().command()),
        ("web", [py, "manage.py", "runserver", "--noreload", f"{host}:{port}"]),
        ("worker", [py, "-m", "celery", "-A", "syncadmin", "worker", "-l", "info", "-c", "2"]),
        (
            "beat",
            [
                py,
                "-m",
                "celery",
                "-A",
                "syncadmin",
                "beat",
                "-l",
                "info",
                "-s",
                str(settings.VAR_DIR / "celerybeat-schedule"),
            ],
        ),
    ]
    return procs


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the web app, the worker, beat and the demo EWS, Graph and DAV servers until Ctrl-C."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        running: list[tuple[str, subprocess.Popen]] = []
        # `kill` or a supervisor's stop must also take the children down, like Ctrl-C does.
        signal.signal(signal.SIGTERM, _raise_interrupt)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # The demo syncs its mailboxes every 30 s, so a change shows up while you watch.
        env.setdefault("SYNCADMIN_SYNC_INTERVAL", "30")
        for name, cmd in demo_processes(host=options["host"], port=options["port"]):
            self.stdout.write(f"starting {name}: {' '.join(cmd)}")
            running.append((name, subprocess.Popen(cmd, cwd=settings.BASE_DIR, env=env)))
        _dav_collections(self.stdout)
        self.stdout.write(
            self.style.SUCCESS(
                f"syncadmin is serving http://{options['host']}:{options['port']}/ "
                "(admin/admin). Ctrl-C stops everything."
            )
        )
        try:
            while True:
                for name, proc in running:
                    if proc.poll() is not None:
                        self.stderr.write(
                            f"{name} exited with {proc.returncode}; stopping the rest"
                        )
                        return
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            # A second Ctrl-C or kill while shutting down must not leave children running.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for _, proc in running:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for _, proc in running:
                try:
                    proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
