"""The Exchange connector's behaviour against the EWS test server: incremental changes, change-key
conflicts, per-item batch results, throttling, auth, impersonation and schema validation.
"""

from __future__ import annotations

import time

import pytest
import requests

from connectors.base import (
    AuthError,
    ConnectorError,
    ItemRef,
    ItemUpdate,
    NewItem,
    ThrottledError,
    TransientError,
)


def _contacts(n: int, prefix: str = "c") -> list[NewItem]:
    return [
        NewItem(
            f"{prefix}-{i}",
            {"first_name": f"First{i}", "last_name": f"Last{i}", "email": f"{prefix}{i}@x.test"},
        )
        for i in range(n)
    ]


def test_incremental_changes_list_only_what_changed_across_pages(connector):
    created = connector.create_items("contacts", _contacts(250))
    assert all(r.ok for r in created)

    pages = list(connector.list_changes("contacts", None))
    assert [len(p.created) for p in pages] == [100, 100, 50]
    assert [p.complete for p in pages] == [False, False, True]
    assert {i.crm_id for p in pages for i in p.created} == {f"c-{i}" for i in range(250)}
    assert not any(p.updated or p.deleted for p in pages)
    state = pages[-1].sync_state

    [nothing] = list(connector.list_changes("contacts", state))
    assert (nothing.created, nothing.updated, nothing.deleted, nothing.complete) == (
        [],
        [],
        [],
        True,
    )

    edited = connector.update_items(
        "contacts", [ItemUpdate(created[5].item_id, created[5].change_key, {"job_title": "CEO"})]
    )
    assert edited[0].ok
    gone = connector.delete_items("contacts", [ItemRef(created[7].item_id, created[7].change_key)])
    assert gone[0].ok
    [added] = connector.create_items("contacts", _contacts(1, "new"))

    [page] = list(connector.list_changes("contacts", state))
    assert [i.item_id for i in page.created] == [added.item_id]
    assert [(i.item_id, i.fields["job_title"]) for i in page.updated] == [
        (created[5].item_id, "CEO")
    ]
    assert page.deleted == [created[7].item_id]


def test_a_saved_middle_page_state_resumes_without_repeating(connector):
    connector.create_items("contacts", _contacts(150))
    first = next(iter(connector.list_changes("contacts", None)))
    rest = list(connector.list_changes("contacts", first.sync_state))
    ids_first = {i.item_id for i in first.created}
    ids_rest = {i.item_id for p in rest for i in p.created}
    assert len(ids_first) == 100 and len(ids_rest) == 50 and not ids_first & ids_rest


def test_an_unknown_sync_state_is_a_typed_error(connector):
    with pytest.raises(ConnectorError) as err:
        list(connector.list_changes("contacts", "bm90IGEgc3RhdGU="))
    assert err.value.code == "ErrorInvalidSyncStateData"


def test_a_stale_change_key_is_refused_and_nothing_is_applied(connector):
    [item] = connector.create_items("contacts", _contacts(1))
    [first] = connector.update_items(
        "contacts", [ItemUpdate(item.item_id, item.change_key, {"job_title": "A"})]
    )
    assert first.ok and first.change_key != item.change_key

    [stale] = connector.update_items(
        "contacts",
        [ItemUpdate(item.item_id, item.change_key, {"job_title": "B", "department": "Sales"})],
    )
    assert (stale.ok, stale.error_code) == (False, "ErrorIrresolvableConflict")
    [now] = connector.get_items("contacts", [item.item_id], ["job_title", "department"])
    assert now.fields == {"job_title": "A", "department": ""}

    [forced] = connector.update_items(
        "contacts", [ItemUpdate(item.item_id, item.change_key, {"job_title": "B"})], overwrite=True
    )
    assert forced.ok
    [now] = connector.get_items("contacts", [item.item_id], ["job_title"])
    assert now.fields == {"job_title": "B"}


