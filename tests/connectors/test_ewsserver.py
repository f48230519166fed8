"""The EWS test server on its own: as a process with a file-backed store, its HTTP control API,
and running without the schema folder.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import time
from pathlib import Path

import exchangelib
import pytest
import requests

from connectors.base import NewItem
from connectors.ewsserver import EwsServer, schema
from connectors.exchange import ExchangeConnector

ROOT = Path(__file__).resolve().parents[2]


def _start(store: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "connectors.ewsserver",
            "--port",
            "0",
            "--mailbox",
            "alice@demo.test:alice-pw",
            "--service-account",
            "svc@demo.test:svc-pw",
            "--store",
            str(store),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stderr.readline()
    match = re.search(r"(http://\S+)", line)
    assert match, line
    validation = proc.stderr.readline()
    assert "validation is ON" in validation, validation  # the log says so, with no set-up
    return proc, match.group(1)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def test_the_server_runs_as_a_process_and_keeps_items_across_restarts(tmp_path):
    store = tmp_path / "ews.json"
    proc, url = _start(store)
    try:
        conn = ExchangeConnector(
            ews_url=url,
            username="svc@demo.test",
            password="svc-pw",
            primary_smtp_address="alice@demo.test",
        )
        [res] = conn.create_items("contacts", [NewItem("crm-42", {"first_name": "Kept"})])
        assert res.ok
    finally:
        _stop(proc)
        exchangelib.close_connections()
    proc, url = _start(store)
    try:
        conn = ExchangeConnector(
            ews_url=url,
            username="svc@demo.test",
            password="svc-pw",
            primary_smtp_address="alice@demo.test",
        )
        found = conn.find_by_crm_ids("contacts", ["crm-42"])
        assert found["crm-42"].fields["first_name"] == "Kept"
    finally:
        _stop(proc)
        exchangelib.close_connections()


def test_faults_and_counters_over_the_http_control_api(ews, connector):
    base = ews.url.split("/EWS/")[0]
    connector.create_items("contacts", [NewItem("a", {"first_name": "A"})])
    assert requests.post(f"{base}/_control/reset", json={}, timeout=5).json() == {"ok": True}
    assert requests.post(f"{base}/_control/delay", json={"seconds": 0.3}, timeout=5).ok
    started = time.monotonic()
    connector.create_items("contacts", [NewItem("b", {"first_name": "B"})])
    assert time.monotonic() - started >= 0.3
    stats = requests.get(f"{base}/_control/stats", timeout=5).json()
    assert stats["counts"] == {"CreateItem": 1, "total": 1}
    bad = requests.post(f"{base}/_control/explode", json={}, timeout=5)
    assert bad.status_code == 400


def test_without_the_schema_folder_the_server_refuses_to_start_and_says_where_it_looked(
    tmp_path, monkeypatch
):
    with pytest.raises(schema.SchemaMissingError, match=r"missing/messages\.xsd"):
        schema.SchemaValidator(tmp_path / "missing")
    monkeypatch.setenv("EWS_SCHEMA_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(schema.SchemaMissingError, match="Unset EWS_SCHEMA_DIR"):
        schema.property_order("Contact")


def test_the_schema_ships_with_the_project_and_validation_is_on_by_default(monkeypatch, caplog):
    monkeypatch.delenv("EWS_SCHEMA_DIR", raising=False)
    assert schema.schema_dir() == schema.BUNDLED
    assert (schema.BUNDLED / "messages.xsd").is_file()
    with caplog.at_level(logging.INFO):
        server = EwsServer({})
    try:
        assert server.validator is not None and server.validator.enabled
    finally:
        server.httpd.server_close()
