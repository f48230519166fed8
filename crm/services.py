"""Use cases that write CRM records on behalf of a user, through the security policy.

Record rights (create/write/delete) and field security (create/update per secured column) are
checked before anything is saved; a refused request saves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from security import policy

from .models import AppointmentException, CrmRecord, RecurringAppointment


class FieldSecurityDenied(PermissionDenied):
    """The request writes secured fields the user may not create or update."""

    def __init__(self, message: str, *, columns: list[str]) -> None:
        super().__init__(message)
        self.columns = columns


def _label(model: type[CrmRecord]) -> str:
    return str(model._meta.verbose_name).capitalize()


def record_columns_check(
    *,
    model: type[CrmRecord],
    columns: list[str],
    actor,  # type: ignore[no-untyped-def]
    creating: bool,
) -> None:
    """The check that needs no values, run before input validation so that a refusal is a
    403 naming the field even when the value is also invalid: on create, secured columns the
    actor may not create; on update, secured columns the actor may not even read."""
    access = policy.field_access(actor, model.ENTITY)
    allowed = access.can_create if creating else access.can_read
    denied = [c for c in columns if not allowed(c)]
    if denied:
        _deny(model, denied, creating=creating)


def _deny(model: type[CrmRecord], columns: list[str], *, creating: bool) -> None:
    verb = "set" if creating else "change"
    names = ", ".join(f"{_label(model)}.{c}" for c in columns)
    raise FieldSecurityDenied(f"Field security does not let you {verb} {names}.", columns=columns)


def record_fields_check(
    *,
    model: type[CrmRecord],
    values: Mapping[str, Any],
    actor,  # type: ignore[no-untyped-def]
    record: CrmRecord | None = None,
) -> None:
    """Refuse (FieldSecurityDenied) a create or update that touches secured fields the actor
    may not write.

    On update, a readable field sent back unchanged is accepted (a client may PUT what it
    read); a field the actor may not even read is refused whatever its value, so the answer
    never reveals whether a guess matched the hidden value.
    """
    access = policy.field_access(actor, model.ENTITY)
    denied = []
    for column, value in values.items():
        if record is None:
            refused = not access.can_create(column)
        else:
            refused = not access.can_read(column) or (
                not access.can_update(column) and getattr(record, column) != value
            )
        if refused:
            denied.append(column)
    if denied:
        _deny(model, denied, creating=record is None)


def record_create(
    *,
    model: type[CrmRecord],
    values: Mapping[str, Any],
    actor,  # type: ignore[no-untyped-def]
) -> CrmRecord:
    """Create a record owned by `values["owner"]` (default: the actor)."""
    if not policy.has_privilege(actor, model.ENTITY, policy.Action.CREATE):
        raise PermissionDenied(f"You may not create {model._meta.verbose_name_plural}.")
    record_fields_check(model=model, values=_columns(values), actor=actor)
    with transaction.atomic():
        record = model(**values)
        if "owner" not in values:
            record.owner = actor
        record.fill_business_unit()
        # The access level decides whose records the actor may create (own, unit, ...).
        if not policy.can(actor, policy.Action.CREATE, record):
            raise PermissionDenied(
                f"You may not create a {model._meta.verbose_name} owned by {record.owner}."
            )
        _clean(record)
        record.save()
    return record


def record_update(
    *,
    record: CrmRecord,
    values: Mapping[str, Any],
    actor,  # type: ignore[no-untyped-def]
) -> CrmRecord:
    """Change some columns (and maybe the owner) of a record the actor may write."""
    model = type(record)
    if not policy.can(actor, policy.Action.WRITE, record):
        raise PermissionDenied(f"You may read this {model._meta.verbose_name} but not change it.")
    record_fields_check(model=model, values=_columns(values), actor=actor, record=record)
    owner_before = record.owner_id
    with transaction.atomic():
        for name, value in values.items():
            setattr(record, name, value)
        if "owner" in values and record.owner_id != owner_before:
            # A record moves to its new owner's business unit, as in the CRM. Assigning is
            # allowed only where the actor could create the record as it now stands, so a
            # user with user-level rights cannot hand records to others.
            record.business_unit_id = record.owner.business_unit_id or record.business_unit_id
            if not policy.can(actor, policy.Action.CREATE, record):
                raise PermissionDenied(
                    f"You may not assign this {model._meta.verbose_name} to {record.owner}."
                )
        _clean(record)
        record.save()
    return record


def record_delete(*, record: CrmRecord, actor) -> None:  # type: ignore[no-untyped-def]
    """Delete a record the actor may delete (the delete leaves a tombstone for the sync)."""
    if not policy.can(actor, policy.Action.DELETE, record):
        raise PermissionDenied(f"You may not delete this {type(record)._meta.verbose_name}.")
    record.delete()


def _clean(record: CrmRecord) -> None:
    if record.business_unit_id is None:
        raise ValidationError({"owner": f"{record.owner} belongs to no business unit."})
    record.full_clean()


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """The data columns of a write (owner is a record right, not a securable field)."""
    return {k: v for k, v in values.items() if k != "owner"}


def exception_save(
    *,
    series: RecurringAppointment,
    values: Mapping[str, Any],
    actor,  # type: ignore[no-untyped-def]
) -> AppointmentException:
    """Change or cancel one occurrence of `series` (the one at values["original_start"]),
    replacing what was recorded for it before. Needs write on the series; an override of a
    secured column needs update on it (the series' field security covers its occurrences)."""
    if not policy.can(actor, policy.Action.WRITE, series):
        raise PermissionDenied("You may read this recurring appointment but not change it.")
    access = policy.field_access(actor, series.ENTITY)
    denied = [
        c
        for c in AppointmentException.OVERRIDES
        if values.get(c) is not None and not (access.can_read(c) and access.can_update(c))
    ]
    if denied:
        _deny(RecurringAppointment, denied, creating=False)
    with transaction.atomic():
        exception = AppointmentException.objects.filter(
            series=series, original_start=values["original_start"]
        ).first() or AppointmentException(series=series)
        for name in ("original_start", "is_cancelled", *AppointmentException.OVERRIDES):
            setattr(exception, name, values.get(name, False if name == "is_cancelled" else None))
        exception.full_clean(validate_unique=False)
        exception.save()
    return exception


def exception_delete(*, exception: AppointmentException, actor) -> None:  # type: ignore[no-untyped-def]
    """Put an occurrence back to what the pattern says (needs write on the series)."""
    if not policy.can(actor, policy.Action.WRITE, exception.series):
        raise PermissionDenied("You may read this recurring appointment but not change it.")
    exception.delete()
