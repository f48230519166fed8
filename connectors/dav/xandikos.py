"""A real Xandikos CalDAV/CardDAV server in a subprocess on 127.0.0.1, storage in a given folder:
the second server the DAV connector is tested against (its layout is not Radicale's: the
principal's address books sit under contacts/, its calendars under calendars/).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .process import ServerProcess, free_port


class XandikosServer(ServerProcess):
    """One principal (`principal`, under `route_prefix`), created with a default address book
    (contacts/addressbook/) and calendar (calendars/calendar/). No authentication."""

    name = "Xandikos"

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
