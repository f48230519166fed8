"""Fixtures for the sync service: a salesperson who may sync her own records, an administrator,
and a helper that runs one sync and returns its report."""

from __future__ import annotations

import pytest

from connectors.memory import MemoryConnector

ENTITIES = ("contact", "appointment", "recurring_appointment", "task")
RIGHTS = ("create", "read", "write", "delete", "sync")


@pytest.fixture
def admin(make_user):
    return make_user("admin", is_superuser=True, is_staff=True, email="admin@contoso.test")


@pytest.fixture
def sally(make_user):
    from security.services import role_upsert

    user = make_user("sally", email="sally@contoso.test")
    role_upsert(
        name="Salesperson",
        levels={(e, a): "user" for e in ENTITIES for a in RIGHTS},
        users=[user],
    )
    return user


class MailboxLikeMemory(MemoryConnector):
    """The in-memory connector, reading every mapped column as a real mailbox does: a field
    nobody set reads as empty. (MemoryConnector itself keeps only the fields it was given, and
    the sync reads a missing column as "not read", never as "cleared".)"""

    def create_items(self, folder, items):
        from connectors.base import NewItem
        from fieldsync.sync_values import FOLDERS, entity_fields

        columns = {
            c
            for entity, f in FOLDERS.items()
            if f == folder
            for c in entity_fields(entity).all_columns
        }
        filled = []
        for new in items:
            model = entity_fields(next(e for e, f in FOLDERS.items() if f == folder)).model
            blank = {c: "" if _text(model, c) else None for c in columns}
            filled.append(NewItem(new.crm_id, blank | dict(new.fields), new.categories))
        return super().create_items(folder, filled)


def _text(model, column: str) -> bool:
    from fieldsync.sync_values import _text_like

    try:
        return _text_like(model._meta.get_field(column))
    except Exception:
        return True


@pytest.fixture
def memory() -> MemoryConnector:
    return MailboxLikeMemory(page_size=7)


@pytest.fixture
def sync(sally, memory):
    from fieldsync.sync import sync_mailbox

    def run(entity: str = "contact", *, owner=None, connector=None, **kw):
        report = sync_mailbox(
            owner=owner or sally,
            connector=connector or memory,
            entities=[entity],
            batch_size=kw.pop("batch_size", 3),
            **kw,
        )
        return report.entities[entity]

    return run


@pytest.fixture
def set_direction(admin):
    from fieldsync.services import field_directions_update, settings_version

    def set_(entity: str, crm_field: str, direction: str) -> None:
        field_directions_update(
            entity=entity,
            changes={crm_field: direction},
            base_version=settings_version(entity=entity),
            actor=admin,
        )

    return set_


@pytest.fixture
def secure(sally):
    """Make a column secured and open it to sally for the given operations only."""
    from security.models import FieldPermission, FieldSecurityProfile, SecuredField

    def secure_(entity: str, column: str, *ops: str) -> None:
        field, _ = SecuredField.objects.get_or_create(entity=entity, column=column)
        profile = FieldSecurityProfile.objects.create(name=f"{entity}.{column}")
        FieldPermission.objects.create(
            profile=profile,
            field=field,
            can_read="read" in ops,
            can_create="create" in ops,
            can_update="update" in ops,
        )
        profile.users.add(sally)

    return secure_
