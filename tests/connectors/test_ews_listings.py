"""Change listings on Exchange return ids and short properties only: the EWS test server refuses
a body, a recurrence or long text in SyncFolderItems and FindItem as a strict Exchange would, and
the connector lists ids, then reads the changed items whole with GetItem.
"""

from __future__ import annotations

import datetime

import pytest
import requests
from exchangelib import CalendarItem, Contact, Task
from lxml import etree

from connectors.base import ConnectorError, ItemRef, ItemUpdate, NewItem
from connectors.ewsserver.listings import NOT_IN_LISTINGS

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
MONDAY = datetime.datetime(2026, 12, 7, 9, tzinfo=datetime.UTC)
WEEK = datetime.timedelta(weeks=1)
HALF_HOUR = datetime.timedelta(minutes=30)
# 2,000 characters, non-ASCII and line breaks included: far past the 255 a listing would keep.
LONG_NOTE = "\n".join(f"Line {i:03d}: Müller & Söhne signed the frame contract" for i in range(40))[
    :2000
]


def _post(ews, address: str, body: str) -> requests.Response:  # type: ignore[no-untyped-def]
    envelope = (
        f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP}" xmlns:m="{M}" '
        f'xmlns:t="{T}"><s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>'
        f"<s:Body>{body}</s:Body></s:Envelope>"
    )
    return requests.post(
        ews.url,
        data=envelope.encode(),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=(address, "pw-" + address),
        timeout=10,
    )


def _sync_request(shape: str, *fields: str) -> str:
    extra = "".join(f'<t:FieldURI FieldURI="{f}"/>' for f in fields)
    additional = f"<t:AdditionalProperties>{extra}</t:AdditionalProperties>" if fields else ""
    return (
        f"<m:SyncFolderItems><m:ItemShape><t:BaseShape>{shape}</t:BaseShape>{additional}"
        '</m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>'
        "<m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems>"
    )


def _find_request(*fields: str) -> str:
    extra = "".join(f'<t:FieldURI FieldURI="{f}"/>' for f in fields)
    return (
        '<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>'
        f"<t:AdditionalProperties>{extra}</t:AdditionalProperties></m:ItemShape>"
        '<m:ParentFolderIds><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderIds>'
        "</m:FindItem>"
    )


def _fault(answer: requests.Response) -> tuple[str, str]:
    assert answer.status_code == 500, answer.text
    fault = etree.fromstring(answer.content).find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    return fault.findtext(f"detail/{{{ERRORS}}}ResponseCode"), fault.findtext("faultstring")


def test_the_server_refuses_a_body_in_a_change_listing_as_exchange_cannot_return_it(
    ews, new_mailbox, make_connector
):
    address = new_mailbox()
    (made,) = make_connector(address).create_items(
        "contacts", [NewItem("crm-1", {"last_name": "Wong", "description": LONG_NOTE})]
    )
    assert made.ok, made.message
    code, text = _fault(_post(ews, address, _sync_request("IdOnly", "item:Body")))
    assert code == "ErrorInvalidPropertyRequest"
    assert "item:Body" in text and "GetItem" in text  # what was refused, and what to use
    # The same for a search, and for a recurrence or a contact's e-mail addresses.
    code, text = _fault(_post(ews, address, _find_request("item:Subject", "item:Body")))
    assert code == "ErrorInvalidPropertyRequest" and "item:Body" in text
    assert "item:Subject" not in text
    code, _ = _fault(_post(ews, address, _sync_request("IdOnly", "calendar:Recurrence")))
    assert code == "ErrorInvalidPropertyRequest"
    # Ids and short properties are listed; a base shape leaves the body out.
    for request in (
        _sync_request("IdOnly", "item:Subject", "item:LastModifiedTime"),
        _sync_request("AllProperties"),
        _find_request("item:Subject"),
    ):
        answer = _post(ews, address, request)
        assert answer.status_code == 200, answer.text
        listed = etree.fromstring(answer.content)
        assert listed.find(f".//{{{T}}}Contact/{{{T}}}ItemId") is not None
        assert listed.find(f".//{{{T}}}Contact/{{{T}}}Body") is None
    # GetItem reads it whole.
    (item,) = make_connector(address).get_items("contacts", [made.item_id], ["description"])
    assert item.fields["description"] == LONG_NOTE


@pytest.mark.parametrize("item_class", [Contact, CalendarItem, Task])
def test_the_server_refuses_in_listings_every_property_exchangelib_keeps_out_of_searches(
    item_class,
):
    # Extended properties aside: Exchange lists them (exchangelib is stricter), ours are short.
    complex_fields = {
        f.field_uri for f in item_class.FIELDS if f.is_complex and hasattr(f, "field_uri")
    }
    assert complex_fields and complex_fields <= NOT_IN_LISTINGS


def _series(connector) -> str:  # type: ignore[no-untyped-def]
    fields = {
        "subject": "Weekly pipeline",
        "location": "Teams",
        "description": "Agenda: the pipeline.",
        "scheduled_start": MONDAY,
        "scheduled_end": MONDAY + HALF_HOUR,
        "is_all_day_event": False,
        "recurrence_pattern": "FREQ=WEEKLY;BYDAY=MO;COUNT=10",
    }
    (made,) = connector.create_items("calendar", [NewItem("crm-series", fields)])
    assert made.ok, made.message
    return str(made.item_id)


