"""The in-memory connector keeps Exchange's semantics, so engine tests written against it hold
against Exchange: paged change lists, change-key conflicts, per-item batch results.
"""

from __future__ import annotations

import pytest

from connectors.base import Connector, ConnectorError, ItemRef, ItemUpdate, NewItem
from connectors.exchange import ExchangeConnector
from connectors.memory import MemoryConnector


def _new(n: int, prefix: str = "m") -> list[NewItem]:
    return [NewItem(f"{prefix}-{i}", {"first_name": f"F{i}"}) for i in range(n)]


def test_both_connectors_satisfy_the_protocol():
    assert isinstance(MemoryConnector(), Connector)
    exchange = ExchangeConnector(
        ews_url="http://127.0.0.1:9/EWS/Exchange.asmx",
        username="u",
        password="p",
        primary_smtp_address="a@b.test",
    )
    assert isinstance(exchange, Connector)


def test_changes_are_paged_and_only_new_changes_follow_a_saved_state():
    conn = MemoryConnector()
    created = conn.create_items("contacts", _new(230))
    pages = list(conn.list_changes("contacts", None))
    assert [len(p.created) for p in pages] == [100, 100, 30]
    assert [p.complete for p in pages] == [False, False, True]
    state = pages[-1].sync_state

    conn.edit("contacts", created[3].item_id, first_name="Edited")
    conn.delete_items("contacts", [ItemRef(created[4].item_id, created[4].change_key)])
    [page] = list(conn.list_changes("contacts", state))
    assert [i.fields["first_name"] for i in page.updated] == ["Edited"]
    assert page.deleted == [created[4].item_id]
    assert page.created == []


def test_an_unknown_sync_state_is_refused():
    with pytest.raises(ConnectorError) as err:
        list(MemoryConnector().list_changes("tasks", "nope"))
    assert err.value.code == "ErrorInvalidSyncStateData"


def test_a_stale_change_key_conflicts_unless_overwriting():
    conn = MemoryConnector()
    [item] = conn.create_items("tasks", [NewItem("t", {"subject": "a"})])
    conn.edit("tasks", item.item_id, subject="outlook edit")
    [res] = conn.update_items(
        "tasks", [ItemUpdate(item.item_id, item.change_key, {"subject": "crm"})]
    )
    assert res.error_code == "ErrorIrresolvableConflict"
    assert conn.get_items("tasks", [item.item_id], ["subject"])[0].fields == {
        "subject": "outlook edit"
    }
    [res] = conn.update_items(
        "tasks", [ItemUpdate(item.item_id, item.change_key, {"subject": "crm"})], overwrite=True
    )
    assert res.ok


def test_one_failing_item_does_not_fail_the_batch():
    conn = MemoryConnector()
    conn.fail_when(
        lambda op, item: op == "create" and item.crm_id == "m-1", "ErrorInvalidPropertySet"
    )
    results = conn.create_items("contacts", _new(3))
    assert [r.error_code for r in results] == [None, "ErrorInvalidPropertySet", None]
    assert set(conn.find_by_crm_ids("contacts", ["m-0", "m-1", "m-2"])) == {"m-0", "m-2"}
