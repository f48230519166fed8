"""The embedded broker never hands out a message that is still being written (kombu's
filesystem transport did, and the worker died on the empty JSON)."""

import os

import pytest
from kombu import Connection
from kombu.transport import filesystem

import syncadmin.celery  # noqa: F401 - registers the transport


def test_the_embedded_broker_writes_messages_atomically(tmp_path):
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    with Connection("filesystem://", transport_options=options) as conn:
        assert type(conn.transport).__module__ == "syncadmin.broker"
        channel = conn.default_channel
        # A writer half-way through: the reader must not take the file.
        partial = tmp_path / "1_x.celery.msg.part"
        partial.write_bytes(b'{"body": ')
        with pytest.raises(filesystem.Empty):
            channel._get("celery")
        assert partial.exists()
        channel._put("celery", {"body": "hello"})
        assert channel._get("celery") == {"body": "hello"}
        assert os.listdir(tmp_path) == [partial.name]
