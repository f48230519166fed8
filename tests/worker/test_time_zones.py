"""Every time on a page is in the viewer's time zone (their profile setting, else the
organization's), in one format, with the zone named."""

import datetime as dt

import pytest
from django.urls import reverse

from fieldsync.models.mailboxes import SyncRun

pytestmark = pytest.mark.django_db

STARTED = dt.datetime(2026, 7, 1, 12, 30, tzinfo=dt.UTC)


@pytest.fixture
def run(make_mailbox):
    mailbox = make_mailbox("sally")
    SyncRun.objects.create(
        mailbox=mailbox,
        entity="contact",
        trigger="schedule",
        status="succeeded",
        started_at=STARTED,
        finished_at=STARTED + dt.timedelta(seconds=2),
    )
    return mailbox


def history(client, user):
    client.force_login(user)
    return client.get(reverse("fieldsync:sync_history")).content.decode()


def test_times_follow_the_user_then_the_organization(client, run, settings):
    sally = run.owner
    page = history(client, sally)
    assert "Started (UTC)" in page
    assert '<time datetime="2026-07-01T12:30:00+00:00">1 Jul 2026, 12:30</time>' in page

    settings.TIME_ZONE = "America/New_York"  # the organization's zone
    page = history(client, sally)
    assert "Started (America/New_York)" in page and ">1 Jul 2026, 08:30</time>" in page

    sally.time_zone = "Europe/Paris"  # her own wins
    sally.save()
    page = history(client, sally)
    assert "Started (Europe/Paris)" in page and ">1 Jul 2026, 14:30</time>" in page
    mailbox = client.get(reverse("fieldsync:sync_mailbox", args=[run.pk])).content.decode()
    assert "never" in mailbox  # no success yet, said in words


def test_the_profile_sets_the_time_zone_and_refuses_an_unknown_one(client, make_user):
    pat = make_user("pat")
    client.force_login(pat)
    page = client.get(reverse("profile")).content.decode()
    assert "The organization&#x27;s (UTC)" in page and "Europe/Paris" in page
    response = client.post(reverse("profile"), {"time_zone": "Europe/Paris"}, follow=True)
    assert "Saved: times are shown in Europe/Paris." in response.content.decode()
    pat.refresh_from_db()
    assert pat.time_zone == "Europe/Paris"
    response = client.post(reverse("profile"), {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    pat.refresh_from_db()
    assert pat.time_zone == "Europe/Paris"
    # Back to the organization's.
    client.post(reverse("profile"), {"time_zone": ""})
    pat.refresh_from_db()
    assert pat.time_zone == ""


def test_a_zone_that_no_longer_exists_falls_back_to_the_organization(client, run):
    sally = run.owner
    sally.time_zone = "Nowhere/Gone"
    sally.save()
    assert "Started (UTC)" in history(client, sally)


def test_the_api_keeps_its_instants_whatever_the_profile(client, run):
    sally = run.owner
    sally.time_zone = "Europe/Paris"
    sally.save()
    client.force_login(sally)
    body = client.get("/api/v1/sync-runs/").json()
    assert body["results"][0]["started_at"] in ("2026-07-01T12:30:00Z", "2026-07-01T12:30:00+00:00")
