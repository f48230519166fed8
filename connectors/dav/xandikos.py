"""A real Xandikos CalDAV/CardDAV server in a subprocess on 127.0.0.1, storage in a given folder:
the second server the DAV connector is tested against (its layout is not Radicale's: the
principal's address books sit under contacts/, its calendars under calendars/).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from .radicale import free_port


class XandikosServer:
    """One principal (`principal`, under `route_prefix`), created with a default address book
    (contacts/addressbook/) and calendar (calendars/calendar/). No authentication."""

    def __init__(
        self,
        folder: Path,
        *,
        principal: str = "/user/",
        route_prefix: str = "/",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.folder = Path(folder)
        self.principal = principal
        self.route_prefix = route_prefix if route_prefix.endswith("/") else route_prefix + "/"
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's root (where /.well-known/ answers)."""
        return f"http://{self.host}:{self.port}/"

    @property
    def principal_url(self) -> str:
        parts = [p for p in (self.route_prefix.strip("/"), self.principal.strip("/")) if p]
        return f"{self.url}{'/'.join(parts)}/"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            "import sys; from xandikos.__main__ import cli_main; sys.exit(cli_main())",
            "serve",
            "-d", str(self.folder / "data"),
            "--state-dir", str(self.folder / "state"),
            "--defaults",
            "--no-detect-systemd",
            "-l", self.host,
            "-p", str(self.port),
            "--route-prefix", self.route_prefix,
            "--current-user-principal", self.principal,
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / "xandikos.log").open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Xandikos exited; see {self.folder / 'xandikos.log'}")
            try:
                requests.request("OPTIONS", self.url, timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Xandikos did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def __enter__(self) -> XandikosServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
