"""A client's batch answer is kept for a retry (ClientBatch) and repeats no value of a secured
column, not even in the CRM's own validation message of a value it refuses (a choice the column
does not offer quotes the value)."""

from __future__ import annotations

import pytest

from crm.models import Task
from fieldsync.models.client import ClientBatch

from .test_client_sync_sealed import pull_all, push, secure, set_direction, stored

pytestmark = pytest.mark.django_db


def test_the_crms_refusal_of_a_secured_value_does_not_repeat_it(org, clients):
    secure(org["sally"], "task", "priority", "read", "create", "update")
    set_direction("task", "priority", "both")
    task = Task.objects.create(owner=org["sally"], subject="Call back")
    seen = pull_all(clients["end_user"], "task")[str(task.pk)]

    response = push(
        clients["end_user"],
        [{"id": seen["id"], "version": seen["version"], "values": {"priority": 917}}],
        entity="task",
    )

    (result,) = response.json()["results"]
    assert result["status"] == "invalid"
    assert "priority" in result["error"]["fields"]
    assert "917" not in response.content.decode() + stored(ClientBatch)
    task.refresh_from_db()
    assert task.priority != 917
