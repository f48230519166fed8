"""The security matrix: roles x access levels x ownership/sharing x secured fields x operations.

Every cell is generated (itertools.product) and asserts both the policy's answer and what a
restricted queryset returns. The organization is built once for the module, in bulk, inside
one transaction rolled back at the end; each user's restricted queryset is evaluated once and
its result checked by every cell of that user (which keeps the ~3,000 cells fast).
"""

from __future__ import annotations

import itertools

import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction

from crm.models import Contact
from security import policy
from security.entities import RECORD_ENTITIES
from security.models import SHARE_MODELS, AccessLevel, SecuredField

from .world import MODELS, NEEDED, RELATIONS, World, rule

LEVELS = list(AccessLevel)
HOLDERS = ("user", "team")  # the role (or profile) is the user's own or one of their team's
ACTIONS = [a.value for a in policy.Action]
SHARES = (None, *((who, right) for who in ("user", "team") for right in policy.SHARE_PERMISSIONS))
GRANTS = [
    frozenset(ops)
    for n in range(4)
    for ops in itertools.combinations(("read", "create", "update"), n)
]
FIELD_OPS = ("read", "create", "update")
RECORD_ACCESS = ("own", "shared", "invisible")  # how the field-matrix record relates to the user
COLUMNS = ("government_id", "job_title")  # secured, unsecured

pytestmark = pytest.mark.django_db


def _share_id(share: tuple[str, str] | None) -> str:
    return "unshared" if share is None else f"shared-{share[0]}-{share[1]}"


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):  # type: ignore[no-untyped-def]
    """Build the organization once; roll it back when the module is done (each test runs in
    a savepoint inside this transaction)."""
    with django_db_blocker.unblock(), transaction.atomic():
        w = World()
        w.build_tree()
        _build_record_matrix(w)
        _build_field_matrix(w)
        _build_union(w)
        _build_entities(w)
        _build_settings(w)
        yield w
        transaction.set_rollback(True)


def _build_record_matrix(w: World) -> None:
    keys = list(itertools.product(LEVELS, HOLDERS, ACTIONS))
    w.make_users(keys)
    pending, shares = [], []
    for level, holder, action in keys:
        user = w.users[(level, holder, action)]
        w.grant(user, {("contact", action): level}, via_team=holder == "team")
        for relation, share in itertools.product(RELATIONS, SHARES):
            record = w.new_record("contact", w.owner_for(user, relation), last_name=relation)
            pending.append(((level, holder, action, relation, share), record))
            if share is not None:
                shares.append((record, user, *share))
    w.flush_roles()
    w.save_records("contact", pending)
    w.share("contact", shares)


def _build_field_matrix(w: World) -> None:
    secured = SecuredField.objects.create(entity="contact", column="government_id")
    keys = [("field", grant, holder) for grant in GRANTS for holder in HOLDERS]
    w.make_users(keys)
    pending, shares = [], []
    for key in keys:
        user = w.users[key]
        user_level = AccessLevel.USER
        w.grant(user, {("contact", a): user_level for a in ("create", "read", "write")})
        w.field_profile(user, secured, key[1], via_team=key[2] == "team")
        for access in RECORD_ACCESS:
            owner = user if access == "own" else w.colleagues["other_bu"]
            record = w.new_record(
                "contact", owner, government_id=f"G-{user.pk}-{access}", job_title="Buyer"
            )
            pending.append(((*key, access), record))
    w.flush_roles()
    w.save_records("contact", pending)
    for key in keys:
        shares.append((w.record_of[(*key, "shared")], w.users[key], "user", "write"))
    w.share("contact", shares)


def _build_union(w: World) -> None:
    keys = [("union", a, b) for a in LEVELS for b in LEVELS]
    w.make_users(keys)
    pending = []
    for key in keys:
        user = w.users[key]
        w.grant(user, {("contact", "read"): key[1]})
        w.grant(user, {("contact", "read"): key[2]}, via_team=True)
        pending.append(((*key, "own"), w.new_record("contact", user)))
    for relation in RELATIONS[1:]:
        pending.append((("union", relation), w.new_record("contact", w.colleagues[relation])))
    w.flush_roles()
    w.save_records("contact", pending)


def _build_entities(w: World) -> None:
    keys = [("entity", entity, level) for entity in MODELS for level in LEVELS]
    w.make_users(keys)
    for key in keys:
        w.grant(w.users[key], {(key[1], "read"): key[2]})
    w.flush_roles()
    for entity in MODELS:
        pending = [(None, w.new_record(entity, w.users[key])) for key in keys]
        pending += [(None, w.new_record(entity, w.colleagues[r])) for r in RELATIONS[1:]]
        w.save_records(entity, pending)


def _build_settings(w: World) -> None:
    keys = [("settings", level, holder) for level in LEVELS for holder in HOLDERS]
    w.make_users(keys)
    for key in keys:
        w.grant(w.users[key], {("sync_settings", "write"): key[1]}, via_team=key[2] == "team")
    w.flush_roles()


# ---- roles x access levels x ownership x sharing x actions -------------------------------

RECORD_ROWS = list(itertools.product(LEVELS, HOLDERS, ACTIONS, RELATIONS))


@pytest.mark.parametrize(
    ("level", "holder", "action", "relation"),
    RECORD_ROWS,
    ids=[f"{a}-{lv.name.lower()}-via_{h}-{r}" for lv, h, a, r in RECORD_ROWS],
)
def test_record_cells(world, level, holder, action, relation):  # type: ignore[no-untyped-def]
    """One row of the matrix: its cells are the share states (none, or one right shared with
    the user or their team). A failure lists every wrong cell of the row."""
    user = world.users[(level, holder, action)]
    visible = world.visible(Contact, user, action)
    wrong = []
    for share in SHARES:
        record = world.record_of[(level, holder, action, relation, share)]
        want = rule(level, action, relation, {share[1]} if share else set())
        answer = policy.can(user, action, record)
        returned = record.pk in visible
        if (answer, returned) != (want, want):
            wrong.append(f"{_share_id(share)}: can={answer} queryset={returned}, want {want}")
    assert wrong == []


