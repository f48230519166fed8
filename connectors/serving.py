"""The life cycle both test servers (EWS and Graph) share: serve HTTP in a thread or in the
foreground, save the store once a second while serving and once more on the way out.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol


class SavedStore(Protocol):
    """What the life cycle needs of a test server's store."""

    path: object
    dirty: bool

    def save(self) -> None: ...


class ServedServer:
    """Start, serve and stop a test server; `name` names its threads (`{name}-test-server`)."""

    name = "test"
    store: SavedStore

    def _init_http(self, host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._saver: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        """Serve in a daemon thread; return the server's URL."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name=f"{self.name}-test-server", daemon=True
        )
        self._thread.start()
        self._start_saver()
        return self.url

    def serve_forever(self) -> None:
        self._start_saver()
        try:
            self.httpd.serve_forever()
        finally:
            self.store.save()

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.store.save()

    def _start_saver(self) -> None:
        if self.store.path:
            self._saver = threading.Thread(
                target=self._save_loop, name=f"{self.name}-store-saver", daemon=True
            )
            self._saver.start()

    def _save_loop(self) -> None:
        # Saving after every request would make bulk loads quadratic; once a second is enough.
        while not self._stopping.wait(1.0):
            if self.store.dirty:
                self.store.save()
