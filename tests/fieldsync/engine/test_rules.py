"""Each sync rule of the product's contract, shown on a small world through the pure engine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fieldsync.directions import Direction
from fieldsync.engine import (
    UNKNOWN,
    ConflictPolicy,
    FieldBase,
    FieldRule,
    LinkState,
    Outcome,
    Policy,
    RejectReason,
    RemoteDeletePolicy,
    Rules,
    Sealed,
    decide_field,
)

from .sim import Crash, CrashAt, World

ADDR_BLANK = ("", "")


def rules(**overrides: FieldRule) -> Rules:
    fields = {
        "subject": FieldRule(Direction.BOTH),
        "description": FieldRule(Direction.BOTH),
        "job": FieldRule(Direction.BOTH),
        "address": FieldRule(Direction.BOTH, blank=ADDR_BLANK, crm_default=ADDR_BLANK),
    }
    fields.update(overrides)
    return Rules(fields)


DEFAULT_POLICY = Policy()


def synced_world(
    r: Rules, policy: Policy = DEFAULT_POLICY, **values: object
) -> tuple[World, str, str]:
    """A world with one contact synced to the mailbox."""
    w = World(r)
    crm_id = w.crm_create({"subject": "Ann", **values})
    w.sync(policy)
    w.sync(policy)
    item_id = w.links[crm_id].item_id
    return w, crm_id, item_id


# -- directions ----------------------------------------------------------------------------------


def test_personal_notes_set_to_none_stay_private_in_outlook():
    policy = Policy()
    w, crm_id, item_id = synced_world(rules(), policy, description="Public bio")
    assert w.remote[item_id].values["description"] == "Public bio"
    # The admin sets Notes to "don't synchronize"; the salesperson writes private notes.
    w.rules = rules(description=FieldRule(Direction.NONE))
    w.remote_edit(item_id, description="Private: plays golf, divorcing")
    w.crm_edit(crm_id, description="Bio v2", subject="Ann B.")
    w.sync(policy)
    w.sync(policy)
    assert w.crm[crm_id].values["description"] == "Bio v2"
    assert w.remote[item_id].values["description"] == "Private: plays golf, divorcing"
    assert w.remote[item_id].values["subject"] == "Ann B."  # the other fields still sync
    leaked = [c for c in w.conflicts if "golf" in str(c.remote_value)]
    assert leaked == []


def test_none_field_is_not_cleared_when_the_other_side_is_empty():
    w = World(rules(description=FieldRule(Direction.NONE)))
    crm_id = w.crm_create({"subject": "Ann", "description": "CRM only"})
    w.sync(Policy())
    item_id = w.links[crm_id].item_id
    w.remote_edit(item_id, description="Outlook only")
    w.crm_edit(crm_id, description="")
    w.sync(Policy())
    assert w.remote[item_id].values["description"] == "Outlook only"
    assert w.crm[crm_id].values["description"] == ""


def test_to_outlook_field_ignores_exchange_edits_until_the_crm_changes_and_records_the_loss():
    w, crm_id, item_id = synced_world(rules(job=FieldRule(Direction.TO_OUTLOOK)), job="Buyer")
    w.remote_edit(item_id, job="Chief buyer")
    w.sync(Policy())
    assert w.crm[crm_id].values["job"] == "Buyer"
    assert w.remote[item_id].values["job"] == "Chief buyer"  # left alone, not reverted
    w.crm_edit(crm_id, job="Head of purchasing")
    w.sync(Policy())
    assert w.remote[item_id].values["job"] == "Head of purchasing"
    (conflict,) = w.conflicts
    assert (conflict.remote_value, conflict.outcome) == ("Chief buyer", Outcome.CRM)
    assert conflict.reason == "direction to_outlook"


def test_to_crm_field_is_never_written_to_exchange():
    w, crm_id, item_id = synced_world(rules(job=FieldRule(Direction.TO_CRM)), job="Buyer")
    assert w.remote[item_id].values["job"] == ""
    w.remote_edit(item_id, job="Buyer (Outlook)")
    w.sync(Policy())
    assert w.crm[crm_id].values["job"] == "Buyer (Outlook)"
    w.crm_edit(crm_id, job="Typed in the CRM")
    w.sync(Policy())
    assert w.remote[item_id].values["job"] == "Buyer (Outlook)"
    w.remote_edit(item_id, job="Typed in Outlook")
    w.sync(Policy())
    assert w.crm[crm_id].values["job"] == "Typed in Outlook"
    # Both CRM values that Outlook overwrote are kept: the first one never reached Outlook.
    assert {(c.crm_value, c.outcome) for c in w.conflicts} == {
        ("Buyer", Outcome.EXCHANGE),
        ("Typed in the CRM", Outcome.EXCHANGE),
    }


def test_new_exchange_item_gets_no_to_crm_or_none_values_from_the_crm():
    r = rules(job=FieldRule(Direction.TO_CRM), description=FieldRule(Direction.NONE))
    w = World(r)
    crm_id = w.crm_create({"subject": "Ann", "job": "Buyer", "description": "secret"})
    w.sync(Policy())
    item = w.item_for(crm_id)
    assert item.values == {"subject": "Ann", "job": "", "description": "", "address": ADDR_BLANK}


def test_direction_flip_applies_next_sync_without_clobbering():
    policy = Policy()
    r_none = rules(description=FieldRule(Direction.NONE))
    w = World(r_none)
    a = w.crm_create({"subject": "A", "description": "crm text"})
    b = w.crm_create({"subject": "B", "description": ""})
    c = w.crm_create({"subject": "C", "description": "crm C"})
    w.sync(policy)
    w.remote_edit(w.links[b].item_id, description="outlook text")
    w.remote_edit(w.links[c].item_id, description="outlook C")
    w.sync(policy)
    # The admin flips Notes to both ways. No record changed since: the next run revisits the
    # links (their status holds both sides' values) without reading either side again.
    w.rules = rules()
    w.sync(policy)
    assert w.item_for(a).values["description"] == "crm text"  # empty side filled
    assert w.crm[b].values["description"] == "outlook text"
    # Both sides had a value: the policy decides, and the loser is kept in a conflict.
    assert w.item_for(c).values["description"] == "crm C"
    assert w.crm[c].values["description"] == "crm C"
    (conflict,) = w.conflicts
    assert (conflict.crm_value, conflict.remote_value, conflict.base) == (
        "crm C",
        "outlook C",
        UNKNOWN,
    )


# -- field-level security ------------------------------------------------------------------------


def test_unreadable_field_never_reaches_exchange_and_does_not_clear_it():
    r = rules(job=FieldRule(Direction.BOTH, can_read=False))
    w = World(r)
    crm_id = w.crm_create({"subject": "Ann", "job": "Secret title"})
    w.sync(Policy())
    item_id = w.links[crm_id].item_id
    assert w.remote[item_id].values["job"] == ""
    # The owner may update but not read: an Outlook edit would overwrite a value they cannot
    # see, so it is refused and recorded, and the Outlook value stays where it was typed.
    w.remote_edit(item_id, job="Title typed in Outlook")
    w.sync(Policy())
    assert w.crm[crm_id].values["job"] == "Secret title"
    assert w.remote[item_id].values["job"] == "Title typed in Outlook"
    assert [(x.field, x.offered, x.reason) for x in w.rejected] == [
        ("job", "Title typed in Outlook", "no_read_permission")
    ]
    w.crm_edit(crm_id, job="Another secret")
    w.sync(Policy())
    w.sync(Policy())
    assert w.remote[item_id].values["job"] == "Title typed in Outlook"
    assert len(w.rejected) == 1, "the same refused value is recorded once"


def test_exchange_edit_of_an_unupdatable_field_is_a_rejected_change_and_is_reverted():
    w, crm_id, item_id = synced_world(rules(job=FieldRule(Direction.BOTH, can_update=False)))
    w.crm_edit(crm_id, job="Buyer")
    w.sync(Policy())
    w.remote_edit(item_id, job="CEO")
    w.sync(Policy())
    assert w.crm[crm_id].values["job"] == "Buyer"
    assert w.remote[item_id].values["job"] == "Buyer"
    (rejected,) = w.rejected
    assert (rejected.field, rejected.offered, rejected.reason) == (
        "job",
        "CEO",
        RejectReason.NO_UPDATE,
    )
    w.sync(Policy())
    assert len(w.rejected) == 1


def test_rejected_change_on_a_to_crm_field_is_recorded_once():
    r = rules(job=FieldRule(Direction.TO_CRM, can_update=False))
    w, crm_id, item_id = synced_world(r)
    w.remote_edit(item_id, job="CEO")
    w.remote_edit(item_id, subject="Ann 2")
    w.sync(Policy())
    w.remote_edit(item_id, subject="Ann 3")
    w.sync(Policy())
    assert [x.offered for x in w.rejected] == ["CEO"]
    assert w.crm[crm_id].values["job"] == ""


def test_creating_a_crm_record_from_exchange_needs_entity_and_field_create_rights():
    policy = Policy()
    r = rules(job=FieldRule(Direction.BOTH, can_create=False))
    w = World(r)
    ok = w.remote_create({"subject": "Bob"})
    refused = w.remote_create({"subject": "Carl", "job": "CFO"})
    untracked = w.remote_create({"subject": "Dan"}, tracked=False)
    w.sync(policy)
    assert [rec.values["subject"] for rec in w.crm.values()] == ["Bob"]
    assert w.remote[ok].crm_id in w.crm
    assert w.remote[refused].crm_id is None and w.remote[untracked].crm_id is None
    assert {(x.item_id, x.field, x.offered) for x in w.rejected} == {(refused, "job", "CFO")}

    w2 = World(replace(rules(), can_create_entity=False))
    item = w2.remote_create({"subject": "Bob"})
    w2.sync(policy)
    assert w2.crm == {}
    assert [(x.item_id, x.reason) for x in w2.rejected] == [(item, RejectReason.NO_CREATE)]


def test_exchange_born_record_does_not_take_none_or_to_outlook_values():
    r = rules(description=FieldRule(Direction.NONE), job=FieldRule(Direction.TO_OUTLOOK))
    w = World(r)
    item_id = w.remote_create({"subject": "Bob", "description": "private", "job": "CFO"})
    w.sync(Policy())
    w.sync(Policy())
    (rec,) = w.crm.values()
    assert (rec.values["description"], rec.values["job"]) == ("", "")
    assert w.remote[item_id].values["description"] == "private"
    assert w.remote[item_id].values["job"] == "CFO"


# -- record access -------------------------------------------------------------------------------


@pytest.mark.parametrize("keep_copy", [False, True])
def test_lost_access_removes_or_keeps_the_copy_and_regained_access_does_not_duplicate(keep_copy):
    policy = Policy(keep_copy_on_lost_access=keep_copy)
    w, crm_id, item_id = synced_world(rules(), policy)
    w.set_scope(crm_id, False)
    w.sync(policy)
    if keep_copy:
        assert item_id in w.remote and w.links[crm_id].state == LinkState.SUSPENDED
        w.remote_edit(item_id, subject="Edited while unsynced")
    else:
        assert item_id not in w.remote and crm_id not in w.links
    w.crm_edit(crm_id, job="Changed while away")
    w.sync(policy)
    w.set_scope(crm_id, True)
    w.sync(policy)
    w.sync(policy)
    assert len(w.items_carrying(crm_id)) == 1
    item = w.item_for(crm_id)
    assert item.values["job"] == "Changed while away"
    if keep_copy:
        assert w.crm[crm_id].values["subject"] == "Edited while unsynced"


def test_crm_delete_removes_the_mailbox_copy_and_keeps_exchange_only_edits_as_conflicts():
    w, crm_id, item_id = synced_world(rules())
    w.remote_edit(item_id, job="Typed in Outlook")
    w.crm_delete(crm_id)
    w.sync(Policy())
    assert item_id not in w.remote and crm_id not in w.links
    assert [(c.field, c.remote_value) for c in w.conflicts] == [("job", "Typed in Outlook")]


def test_exchange_delete_untracks_and_never_deletes_crm_data():
    w, crm_id, item_id = synced_world(rules())
    w.remote_delete(item_id)
    w.sync(Policy())
    assert crm_id in w.crm
    assert w.links[crm_id].state == LinkState.UNTRACKED
    w.crm_edit(crm_id, subject="Still here")
    w.sync(Policy())
    assert w.remote == {}


def test_exchange_delete_with_restore_policy_puts_the_item_back():
    policy = Policy(remote_delete=RemoteDeletePolicy.RESTORE)
    w, crm_id, item_id = synced_world(rules(), policy)
    w.remote_delete(item_id)
    w.sync(policy)
    assert w.items_carrying(crm_id) != [item_id] and len(w.items_carrying(crm_id)) == 1


# -- mass-change guard ---------------------------------------------------------------------------


def test_mass_change_guard_stops_a_wipe_until_confirmed():
    policy = Policy(mass_change_share=0.5, mass_change_min_items=4)
    w = World(rules())
    ids = [w.crm_create({"subject": f"c{i}"}) for i in range(6)]
    w.sync(policy)
    for item_id in list(w.remote):
        w.remote_delete(item_id)
    w.crm_edit(ids[0], subject="edited meanwhile")
    plan = w.sync(policy)
    assert plan.guard is not None and "empty" in plan.guard.reason
    assert plan.records == ()
    assert all(link.state == LinkState.ACTIVE for link in w.links.values())
    again = w.sync(policy)  # still stopped: the run did not advance past the wipe
    assert again.guard is not None
    w.sync(policy, confirmed=True)
    assert all(link.state == LinkState.UNTRACKED for link in w.links.values())


def test_mass_change_guard_counts_removals_against_the_share():
    policy = Policy(mass_change_share=0.5, mass_change_min_items=4)
    w = World(rules())
    ids = [w.crm_create({"subject": f"c{i}"}) for i in range(6)]
    w.sync(policy)
    for crm_id in ids[:4]:
        w.set_scope(crm_id, False)
    plan = w.sync(policy)
    assert plan.guard is not None and "4 of 6" in plan.guard.reason
    assert len(w.remote) == 6


# -- conflicts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("conflict", "crm_time", "remote_time", "winner"),
    [
        (ConflictPolicy.CRM_WINS, 1.0, 2.0, "crm"),
        (ConflictPolicy.EXCHANGE_WINS, 2.0, 1.0, "exchange"),
        (ConflictPolicy.LATEST_WINS, 1.0, 2.0, "exchange"),
        (ConflictPolicy.LATEST_WINS, 2.0, 1.0, "crm"),
    ],
)
def test_conflict_policy_decides_and_records_base_both_values_and_outcome(
    conflict, crm_time, remote_time, winner
):
    d = decide_field(
        "job",
        FieldRule(Direction.BOTH),
        FieldBase.same("base"),
        "crm",
        "exchange",
        policy=Policy(conflict=conflict),
        crm_time=crm_time,
        remote_time=remote_time,
    )
    assert (d.send, d.take) == (winner == "crm", winner == "exchange")
    assert d.conflict is not None
    assert (d.conflict.base, d.conflict.crm_value, d.conflict.remote_value) == (
        "base",
        "crm",
        "exchange",
    )
    assert d.conflict.outcome == winner
    assert d.base == FieldBase.same(winner)


def test_same_edit_on_both_sides_is_not_a_conflict():
    w, crm_id, item_id = synced_world(rules())
    w.crm_edit(crm_id, job="CFO")
    w.remote_edit(item_id, job="CFO")
    w.sync(Policy())
    assert w.conflicts == {}


def test_multi_column_field_travels_as_one_value():
    w, crm_id, item_id = synced_world(rules())
    w.crm_edit(crm_id, address=("1 Main St", "Springfield"))
    w.sync(Policy())
    assert w.remote[item_id].values["address"] == ("1 Main St", "Springfield")
    w.remote_edit(item_id, address=("2 Side St", "Springfield"))
    w.sync(Policy())
    assert w.crm[crm_id].values["address"] == ("2 Side St", "Springfield")


# -- crash safety --------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["record", "remote", "commit"])
def test_a_crash_between_batches_is_safe_to_rerun(phase):
    w = World(rules())
    crm_ids = [w.crm_create({"subject": f"c{i}"}) for i in range(7)]
    born = [w.remote_create({"subject": f"r{i}"}) for i in range(4)]
    with pytest.raises(Crash):
        w.sync(Policy(), crash=CrashAt(batch=1, phase=phase, remote_ops=1), batch_size=3)
    w.sync(Policy())
    w.sync(Policy())
    for crm_id in crm_ids:
        assert len(w.items_carrying(crm_id)) == 1
    assert len(w.crm) == 11
    assert len(w.remote) == 11
    for item_id in born:
        assert w.remote[item_id].crm_id in w.crm


@pytest.mark.parametrize("keep_copy", [False, True])
def test_a_copy_created_before_a_crash_follows_the_access_rules_and_is_not_duplicated(keep_copy):
    policy = Policy(keep_copy_on_lost_access=keep_copy)
    w = World(rules())
    crm_id = w.crm_create({"subject": "Ann"})
    with pytest.raises(Crash):  # the item is created, its status is not saved
        w.sync(policy, crash=CrashAt(batch=0, phase="remote"))
    w.set_scope(crm_id, False)
    w.sync(policy)
    assert len(w.items_carrying(crm_id)) == (1 if keep_copy else 0)
    w.set_scope(crm_id, True)
    w.sync(policy)
    w.sync(policy)
    assert len(w.items_carrying(crm_id)) == 1
    assert w.links[crm_id].state == LinkState.ACTIVE


def test_exchange_edit_of_a_record_the_owner_may_not_write_is_rejected():
    w, crm_id, item_id = synced_world(rules())
    w.crm[crm_id].writable = False  # e.g. shared with the owner read-only
    w.remote_edit(item_id, job="CEO")
    w.sync(Policy())
    assert w.crm[crm_id].values["job"] == ""
    assert w.remote[item_id].values["job"] == ""
    assert [(x.offered, x.reason) for x in w.rejected] == [("CEO", RejectReason.NO_WRITE)]


def test_an_item_deleted_before_its_creation_was_listed_is_seen_as_deleted():
    # Exchange reports nothing for an item created and deleted after the saved sync state.
    w = World(rules())
    crm_id = w.crm_create({"subject": "Ann"})
    w.sync(Policy())
    w.remote_delete(w.links[crm_id].item_id)
    w.sync(Policy())
    assert w.links[crm_id].state == LinkState.UNTRACKED
    assert w.remote == {}


def test_an_untracked_item_restored_from_deleted_items_resumes_syncing():
    w, crm_id, item_id = synced_world(rules())
    item = w.remote[item_id]
    w.remote_delete(item_id)
    w.sync(Policy())
    assert w.links[crm_id].state == LinkState.UNTRACKED
    # Restored in Outlook: a new item id, the same CRM id property.
    restored = w.remote_create(dict(item.values), crm_id=crm_id)
    w.crm_edit(crm_id, job="Changed meanwhile")
    w.sync(Policy())
    assert w.links[crm_id].state == LinkState.ACTIVE
    assert w.links[crm_id].item_id == restored
    assert w.remote[restored].values["job"] == "Changed meanwhile"


def test_private_notes_are_kept_only_as_a_digest_and_read_again_when_the_field_flips():
    w, crm_id, item_id = synced_world(rules(description=FieldRule(Direction.NONE)))
    w.remote_edit(item_id, description="Private: plays golf")
    w.sync(Policy())
    assert isinstance(w.links[crm_id].base["description"].remote, Sealed)
    assert "golf" not in repr(w.links[crm_id])
    w.rules = rules()  # the admin makes Notes sync both ways again: the item is read again
    w.sync(Policy())
    assert w.crm[crm_id].values["description"] == "Private: plays golf"


def test_a_crm_edit_made_while_notes_were_private_is_not_lost_when_they_sync_again():
    """The mailbox's private note is sealed, so the item is not read for it: the CRM's edit
    made meanwhile is still what the status remembers, and it meets the note as a conflict
    once Notes sync both ways again (not silently overwritten by the note)."""
    w, crm_id, item_id = synced_world(
        rules(description=FieldRule(Direction.NONE)), description="Met at the fair"
    )
    w.remote_edit(item_id, description="Private: plays golf")
    w.sync(Policy())
    w.crm_edit(crm_id, description="Prefers e-mail")
    w.sync(Policy())
    w.rules = rules()
    w.sync(Policy())
    kept = {w.crm[crm_id].values["description"], *(c.crm_value for c in w.conflicts)}
    assert "Prefers e-mail" in kept
    assert w.crm[crm_id].values["description"] == w.remote[item_id].values["description"]
