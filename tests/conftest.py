"""Shared fixtures: users in business units, the demo organization."""

from __future__ import annotations

import pytest


def pytest_configure(config):  # type: ignore[no-untyped-def]
    """A fast password hasher for the whole suite: tests make users by the dozen, and the
    default hasher costs about half a second each on this 2-core machine."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def business_units(db):
    from security.models import BusinessUnit

    root = BusinessUnit.objects.create(name="Contoso")
    sales = BusinessUnit.objects.create(name="Sales", parent=root)
    service = BusinessUnit.objects.create(name="Service", parent=root)
    return {"root": root, "sales": sales, "service": service}


@pytest.fixture
def make_user(db, business_units):
    from security.models import User

    def make(username: str, bu: str = "sales", **extra):
        return User.objects.create_user(
            username=username,
            password="pw-" + username,
            business_unit=business_units[bu],
            **extra,
        )

    return make
