"""A real Radicale CalDAV/CardDAV server in a subprocess on 127.0.0.1, storage in a given folder:
what the DAV connector's tests, its benchmark and the demo run against.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .process import ServerProcess, free_port


class RadicaleServer(ServerProcess):
    """`users` maps logins to plain passwords (htpasswd); None lets anyone in with any name."""

    name = "Radicale"

    def __init__(
        self,
        folder: Path,
        users: dict[str, str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.folder = Path(folder)
        self.users = users
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def storage(self) -> Path:
        return self.folder / "collections"

    def _config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        auth = "type = none"
        if self.users is not None:
            htpasswd = self.folder / "users"
            htpasswd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            auth = f"type = htpasswd\nhtpasswd_filename = {htpasswd}\nhtpasswd_encryption = plain"
        config = self.folder / "radicale.conf"
        config.write_text(
            f"[server]\nhosts = {self.host}:{self.port}\n"
            f"[auth]\n{auth}\n"
            "[rights]\ntype = owner_only\n"
            f"[storage]\nfilesystem_folder = {self.storage}\n"
            "[web]\ntype = none\n"
            "[logging]\nlevel = warning\n"
        )
        return config

    def command(self) -> list[str]:
        """The command line that runs this server in the foreground (the demo supervises it)."""
        return [sys.executable, "-m", "radicale", "-C", str(self._config())]

    def forget_sync_tokens(self) -> int:
        """Forget sync tokens and the history of deleted items, as Radicale's 30-day expiry
        (max_sync_token_age) does; returns how many tokens were dropped."""
        removed = 0
        for name in ("sync-token", "history"):
            for folder in list(self.storage.rglob(name)):
                if folder.is_dir() and folder.parent.name == ".Radicale.cache":
                    removed += sum(1 for _ in folder.iterdir()) if name == "sync-token" else 0
                    shutil.rmtree(folder)
        return removed
