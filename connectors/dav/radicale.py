"""A real Radicale CalDAV/CardDAV server in a subprocess on 127.0.0.1, storage in a given folder:
what the DAV connector's tests, its benchmark and the demo run against.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class RadicaleServer:
    """`users` maps logins to plain passwords (htpasswd); None lets anyone in with any name."""

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
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

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

    def start(self, timeout: float = 30.0) -> None:
        log = (self.folder / "radicale.log").open("ab")
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Radicale exited; see {self.folder / 'radicale.log'}")
            try:
                requests.request("OPTIONS", self.url, timeout=1)
                return
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Radicale did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

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

    def __enter__(self) -> RadicaleServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
