"""API tokens act as their user (issue #15.6): nobody makes or revokes a token of a user whose
rights go beyond their own, and only a system administrator manages a system administrator's
token, in the API and in the Django admin alike."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.authtoken.models import Token

from .conftest import assert_error, token_client

TOKEN_PERMS = (
    "add_token",
    "delete_token",
    "view_token",
    "add_tokenproxy",
    "delete_tokenproxy",
    "view_tokenproxy",
)


@pytest.fixture
def keeper(org, make_user):
    """A staff salesperson who holds only the token permissions on top of sally's role."""
    from security.services import role_upsert

    user = make_user("kim", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=TOKEN_PERMS))
    own = {(e, a): "user" for e in ("contact", "task") for a in ("create", "read", "write")}
    role_upsert(name="Token keeper", levels=own, users=[user])
    return user


@pytest.fixture
def nobody(make_user):
    return make_user("newcomer")  # no role, no profile: fewer rights than anyone


def test_token_permissions_do_not_reach_a_system_administrators_token(org, keeper):
    client = token_client(keeper)
    error = assert_error(client.post("/api/v1/users/ada/token/"), 403, "token_rights")
    assert "system administrator" in error["message"]
    assert not Token.objects.filter(user=org["admin"]).exists()
    Token.objects.create(user=org["admin"])
    assert_error(client.delete("/api/v1/users/ada/token/"), 403, "token_rights")
    assert Token.objects.filter(user=org["admin"]).exists()


def test_no_token_for_a_user_with_rights_beyond_the_makers(org, keeper, make_contact):
    # sally reads a secured column kim does not, and her own contacts kim cannot reach.
    make_contact(org["sally"], government_id="123")
    error = assert_error(token_client(keeper).post("/api/v1/users/sally/token/"), 403)
    assert "holds rights you do not" in error["message"]
    beyond = " ".join(error["details"]["rights_beyond_yours"])
    assert "government_id" in beyond and "Contact: records you may not read" in beyond
    assert not Token.objects.filter(user=org["sally"]).exists()


def test_a_token_for_a_user_with_fewer_rights_is_made(org, keeper, nobody):
    made = token_client(keeper).post("/api/v1/users/newcomer/token/")
    assert made.status_code == 201
    assert Token.objects.get(user=nobody).key == made.json()["key"]
    # A system administrator manages every token, another administrator's too.
    other_admin = org["admin"].__class__.objects.create_user("root2", is_superuser=True)
    assert token_client(org["admin"]).post("/api/v1/users/root2/token/").status_code == 201
    assert Token.objects.filter(user=other_admin).exists()


def test_the_admin_applies_the_same_rule(org, keeper, nobody):
    Token.objects.create(user=org["admin"])
    Token.objects.create(user=org["sally"])
    staff = Client()
    staff.force_login(keeper)
    listing = staff.get("/admin/authtoken/tokenproxy/").content.decode()
    assert "ada" not in listing and "sally" not in listing
    refused = staff.post("/admin/authtoken/tokenproxy/add/", {"user": org["admin"].pk})
    assert refused.status_code == 200  # the form again, with the reason
    assert (
        not Token.objects.filter(user=org["admin"])
        .exclude(key=Token.objects.get(user=org["admin"]).key)
        .exists()
    )
    refused = staff.post("/admin/authtoken/tokenproxy/add/", {"user": org["sally"].pk})
    assert "holds rights you do not" in refused.content.decode()
    made = staff.post("/admin/authtoken/tokenproxy/add/", {"user": nobody.pk}, follow=True)
    assert Token.objects.filter(user=nobody).exists()
    assert Token.objects.get(user=nobody).key in made.content.decode()  # shown once
