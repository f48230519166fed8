"""Every sync rule of the contract, through the sync service and the CRM, against the in-memory
connector, through exchangelib against the EWS test server, through the DAV connector against a
real Radicale (and Xandikos) and through the Graph connector: what a salesperson sees in her
mailbox and what the CRM keeps. Each scenario runs on the connectors where it could turn out
differently (runs_on.py)."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Appointment, Contact, Task
from fieldsync.models.sync import (
    MailboxSyncState,
    RejectedChange,
    SyncConflict,
    SyncLink,
    SyncPolicy,
)

from .runs_on import connector_scenario, dav_server_scenario, engine_scenario

pytestmark = pytest.mark.django_db

TRACKED = ("Tracked to CRM",)


@pytest.fixture
def secret(mailbox) -> str:
    """The contact column the field-security scenarios secure: the government ID, or where the
    mailbox cannot hold it (vCard has no such property: connectors.dav.UNSUPPORTED) the spouse's
    name, a personal detail a vCard does hold."""
    return "spouse_partner_name" if mailbox.kind == "dav" else "government_id"


def item_id_of(record) -> str:
    return SyncLink.objects.get(crm_id=record.pk).item_id


def item(mailbox, record, folder: str = "contacts"):
    return mailbox.items(folder)[item_id_of(record)]


def contact(owner, **values) -> Contact:
    values.setdefault("first_name", "Ann")
    values.setdefault("last_name", "Lee")
    return Contact.objects.create(owner=owner, **values)


def outlook_contact(mailbox, *, tracked: bool = True, **fields) -> str:
    """A contact typed in Outlook."""
    return mailbox.create("contacts", fields, tracked=tracked)


# -- scope and creates --------------------------------------------------------------------------


@dav_server_scenario
def test_first_sync_puts_the_owners_records_in_the_mailbox_carrying_their_crm_ids(
    sync, sally, mailbox, make_user
):
    mine = [contact(sally, last_name=f"Lee {i}") for i in range(5)]
    contact(make_user("bob"), last_name="Not Sally's")
    report = sync()
    assert report.counts["exchange_created"] == 5
    items = mailbox.items("contacts").values()
    assert sorted(i.crm_id for i in items) == sorted(str(c.pk) for c in mine)
    assert all(i.categories == TRACKED for i in items)
    assert item(mailbox, mine[0]).fields["last_name"] == "Lee 0"
    again = sync()  # our own creates come back as changes: nothing to do
    assert again.plan.records == ()
    assert sync().counts["items_seen"] == 0


@engine_scenario
def test_default_filter_syncs_appointments_the_owner_attends_among_those_she_may_sync(
    sync, sally, mailbox, make_user, admin
):
    from security import services

    bob = make_user("bob", email="bob@contoso.test")
    start = datetime.datetime(2026, 12, 1, 9, tzinfo=datetime.UTC)

    def meeting(subject: str, attendees: str) -> Appointment:
        record = Appointment.objects.create(
            owner=bob,
            subject=subject,
            organizer="bob@contoso.test",
            required_attendees=attendees,
            scheduled_start=start,
            scheduled_end=start + datetime.timedelta(hours=1),
        )
        services.share_record(record=record, user_or_team=sally, rights=["sync"], actor=admin)
        return record

    attended = meeting("Pipeline review", "sally@contoso.test; carl@contoso.test")
    meeting("Board meeting", "carl@contoso.test")  # shared with her, but she does not attend
    Appointment.objects.create(  # she attends, but may not read it
        owner=bob,
        subject="Private",
        required_attendees="sally@contoso.test",
        scheduled_start=start,
        scheduled_end=start,
    )
    report = sync("appointment")
    assert report.counts["exchange_created"] == 1
    (only,) = mailbox.items("calendar").values()
    assert (only.crm_id, only.fields["subject"]) == (str(attended.pk), "Pipeline review")


@connector_scenario
def test_item_created_in_outlook_enters_the_crm_only_when_tracked(sync, sally, mailbox):
    tracked = outlook_contact(mailbox, first_name="Tom", last_name="Tracked", job_title="CFO")
    outlook_contact(mailbox, tracked=False, first_name="Una", last_name="Untracked")
    report = sync()
    assert report.counts["crm_created"] == 1
    (created,) = Contact.objects.all()
    assert (created.last_name, created.job_title, created.owner) == ("Tracked", "CFO", sally)
    assert mailbox.items("contacts")[tracked].crm_id == str(created.pk)
    sync()
    sync()
    assert Contact.objects.count() == 1


@engine_scenario
def test_creating_from_outlook_needs_create_rights_on_each_secured_field_it_sets(
    sync, sally, mailbox, secure, secret
):
    secure("contact", secret, "read", "update")  # no create
    refused = outlook_contact(mailbox, first_name="Ida", **{secret: "123-45"})
    outlook_contact(mailbox, first_name="Joe", last_name="Plain")
    sync()
    assert list(Contact.objects.values_list("first_name", flat=True)) == ["Joe"]
    (rejected,) = RejectedChange.objects.all()
    assert (rejected.item_id, rejected.field, rejected.offered_value, rejected.reason) == (
        refused,
        secret,
        "123-45",
        "no_field_create_permission",
    )


# -- directions ----------------------------------------------------------------------------------


# A connector's part: the item keeps the field the sync no longer writes (a DAV PUT sends the
# whole card, a Graph PATCH and an EWS UpdateItem only what changed).
@connector_scenario
def test_personal_notes_set_to_none_stay_private_in_outlook(sync, sally, mailbox, set_direction):
    ann = contact(sally, description="Met at the trade fair")
    sync()
    set_direction("contact", "description", "none")
    mailbox.edit("contacts", item_id_of(ann), description="Private: prefers calls after 6pm")
    ann.description = "Key account since 2024"
    ann.job_title = "Buyer"
    ann.save()
    sync()
    sync()
    ann.refresh_from_db()
    outlook = item(mailbox, ann)
    assert ann.description == "Key account since 2024"
    assert outlook.fields["description"] == "Private: prefers calls after 6pm"
    assert outlook.fields["job_title"] == "Buyer"
    leaked = SyncConflict.objects.filter(exchange_value__icontains="6pm").exists()
    assert not leaked and not RejectedChange.objects.exists()
    # Not even the sync's own status keeps them: only a digest, to notice a change.
    assert "6pm" not in str(SyncLink.objects.get(crm_id=ann.pk).base)

    # Should the admin make Notes sync both ways again, the next run reads the item again:
    # both sides changed since they last agreed, so the policy (crm_wins) decides and the
    # Outlook notes are kept in a conflict record, not lost.
    set_direction("contact", "description", "both")
    sync()
    assert item(mailbox, ann).fields["description"] == "Key account since 2024"
    kept = SyncConflict.objects.get(crm_id=ann.pk, field="description")
    assert kept.exchange_value == "Private: prefers calls after 6pm"


@engine_scenario
def test_to_outlook_and_to_crm_fields_flow_one_way(sync, sally, mailbox, set_direction):
    ann = contact(sally, job_title="Buyer", department="Purchasing")
    sync()
    set_direction("contact", "job_title", "to_outlook")
    set_direction("contact", "department", "to_crm")
    item_id = item_id_of(ann)
    mailbox.edit("contacts", item_id, job_title="Chief buyer", department="Procurement")
    sync()
    ann.refresh_from_db()
    assert (ann.job_title, ann.department) == ("Buyer", "Procurement")
    ann.job_title, ann.department = "Head of purchasing", "Sourcing"
    ann.save()
    sync()
    outlook = item(mailbox, ann)
    assert (outlook.fields["job_title"], outlook.fields["department"]) == (
        "Head of purchasing",
        "Procurement",
    )
    lost = SyncConflict.objects.get(field="job_title")
    assert (lost.exchange_value, lost.outcome, lost.reason) == (
        "Chief buyer",
        "crm",
        "direction to_outlook",
    )


@engine_scenario
def test_direction_flip_applies_next_sync_without_clobbering_either_side(
    sync, sally, mailbox, set_direction
):
    set_direction("contact", "description", "none")
    filled = contact(sally, description="CRM notes")
    empty = contact(sally, description="")
    both = contact(sally, description="CRM side")
    sync()
    mailbox.edit("contacts", item_id_of(empty), description="Outlook notes")
    mailbox.edit("contacts", item_id_of(both), description="Outlook side")
    sync()
    set_direction("contact", "description", "both")
    report = sync()  # no record changed: the run revisits the links, reading neither side
    assert report.counts["items_seen"] == 0
    for record in (filled, empty, both):
        record.refresh_from_db()
    assert item(mailbox, filled).fields["description"] == "CRM notes"
    assert empty.description == "Outlook notes"
    assert both.description == item(mailbox, both).fields["description"] == "CRM side"
    kept = SyncConflict.objects.get(crm_id=both.pk)
    assert (kept.crm_value, kept.exchange_value, kept.base_value) == (
        "CRM side",
        "Outlook side",
        None,
    )


# -- field-level security ------------------------------------------------------------------------


# A connector's part: a column left out of every write is neither sent nor cleared.
@connector_scenario
def test_unreadable_field_never_reaches_exchange_nor_clears_it(
    sync, sally, mailbox, secure, secret
):
    secure("contact", secret, "update")  # may not read
    ann = contact(sally, **{secret: "SECRET-1"})
    sync()
    assert item(mailbox, ann).fields[secret] == ""
    mailbox.edit("contacts", item_id_of(ann), **{secret: "typed in Outlook"})
    setattr(ann, secret, "SECRET-2")
    ann.save()
    sync()
    assert item(mailbox, ann).fields[secret] == "typed in Outlook"


@engine_scenario
def test_exchange_edit_of_a_field_the_owner_may_not_update_is_a_rejected_change(
    sync, sally, mailbox, secure, secret
):
    secure("contact", secret, "read", "create")  # no update
    ann = contact(sally, **{secret: "111"})
    sync()
    mailbox.edit("contacts", item_id_of(ann), **{secret: "999"})
    sync()
    ann.refresh_from_db()
    assert getattr(ann, secret) == "111"
    assert item(mailbox, ann).fields[secret] == "111"  # put back
    (rejected,) = RejectedChange.objects.all()
    assert (rejected.crm_id, rejected.field, rejected.offered_value) == (
        ann.pk,
        secret,
        "999",
    )


@engine_scenario
def test_exchange_edit_of_a_record_shared_read_only_is_rejected(
    sync, sally, mailbox, make_user, admin
):
    from security import services

    SyncPolicy.objects.update_or_create(pk=1, defaults={"contact_filter": "all"})
    bob = make_user("bob")
    shared = contact(bob, job_title="Buyer")
    services.share_record(record=shared, user_or_team=sally, rights=["sync"], actor=admin)
    sync()
    mailbox.edit("contacts", item_id_of(shared), job_title="CEO")
    sync()
    shared.refresh_from_db()
    assert shared.job_title == "Buyer"
    (rejected,) = RejectedChange.objects.all()
    assert rejected.reason == "no_record_write_permission"


# -- record access -------------------------------------------------------------------------------


@engine_scenario
@pytest.mark.parametrize("keep_copy", [False, True])
def test_lost_access_removes_or_keeps_the_copy_and_returning_access_does_not_duplicate(
    sync, sally, mailbox, make_user, admin, keep_copy
):
    from security import services

    SyncPolicy.objects.update_or_create(
        pk=1, defaults={"contact_filter": "all", "keep_copy_on_lost_access": keep_copy}
    )
    bob = make_user("bob")
    shared = contact(bob, last_name="Shared")
    services.share_record(record=shared, user_or_team=sally, rights=["sync"], actor=admin)
    sync()
    assert len(mailbox.items("contacts")) == 1
    services.revoke_share(record=shared, user_or_team=sally, actor=admin)
    report = sync()
    assert len(mailbox.items("contacts")) == (1 if keep_copy else 0)
    assert report.counts["suspended" if keep_copy else "exchange_deleted"] == 1
    shared.job_title = "Changed while away"
    shared.save()
    sync()
    services.share_record(record=shared, user_or_team=sally, rights=["sync"], actor=admin)
    sync()
    sync()
    (only,) = mailbox.items("contacts").values()
    assert only.crm_id == str(shared.pk)
    assert only.fields["job_title"] == "Changed while away"


@dav_server_scenario
def test_crm_delete_removes_the_copy_and_exchange_delete_only_untracks(sync, sally, mailbox):
    gone, kept = contact(sally, last_name="Gone"), contact(sally, last_name="Kept")
    sync()
    gone.delete()
    kept_item = item_id_of(kept)
    mailbox.delete("contacts", kept_item)
    report = sync()
    assert report.counts["exchange_deleted"] == 1 and report.counts["untracked"] == 1
    assert mailbox.items("contacts") == {}
    kept.refresh_from_db()  # never deleted in the CRM
    kept.job_title = "Edited after untracking"
    kept.save()
    sync()
    assert mailbox.items("contacts") == {}
    assert SyncLink.objects.get(crm_id=kept.pk).state == "untracked"


@engine_scenario
def test_restore_policy_puts_an_item_deleted_in_outlook_back(sync, sally, mailbox):
    SyncPolicy.objects.update_or_create(pk=1, defaults={"remote_delete_policy": "restore"})
    ann = contact(sally)
    sync()
    mailbox.delete("contacts", item_id_of(ann))
    sync()
    (back,) = mailbox.items("contacts").values()
    assert back.crm_id == str(ann.pk)


# -- the mass-change guard -------------------------------------------------------------------


# A connector's part: every delete of a wiped mailbox comes back in the change listing.
@connector_scenario
def test_a_wiped_mailbox_stops_the_run_until_an_admin_confirms(sync, sally, mailbox):
    from fieldsync.service.sync import confirm_mass_change

    SyncPolicy.objects.update_or_create(pk=1, defaults={"mass_change_min_items": 3})
    records = [contact(sally, last_name=f"c{i}") for i in range(4)]
    sync()
    for item_id in mailbox.items("contacts"):  # the mailbox was wiped
        mailbox.delete("contacts", item_id)
    report = sync()
    assert "empty" in report.guard
    state = MailboxSyncState.objects.get(owner=sally, entity="contact")
    assert "empty" in state.guard_reason
    assert SyncLink.objects.filter(state="active").count() == 4
    assert sync().guard  # still stopped
    confirm_mass_change(owner=sally, entity="contact")
    report = sync()
    assert report.guard == "" and report.counts["untracked"] == 4
    assert Contact.objects.count() == len(records)  # the CRM lost nothing


# -- conflicts -----------------------------------------------------------------------------------


@engine_scenario
@pytest.mark.parametrize(
    ("policy", "winner"), [("crm_wins", "CRM title"), ("exchange_wins", "Outlook title")]
)
def test_same_field_changed_on_both_sides_is_decided_by_policy_and_recorded(
    sync, sally, mailbox, policy, winner
):
    SyncPolicy.objects.update_or_create(pk=1, defaults={"conflict_policy": policy})
    ann = contact(sally, job_title="Base title")
    sync()
    mailbox.edit("contacts", item_id_of(ann), job_title="Outlook title")
    ann.job_title = "CRM title"
    ann.save()
    sync()
    ann.refresh_from_db()
    assert ann.job_title == item(mailbox, ann).fields["job_title"] == winner
    c = SyncConflict.objects.get()
    assert (c.base_value, c.crm_value, c.exchange_value) == (
        "Base title",
        "CRM title",
        "Outlook title",
    )
    assert c.outcome == ("crm" if policy == "crm_wins" else "exchange")


@connector_scenario
def test_multi_column_field_and_typed_values_round_trip(sync, sally, mailbox):
    ann = contact(sally, address1_city="Berlin", birthday=datetime.date(1990, 5, 17))
    sync()
    outlook = item(mailbox, ann)
    assert outlook.fields["address1_city"] == "Berlin"
    assert outlook.fields["birthday"] == datetime.date(1990, 5, 17)
    mailbox.edit("contacts", item_id_of(ann), address1_city="Hamburg", first_name="Anna")
    sync()
    ann.refresh_from_db()
    assert (ann.address1_city, ann.first_name) == ("Hamburg", "Anna")
    task = Task.objects.create(
        owner=sally, subject="Call back", due_date=datetime.date(2026, 12, 3)
    )
    sync("task")
    assert item(mailbox, task, "tasks").fields["due_date"] == datetime.date(2026, 12, 3)


@connector_scenario
def test_a_tasks_progress_round_trips_where_the_mailbox_can_hold_it(sync, sally, mailbox):
    task = Task.objects.create(
        owner=sally, subject="Quote", status="in_progress", percent_complete=40
    )
    sync("task")
    item_id = item_id_of(task)
    if mailbox.kind == "graph":
        # Microsoft To Do has no percent complete (connectors.graph.UNSUPPORTED, listed on the
        # mailbox and Synchronized fields pages): Graph cannot hold this scenario, so the field
        # is left alone on both sides while the rest of the task syncs.
        from connectors.graph import GraphConnector

        assert "percent_complete" not in GraphConnector.supported_columns("tasks")
        assert "percent_complete" not in mailbox.items("tasks")[item_id].fields
        mailbox.edit("tasks", item_id, subject="Quote v2")
        sync("task")
        task.refresh_from_db()
        assert (task.subject, task.percent_complete) == ("Quote v2", 40)
        return
    assert mailbox.items("tasks")[item_id].fields["percent_complete"] == 40
    mailbox.edit("tasks", item_id, percent_complete=75)
    sync("task")
    task.refresh_from_db()
    assert task.percent_complete == 75


# -- crash safety and concurrency ------------------------------------------------------------


@dav_server_scenario
def test_a_crash_between_batches_is_safe_to_rerun(sync, sally, mailbox, monkeypatch):
    from fieldsync.service import apply as sync_apply

    records = [contact(sally, last_name=f"c{i}") for i in range(8)]
    born = [outlook_contact(mailbox, first_name=f"o{i}") for i in range(3)]
    real_commit = sync_apply.DjangoSink.commit
    calls = {"n": 0}

    def crashing_commit(self, batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real_commit(self, batch)

    monkeypatch.setattr(sync_apply.DjangoSink, "commit", crashing_commit)
    with pytest.raises(RuntimeError):
        sync()
    monkeypatch.setattr(sync_apply.DjangoSink, "commit", real_commit)
    sync()
    sync()
    carried = [i.crm_id for i in mailbox.items("contacts").values()]
    assert len(carried) == len(set(carried)) == 11
    assert Contact.objects.count() == 11
    assert {str(c.pk) for c in records} <= set(carried)
    items = mailbox.items("contacts")
    assert all(items[i].crm_id for i in born)


@dav_server_scenario
def test_an_outlook_edit_during_the_run_is_not_overwritten(sync, sally, mailbox):
    ann = contact(sally, job_title="Buyer")
    sync()
    item_id = item_id_of(ann)
    ann.job_title = "CRM title"
    ann.save()
    original = mailbox.connector.update_items

    def edit_first(folder, updates, **kw):
        mailbox.edit("contacts", item_id, job_title="Typed meanwhile")  # a stale change key now
        return original(folder, updates, **kw)

    mailbox.connector.update_items = edit_first
    report = sync()
    assert report.failed == [str(ann.pk)]
    assert item(mailbox, ann).fields["job_title"] == "Typed meanwhile"  # refused, not overwritten
    mailbox.connector.update_items = original
    sync()
    ann.refresh_from_db()
    # Both edits are now a conflict: the policy (crm_wins) decides and the loser is kept.
    assert item(mailbox, ann).fields["job_title"] == ann.job_title == "CRM title"
    assert SyncConflict.objects.get().exchange_value == "Typed meanwhile"


@engine_scenario
def test_dry_run_reports_without_writing(sync, sally, mailbox):
    contact(sally)
    report = sync(dry_run=True)
    assert report.counts["exchange_created"] == 1
    assert mailbox.items("contacts") == {} and not SyncLink.objects.exists()
    assert sync().counts["exchange_created"] == 1


# -- cost ----------------------------------------------------------------------------------------


@dav_server_scenario
def test_no_change_sync_costs_the_same_queries_and_requests_whatever_the_size(sync, sally, mailbox):
    def quiet_cost(n: int) -> tuple[int, list[str]]:
        Contact.objects.filter(owner=sally).delete()
        Contact.objects.bulk_create([Contact(owner=sally, last_name=f"c{i}") for i in range(n)])
        sync(batch_size=100)
        sync(batch_size=100)
        mailbox.reset_counts()
        with CaptureQueriesContext(connection) as queries:
            report = sync(batch_size=100)
        assert report.plan.records == ()
        return len(queries), mailbox.requests()

    small, large = quiet_cost(5), quiet_cost(60)
    assert small == large
    assert small[1] == {"SyncFolderItems": 1}


@connector_scenario
def test_calendar_holds_appointments_and_series_each_synced_by_its_own_entity(sync, sally, mailbox):
    from crm.models import RecurringAppointment

    start = datetime.datetime(2026, 12, 7, 9, tzinfo=datetime.UTC)
    one = Appointment.objects.create(
        owner=sally,
        subject="Kick-off",
        scheduled_start=start,
        scheduled_end=start + datetime.timedelta(hours=1),
    )
    series = RecurringAppointment.objects.create(
        owner=sally,
        subject="Weekly pipeline",
        scheduled_start=start,
        scheduled_end=start + datetime.timedelta(minutes=30),
        recurrence_pattern="FREQ=WEEKLY;BYDAY=MO;COUNT=10",
    )
    assert sync("appointment").counts["exchange_created"] == 1
    assert sync("recurring_appointment").counts["exchange_created"] == 1
    for entity in ("appointment", "recurring_appointment"):  # each ignores the other's items
        assert sync(entity).plan.records == ()
    items = mailbox.items("calendar")
    assert items[item_id_of(one)].fields["recurrence_pattern"] == ""
    assert items[item_id_of(series)].fields["recurrence_pattern"].startswith("FREQ=WEEKLY")
    mailbox.edit("calendar", item_id_of(series), subject="Weekly pipeline (moved)")
    sync("recurring_appointment")
    series.refresh_from_db()
    assert series.subject == "Weekly pipeline (moved)"
    assert Appointment.objects.count() == 1