def test_a_long_note_and_a_series_changed_in_the_mailbox_reach_the_sync_whole(
    new_mailbox, make_connector
):
    address = new_mailbox()
    sync, outlook = make_connector(address), make_connector(address)
    (contact,) = sync.create_items("contacts", [NewItem("crm-contact", {"last_name": "Wong"})])
    series_id = _series(sync)
    states = {f: list(sync.list_changes(f, None))[-1].sync_state for f in ("contacts", "calendar")}

    # In Outlook: a 2,000-character note on the contact; on the series a longer agenda, one
    # occurrence moved and renamed, one cancelled.
    (noted,) = outlook.update_items(
        "contacts", [ItemUpdate(contact.item_id, contact.change_key, {"description": LONG_NOTE})]
    )
    assert noted.ok, noted.message
    master = outlook.account.calendar.get(id=series_id)
    master.body = LONG_NOTE
    master.save(update_fields=["body"])
    master = outlook.account.calendar.get(id=series_id)
    moved = master.occurrence(2)
    moved.refresh()
    moved.start += datetime.timedelta(hours=2)
    moved.end += datetime.timedelta(hours=2)
    moved.subject = "Pipeline (moved)"
    moved.body = "Moved: " + LONG_NOTE
    moved.save(update_fields=["start", "end", "subject", "body"])
    master.occurrence(3).delete()

    (page,) = list(sync.list_changes("contacts", states["contacts"]))
    (listed,) = page.updated
    assert listed.fields["description"] == LONG_NOTE  # equal, not cut at 255 characters
    (page,) = list(sync.list_changes("calendar", states["calendar"]))
    (series,) = page.updated
    assert series.fields["description"] == LONG_NOTE
    assert series.fields["recurrence_pattern"] == "FREQ=WEEKLY;BYDAY=MO;COUNT=10"
    assert [
        (e["original_start"], e["cancelled"], e["start"], e["subject"], e["description"])
        for e in series.fields["exceptions"]
    ] == [
        (
            MONDAY + WEEK,
            False,
            MONDAY + WEEK + datetime.timedelta(hours=2),
            "Pipeline (moved)",
            "Moved: " + LONG_NOTE,
        ),
        (MONDAY + 2 * WEEK, True, None, None, None),
    ]


def test_a_change_listing_reads_the_changed_items_once_a_page_and_nothing_when_quiet(
    ews, connector
):
    made = connector.create_items(
        "contacts", [NewItem(f"crm-{i}", {"last_name": f"Last{i}"}) for i in range(3)]
    )
    ews.reset()
    (page,) = list(connector.list_changes("contacts", None))
    assert sorted(i.crm_id for i in page.created) == ["crm-0", "crm-1", "crm-2"]
    assert ews.request_count("SyncFolderItems") == ews.request_count("GetItem") == 1
    ews.reset()
    (quiet,) = list(connector.list_changes("contacts", page.sync_state))
    assert (quiet.created, quiet.updated, quiet.deleted) == ([], [], [])
    assert ews.request_count() == 1  # no change: one SyncFolderItems, no GetItem
    (gone,) = connector.delete_items("contacts", [ItemRef(made[0].item_id, made[0].change_key)])
    assert gone.ok, gone.message
    ews.reset()
    (page,) = list(connector.list_changes("contacts", quiet.sync_state))
    assert page.deleted == [made[0].item_id]
    assert ews.request_count() == 1  # a deletion needs no read


def test_an_item_deleted_between_the_listing_and_its_read_is_a_deletion(
    new_mailbox, make_connector, monkeypatch
):
    address = new_mailbox()
    sync, outlook = make_connector(address), make_connector(address)
    made = sync.create_items(
        "contacts", [NewItem(f"crm-{i}", {"last_name": f"Last{i}"}) for i in range(2)]
    )
    fetch = sync._fetch

    def deleted_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        # Outlook deletes the first contact after SyncFolderItems listed it, before GetItem.
        (gone,) = outlook.delete_items("contacts", [ItemRef(made[0].item_id, made[0].change_key)])
        assert gone.ok, gone.message
        monkeypatch.setattr(sync, "_fetch", fetch)
        return fetch(*args, **kwargs)

    monkeypatch.setattr(sync, "_fetch", deleted_first)
    (page,) = list(sync.list_changes("contacts", None))
    assert [i.crm_id for i in page.created] == ["crm-1"]
    assert page.deleted == [made[0].item_id]


def test_an_item_that_cannot_be_read_fails_the_listing_so_the_next_run_lists_it_again(
    ews, connector
):
    connector.create_items("contacts", [NewItem("crm-1", {"last_name": "Wong"})])
    ews.faults.item_error("ErrorCorruptData", operation="GetItem", index=0)
    with pytest.raises(ConnectorError) as failed:
        list(connector.list_changes("contacts", None))
    assert failed.value.code == "ErrorCorruptData"
    (page,) = list(connector.list_changes("contacts", None))  # no sync state was handed out
    assert [i.crm_id for i in page.created] == ["crm-1"]
