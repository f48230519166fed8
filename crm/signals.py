"""Tombstones for every delete path (instance, queryset and admin bulk deletes)."""

from __future__ import annotations

from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import AppointmentException, CrmRecord, Tombstone, reserve_change_numbers


@receiver(post_delete)
def record_tombstone(sender: type, instance: object, **kwargs: object) -> None:
    if not isinstance(instance, CrmRecord):
        return
    Tombstone.objects.create(
        entity=instance.ENTITY,
        record_id=instance.pk,
        owner_id=instance.owner_id,
        business_unit_id=instance.business_unit_id,
        change_number=reserve_change_numbers(),
    )


@receiver(post_delete, sender=AppointmentException)
def exception_removed(sender: type, instance: AppointmentException, **kwargs: object) -> None:
    """An occurrence back to the pattern is a change of its series (the sync sends it again)."""
    instance.touch_series()