@pytest.mark.parametrize(
    ("level", "holder", "action"),
    list(itertools.product(LEVELS, HOLDERS, ACTIONS)),
    ids=lambda v: v.name.lower() if isinstance(v, AccessLevel) else v,
)
def test_restrict_returns_exactly_the_permitted_contacts(world, level, holder, action):  # type: ignore[no-untyped-def]
    """Across every contact in the organization, not only the user's own test records:
    nothing leaks from other users' shares, units or roles."""
    user = world.users[(level, holder, action)]
    expected = {pk for pk in world.records["contact"] if world.may(user, "contact", action, pk)}
    assert world.visible(Contact, user, action) == expected
    assert policy.access_level(user, "contact", action) == level
    assert policy.has_privilege(user, "contact", action) is (level > AccessLevel.NONE)


# ---- secured fields x profiles x read/create/update x record access ---------------------

FIELD_CELLS = list(itertools.product(GRANTS, HOLDERS, COLUMNS, FIELD_OPS, RECORD_ACCESS))


@pytest.mark.parametrize(
    ("grant", "holder", "column", "op", "access"),
    FIELD_CELLS,
    ids=[
        f"{op}-{col}-grants_{'+'.join(sorted(g)) or 'nothing'}-via_{h}-{acc}"
        for g, h, col, op, acc in FIELD_CELLS
    ],
)
def test_field_cell(world, grant, holder, column, op, access):  # type: ignore[no-untyped-def]
    user = world.users[("field", grant, holder)]
    record = world.record_of[("field", grant, holder, access)]
    field_ok = column == "job_title" or op in grant  # unsecured columns follow the record
    fields = policy.field_access(user, "contact")
    assert getattr(fields, f"can_{op}")(column) is field_ok
    one = Contact.objects.filter(pk=record.pk)

    if op == "read":
        rows = list(policy.readable_values(one, user, "last_name", column))
        if access == "invisible":
            assert rows == []
        else:
            (row,) = rows
            assert (column in row) is field_ok
            if field_ok:
                assert row[column] == getattr(record, column)
    elif op == "update":
        record_ok = access != "invisible"  # own, or shared with the write right
        assert policy.restrict(one, user, "write").exists() is record_ok
        assert policy.can(user, "write", record) is record_ok
        if field_ok:
            policy.check_field_changes(user, "contact", [column], creating=False)
        else:
            with pytest.raises(PermissionDenied, match=column):
                policy.check_field_changes(user, "contact", [column], creating=False)
    else:  # create: a new record owned like this one; shares never grant create
        record_ok = access == "own"
        assert policy.restrict(one, user, "create").exists() is record_ok
        new = Contact(owner=record.owner, business_unit_id=record.business_unit_id)
        assert policy.can(user, "create", new) is record_ok
        assert (column in fields.denied([column, "last_name"], creating=True)) is not field_ok


# ---- union of the user's roles and their teams' roles -------------------------------------

UNION_CELLS = list(itertools.product(LEVELS, LEVELS, RELATIONS))


@pytest.mark.parametrize(
    ("own_level", "team_level", "relation"),
    UNION_CELLS,
    ids=[f"own_{a.name.lower()}-team_{b.name.lower()}-{r}" for a, b, r in UNION_CELLS],
)
def test_union_of_own_and_team_roles(world, own_level, team_level, relation):  # type: ignore[no-untyped-def]
    user = world.users[("union", own_level, team_level)]
    key = ("union", own_level, team_level, "own") if relation == "own" else ("union", relation)
    record = world.record_of[key]
    top = max(own_level, team_level)
    want = top > AccessLevel.NONE and top >= NEEDED[relation]
    assert policy.access_level(user, "contact", "read") == top
    assert policy.can(user, "read", record) is want
    assert (record.pk in world.visible(Contact, user, "read")) is want


# ---- every entity: a privilege on one entity says nothing about the others --------------


def test_the_matrix_covers_every_record_entity():  # type: ignore[no-untyped-def]
    assert set(MODELS) == set(RECORD_ENTITIES) == set(SHARE_MODELS)
    assert {"phone_call", "letter", "fax", "service_activity"} <= set(MODELS)


@pytest.mark.parametrize("entity", list(MODELS))
@pytest.mark.parametrize("level", LEVELS, ids=lambda v: v.name.lower())
def test_each_entity_is_governed_by_its_own_privileges(world, entity, level):  # type: ignore[no-untyped-def]
    user = world.users[("entity", entity, level)]
    for target, model in MODELS.items():
        expected = {pk for pk in world.records[target] if world.may(user, target, "read", pk)}
        got = world.visible(model, user, "read")
        assert got == expected, target
        if target != entity:
            assert got == set()


# ---- the sync settings themselves ---------------------------------------------------------


@pytest.mark.parametrize(("level", "holder"), list(itertools.product(LEVELS, HOLDERS)))
def test_sync_settings_privilege(world, level, holder):  # type: ignore[no-untyped-def]
    user = world.users[("settings", level, holder)]
    granted = level > AccessLevel.NONE
    assert policy.can_change_sync_settings(user) is granted
    assert policy.has_privilege(user, policy.SYNC_SETTINGS, "write") is granted
    # Write was granted alone: reading the settings is a privilege of its own.
    assert policy.can_view_sync_settings(user) is False
