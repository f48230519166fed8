"""A crawler over the pages and the Django admin (issue #15.5 and #15.10): every page reached
by following links, as a system administrator and as a staff salesperson, answers without a
server error and carries the Content-Security-Policy header; every admin list also survives
extreme filter values (dates off the calendar, 64-bit overflows, NUL)."""

from __future__ import annotations

import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.db import models
from django.test import Client

from security.models import User

MAX_PAGES = 80
SKIP = re.compile(r"/(logout|delete|history)/|/password/|^/static/|^/api/v1/(docs|redoc|schema)")
EXTREME_DATES = ["9999-12-31T23:59:59-15:00", "0001-01-01T00:00:00+15:00"]
HUGE = str(2**64 + 3)


@pytest.fixture
def demo(db):
    call_command("seed_demo", "--contacts", "3")
    sally = User.objects.get(username="sally")
    sally.is_staff = True
    sally.save()
    return {"admin": User.objects.get(username="admin"), "sally": sally}


def _crawl(client: Client, starts: list[str]) -> tuple[int, list[str]]:
    seen: set[str] = set()
    queue = deque(starts)
    wrong: list[str] = []
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code >= 500:
            wrong.append(f"{url}: {response.status_code}")
            continue
        if "Content-Security-Policy" not in response:
            wrong.append(f"{url}: no Content-Security-Policy")
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        for href in re.findall(r'href="([^"#]+)', response.content.decode()):
            target = urljoin(url, href.replace("&amp;", "&"))
            parts = urlsplit(target)
            if parts.netloc and parts.netloc != "testserver":
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if not SKIP.search(parts.path) and path not in seen:
                queue.append(path)
    return len(seen), wrong


@pytest.mark.parametrize("who", ["admin", "sally"])
def test_every_linked_page_answers_without_a_server_error(demo, who):
    client = Client(raise_request_exception=False)
    client.force_login(demo[who])
    count, wrong = _crawl(
        client, ["/", "/admin/", "/settings/", "/my-options/synchronized-fields/"]
    )
    assert not wrong, "\n".join(wrong)
    assert count > 20


def _changelists() -> list[tuple[str, type[models.Model]]]:
    urls = []
    for model in admin.site._registry:
        opts = model._meta
        urls.append((f"/admin/{opts.app_label}/{opts.model_name}/", model))
    return urls


def test_admin_lists_survive_extreme_filter_values(demo):
    client = Client(raise_request_exception=False)
    client.force_login(demo["admin"])
    wrong = []
    for url, model in _changelists():
        queries = [{"p": HUGE}, {"o": HUGE}, {"q": "\x00"}, {"id__exact": HUGE}, {"pk": HUGE}]
        for field in model._meta.concrete_fields:
            if isinstance(field, models.DateTimeField | models.DateField):
                for value in EXTREME_DATES:
                    queries += [{f"{field.name}__gte": value}, {f"{field.name}__lt": value}]
            elif isinstance(field, models.IntegerField | models.ForeignKey):
                queries.append(
                    {
                        f"{field.name}__exact"
                        if not field.is_relation
                        else f"{field.name}__id__exact": HUGE
                    }
                )
        for query in queries:
            response = client.get(url, query)
            if response.status_code >= 500:
                wrong.append(f"{url}?{query}: {response.status_code}")
        for value in (HUGE, "-1", "x"):
            response = client.get(f"{url}{value}/change/")
            if response.status_code >= 500:
                wrong.append(f"{url}{value}/change/: {response.status_code}")
    assert not wrong, "\n".join(wrong)
    assert apps.get_app_config("crm")