def test_a_batch_with_one_bad_item_reports_it_and_saves_the_rest(connector, ews):
    ews.faults.item_error("ErrorInvalidPropertySet", operation="CreateItem", match="bad0@x.test")
    items = _contacts(2) + _contacts(1, "bad") + _contacts(2, "d")
    results = connector.create_items("contacts", items)
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert results[2].error_code == "ErrorInvalidPropertySet" and results[2].crm_id == "bad-0"
    found = connector.find_by_crm_ids("contacts", [i.crm_id for i in items])
    assert set(found) == {"c-0", "c-1", "d-0", "d-1"}

    # Updates: one stale key among good ones; the good ones are applied.
    ok = [r for r in results if r.ok]
    updates = [ItemUpdate(r.item_id, r.change_key, {"job_title": "X"}) for r in ok]
    updates[1] = ItemUpdate(ok[1].item_id, "Q0sAAAAAAAAAAAAAAAA=", {"job_title": "X"})
    done = connector.update_items("contacts", updates)
    assert [r.error_code for r in done] == [None, "ErrorIrresolvableConflict", None, None]
    assert [r.index for r in done] == [0, 1, 2, 3]

    # A bad item the connector itself can refuse never reaches the server.
    bad_times = {
        "subject": "x",
        "scheduled_start": None,
        "scheduled_end": None,
    }
    res = connector.create_items("calendar", [NewItem("e-1", bad_times)])
    assert res[0].error_code == "ErrorInvalidPropertyValue"


def test_deleting_a_missing_item_is_reported_per_item(connector):
    [item] = connector.create_items("tasks", [NewItem("t-1", {"subject": "x"})])
    results = connector.delete_items(
        "tasks", [ItemRef(item.item_id, item.change_key), ItemRef(item.item_id, item.change_key)]
    )
    assert [r.error_code for r in results] == [None, "ErrorItemNotFound"]


def test_throttling_is_waited_out(connector, ews):
    connector.create_items("contacts", _contacts(1))  # warm up: folders are resolved
    ews.reset()
    ews.faults.throttle(back_off_ms=300, count=2, operation="CreateItem")
    started = time.monotonic()
    results = connector.create_items("contacts", _contacts(3, "t"))
    assert all(r.ok for r in results)
    assert time.monotonic() - started >= 0.6
    assert ews.request_count("CreateItem") == 3


def test_throttling_longer_than_max_wait_raises_throttled(new_mailbox, make_connector, ews):
    connector = make_connector(new_mailbox(), max_wait=1)
    connector.create_items("contacts", _contacts(1))
    ews.faults.throttle(back_off_ms=5000, count=1, operation="CreateItem")
    with pytest.raises(ThrottledError) as err:
        connector.create_items("contacts", _contacts(1, "t"))
    assert err.value.code == "ErrorServerBusy"


def test_a_wrong_password_fails_fast_as_auth_error(new_mailbox, make_connector):
    connector = make_connector(new_mailbox(), password="wrong")
    started = time.monotonic()
    with pytest.raises(AuthError):
        connector.create_items("contacts", _contacts(1))
    assert time.monotonic() - started < 5


def test_http_503_with_retry_after_is_retried(connector, ews):
    connector.create_items("contacts", _contacts(1))
    ews.reset()
    ews.faults.http_error(503, retry_after=1, operation="CreateItem")
    [res] = connector.create_items("contacts", _contacts(1, "r"))
    assert res.ok
    assert ews.request_count("CreateItem") == 2


def test_a_dropped_connection_is_transient_and_the_item_is_found_again(connector, ews):
    connector.create_items("contacts", _contacts(1))
    ews.faults.drop(operation="CreateItem")
    with pytest.raises(TransientError):
        connector.create_items("contacts", _contacts(1, "lost"))
    # The server saved it before the connection broke: the CRM id finds it, no duplicate needed.
    assert set(connector.find_by_crm_ids("contacts", ["lost-0"])) == {"lost-0"}


