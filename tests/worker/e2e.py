"""Processes for the end-to-end tests: the EWS test server, Celery workers and beat, each a
real subprocess in its own process group (so a test can SIGKILL a worker with its pool)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], object], *, timeout: float, what: str, every: float = 0.2):
    """Poll `check` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Proc:
    """A subprocess writing to a log file, in its own session (process group)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, *, timeout: float = 30) -> None:
        def seen() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited early:\n{self.log()[-3000:]}")
            return text in self.log()

        wait_until(seen, timeout=timeout, what=f"{self.name} to log {text!r}", every=0.1)

    def kill(self) -> None:
        """SIGKILL the whole group: the worker and its pool, with no chance to clean up."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class EwsProcess(Proc):
    """`python -m connectors.ewsserver` with a service account; faults over /_control/."""

    def __init__(self, log_dir: Path, service: tuple[str, str], *, validate: bool = True) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "connectors.ewsserver", "--port", str(self.port)]
        cmd += ["--service-account", ":".join(service)]
        if not validate:
            cmd.append("--no-validate")
        super().__init__("ews", cmd, {**os.environ, "PYTHONUNBUFFERED": "1"}, log_dir)
        wait_until(self._up, timeout=20, what="the EWS test server")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/EWS/Exchange.asmx"

    def _up(self) -> bool:
        try:
            self.stats()
        except OSError:
            return False
        return True

    def control(self, action: str, **payload: object) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/_control/{action}",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, int]:
        url = f"http://127.0.0.1:{self.port}/_control/stats"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())["counts"]


class GraphProcess(EwsProcess):
    """`python -m connectors.graphserver` with one app registration; mailboxes and faults over
    /_control/."""

    def __init__(self, log_dir: Path, app: tuple[str, str, str]) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "connectors.graphserver", "--port", str(self.port)]
        cmd += ["--app", ":".join(app)]
        Proc.__init__(self, "graph", cmd, {**os.environ, "PYTHONUNBUFFERED": "1"}, log_dir)
        wait_until(self._up, timeout=20, what="the Graph test server")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"


def celery_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "syncadmin", *args]


def start_worker(
    name: str, env: dict[str, str], log_dir: Path, *, queue: str | None = None
) -> Proc:
    """A worker process with one pool process, consuming `queue` (default: Celery's)."""
    args = ["worker", "-n", f"{name}@%h", "-c", "1", "-l", "info"]
    args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if queue:
        args += ["-Q", queue]
    proc = Proc(name, celery_cmd(*args), env, log_dir)
    proc.wait_for_log(" ready.", timeout=40)
    return proc


def start_beat(env: dict[str, str], log_dir: Path) -> Proc:
    schedule = log_dir / "celerybeat-schedule"
    proc = Proc("beat", celery_cmd("beat", "-l", "info", "-s", str(schedule)), env, log_dir)
    proc.wait_for_log("beat: Starting", timeout=30)
    return proc