def test_an_impersonated_account_sees_only_its_own_mailbox(new_mailbox, make_connector, ews):
    alice = make_connector(new_mailbox())
    bob = make_connector(new_mailbox())
    [mine] = alice.create_items("contacts", _contacts(1, "alice"))
    assert [p.created for p in bob.list_changes("contacts", None)] == [[]]
    assert bob.find_by_crm_ids("contacts", ["alice-0"]) == {}
    [res] = bob.get_items("contacts", [mine.item_id], ["first_name"])
    assert res.error_code == "ErrorItemNotFound"
    [res] = bob.delete_items("contacts", [ItemRef(mine.item_id, mine.change_key)])
    assert res.error_code == "ErrorItemNotFound"
    assert alice.get_items("contacts", [mine.item_id], ["first_name"])[0].fields == {
        "first_name": "First0"
    }


def test_only_a_service_account_may_impersonate(new_mailbox, make_connector):
    victim = new_mailbox()
    user = new_mailbox()
    connector = make_connector(victim, username=user, password="pw-" + user)
    with pytest.raises(AuthError) as err:
        connector.create_items("contacts", _contacts(1))
    assert err.value.code == "ErrorImpersonateUserDenied"


def test_delegate_access_reaches_a_shared_mailbox(new_mailbox, make_connector, ews):
    owner, assistant = new_mailbox(), new_mailbox()
    ews.delegates[owner] = {assistant}
    try:
        connector = make_connector(
            owner, username=assistant, password="pw-" + assistant, access_type="delegate"
        )
        [res] = connector.create_items("contacts", _contacts(1, "shared"))
        assert res.ok
        owner_view = make_connector(owner)
        assert set(owner_view.find_by_crm_ids("contacts", ["shared-0"])) == {"shared-0"}
    finally:
        ews.delegates.pop(owner)


BAD_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Body>
    <m:GetFolder>
      <m:FolderShape><t:BaseShape>Everything</t:BaseShape></m:FolderShape>
      <m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds>
    </m:GetFolder>
  </s:Body>
</s:Envelope>"""


def test_a_request_that_breaks_the_schema_is_rejected(ews, new_mailbox):
    mailbox = new_mailbox()
    answer = requests.post(
        ews.url,
        data=BAD_REQUEST.encode(),
        auth=(mailbox, "pw-" + mailbox),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=10,
    )
    assert answer.status_code == 500
    assert "ErrorSchemaValidation" in answer.text
    assert "Everything" in answer.text  # the violation names the offending value
    good = BAD_REQUEST.replace("Everything", "Default")
    answer = requests.post(ews.url, data=good.encode(), auth=(mailbox, "pw-" + mailbox), timeout=10)
    assert answer.status_code == 200 and "NoError" in answer.text


def test_create_sends_one_request_per_hundred_items(connector, ews):
    connector.create_items("contacts", _contacts(1))
    ews.reset()
    results = connector.create_items("contacts", _contacts(250, "b"))
    assert all(r.ok for r in results)
    assert ews.request_count("CreateItem") == 3
    assert ews.request_count() == 3


def test_record_values_do_not_reach_the_logs_through_exchangelib_even_at_debug(connector, caplog):
    """exchangelib logs whole SOAP bodies at DEBUG (and on some errors at ERROR); an operator
    who turns the log level up must not find record values there (logs are a door too)."""
    import logging

    caplog.set_level(logging.DEBUG)  # the root logger, as LOG_LEVEL=DEBUG sets it
    (made,) = connector.create_items(
        "contacts", [NewItem("crm-secret", {"last_name": "Wong", "description": "Salary 98765"})]
    )
    assert made.ok
    assert list(connector.get_items("contacts", [made.item_id], ["description"]))
    assert "Salary 98765" not in caplog.text
    assert not logging.getLogger("exchangelib.util").isEnabledFor(logging.ERROR)
