"""Watchlists: following, what changed, digests that respect tiers, run twice, survive crashes."""

import datetime
import re
import smtplib
from unittest import mock

import pytest
from django.core import mail, signing
from django.core.mail import EmailMultiAlternatives
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from membership.models import Membership, Tier
from outbox.models import OutgoingMail
from profiles import watch
from profiles.models import DigestDelivery, Follow, Institution, Watchpoint, WatchSettings

from .factories import EvidenceItemFactory, InstitutionFactory, UserFactory, WatchpointFactory, tier

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - datetime.timedelta(days=30)


def follow(user, institution, *, frequency=WatchSettings.Frequency.DAILY):
    watch.set_following(reader=user, institution=institution, follow=True)
    WatchSettings.objects.filter(user=user).update(frequency=frequency, last_digest_at=LONG_AGO)
    Follow.objects.filter(user=user).update(last_seen_at=LONG_AGO)


def fresh_evidence(institution, **kwargs):
    return EvidenceItemFactory(institution=institution, reviewed_at=timezone.now(), **kwargs)


# --- follow / unfollow -------------------------------------------------------------------------


def test_member_follows_from_the_profile_page(client, member_factory):
    inst = InstitutionFactory()
    client.force_login(member_factory())
    response = client.post(reverse("profiles:follow", args=[inst.slug]), {"action": "follow"})
    assert response.status_code == 302 and response["Location"] == inst.get_absolute_url()
    assert Follow.objects.filter(institution=inst).count() == 1


def test_member_unfollows(client, member_factory):
    inst, user = InstitutionFactory(), member_factory()
    follow(user, inst)
    client.force_login(user)
    client.post(reverse("profiles:follow", args=[inst.slug]), {"action": "unfollow"})
    assert not Follow.objects.exists()


def test_profile_page_shows_a_follow_and_an_unfollow_at_once(client, member_factory):
    """The member's followed profiles are cached with the page; following moves their counter."""
    inst = InstitutionFactory()
    client.force_login(member_factory())
    url = inst.get_absolute_url()
    assert b"Follow this profile" in client.get(url).content  # caches "follows nothing"
    client.post(reverse("profiles:follow", args=[inst.slug]), {"action": "follow"})
    assert b"You follow this profile" in client.get(url).content
    client.post(reverse("profiles:follow", args=[inst.slug]), {"action": "unfollow"})
    assert b"Follow this profile" in client.get(url).content


def test_followed_profiles_stored_under_an_old_counter_are_not_trusted(member_factory):
    """A page that read the follows before a follow committed may store them after: never used."""
    from django.core.cache import cache

    user, inst = member_factory(), InstitutionFactory()
    entry_key, counter_key = watch.follow_cache_keys(user.pk)
    assert watch.followed_ids(user) == frozenset()
    stale_counter = cache.get(counter_key)
    Follow.objects.create(user=user, institution=inst)  # any save of a follow moves the counter
    cache.set(entry_key, (stale_counter, frozenset()))  # the slow page stores what it read
    assert watch.followed_ids(user) == frozenset({inst.pk})


def test_anonymous_follow_goes_to_sign_in_and_back(client):
    inst = InstitutionFactory()
    url = reverse("profiles:follow", args=[inst.slug])
    response = client.post(url)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"] and "next=" in response["Location"]
    assert not Follow.objects.exists()


def test_signed_up_non_member_cannot_follow(client):
    inst = InstitutionFactory()
    client.force_login(UserFactory())
    response = client.post(reverse("profiles:follow", args=[inst.slug]))
    assert response["Location"] == reverse("membership:tiers")
    assert not Follow.objects.exists()


def test_follow_needs_post(client, member_factory):
    inst = InstitutionFactory()
    client.force_login(member_factory())
    assert client.get(reverse("profiles:follow", args=[inst.slug])).status_code == 405


def test_follow_rejects_offsite_next(client, member_factory):
    inst = InstitutionFactory()
    client.force_login(member_factory())
    response = client.post(reverse("profiles:follow", args=[inst.slug]), {"next": "https://evil.example/"})
    assert response["Location"] == inst.get_absolute_url()


def test_draft_profile_cannot_be_followed(client, member_factory):
    inst = InstitutionFactory(status=Institution.Status.DRAFT)
    client.force_login(member_factory())
    assert client.post(reverse("profiles:follow", args=[inst.slug])).status_code == 404


# --- the watchlist page ------------------------------------------------------------------------


def test_watchlist_shows_changes_since_last_visit(client, member_factory):
    user, inst = member_factory(), InstitutionFactory()
    follow(user, inst)
    fresh_evidence(inst, title="Regulator opens review of landing permit")
    client.force_login(user)
    page = client.get(reverse("watch:list")).content.decode()
    assert "Regulator opens review of landing permit" in page


def test_watchlist_marks_changes_seen(client, member_factory):
    user, inst = member_factory(), InstitutionFactory()
    follow(user, inst)
    fresh_evidence(inst, title="Seen once")
    client.force_login(user)
    client.get(reverse("watch:list"))
    assert "Seen once" not in client.get(reverse("watch:list")).content.decode()


def test_watchlist_hides_changes_above_members_tier(client, member_factory):
    user, inst = member_factory(Tier.STRATEGIC_CIRCLE_SLUG), InstitutionFactory()
    follow(user, inst)
    fresh_evidence(inst, title="alliance-only-filing", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    client.force_login(user)
    assert "alliance-only-filing" not in client.get(reverse("watch:list")).content.decode()


def test_watchlist_needs_sign_in(client):
    assert reverse("account_login") in client.get(reverse("watch:list"))["Location"]


@pytest.mark.parametrize("profiles", [1, 200])
def test_watchlist_query_budget(client, member_factory, django_assert_max_num_queries, profiles):
    user = member_factory()
    for inst in InstitutionFactory.create_batch(profiles):
        follow(user, inst)
        fresh_evidence(inst)
    client.force_login(user)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("watch:list")).status_code == 200


# --- watchpoint lifecycle ----------------------------------------------------------------------


def test_triggering_a_watchpoint_stamps_when_it_changed():
    wp = WatchpointFactory()
    assert wp.status_changed_at is None
    wp.status, wp.triggered_at = Watchpoint.Status.TRIGGERED, datetime.date.today()
    wp.save()
    assert Watchpoint.objects.get(pk=wp.pk).status_changed_at is not None


def test_triggered_watchpoint_reaches_the_digest(member_factory):
    user, inst = member_factory(), InstitutionFactory()
    wp = WatchpointFactory(institution=inst, text="Watch the Ohio plant", created_at=LONG_AGO)
    Watchpoint.objects.filter(pk=wp.pk).update(created_at=LONG_AGO)
    follow(user, inst)
    wp = Watchpoint.objects.get(pk=wp.pk)
    wp.status, wp.triggered_at, wp.status_note = Watchpoint.Status.TRIGGERED, datetime.date.today(), "It happened."
    wp.save()
    call_command("send_watch_digests")
    assert "Watchpoint triggered: Watch the Ohio plant" in mail.outbox[0].body


# --- digests -----------------------------------------------------------------------------------


def test_digest_sends_one_mail_per_member_with_text_and_html(member_factory):
    user, inst = member_factory(), InstitutionFactory()
    follow(user, inst)
    fresh_evidence(inst, title="Foxconn expands Wisconsin site")
    call_command("send_watch_digests")
    [message] = mail.outbox
    assert message.to == [user.email]
    assert "Foxconn expands Wisconsin site" in message.body
    assert "Foxconn expands Wisconsin site" in message.alternatives[0][0]
    assert message.extra_headers["List-Unsubscribe"].startswith("<http")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_digest_run_twice_sends_nothing_twice(member_factory):
    user, inst = member_factory(), InstitutionFactory()
    follow(user, inst)
    fresh_evidence(inst)
    call_command("send_watch_digests")
    call_command("send_watch_digests")
    assert len(mail.outbox) == 1
    assert DigestDelivery.objects.count() == 1


def test_lapsed_member_gets_no_locked_text(member_factory):
    user, inst = member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG), InstitutionFactory()
    follow(user, inst)
    fresh_evidence(inst, title="public-source-title")
    fresh_evidence(inst, title="locked-alliance-title", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    Membership.objects.filter(user=user).update(status=Membership.Status.LAPSED)
    call_command("send_watch_digests")
    [message] = mail.outbox
    assert "public-source-title" in message.body
    assert "locked-alliance-title" not in message.body
    assert "locked-alliance-title" not in message.alternatives[0][0]


def test_digest_off_sends_nothing(member_factory):
    user, inst = member_factory(), InstitutionFactory()
    follow(user, inst, frequency=WatchSettings.Frequency.OFF)
    fresh_evidence(inst)
    call_command("send_watch_digests")
    assert mail.outbox == []


def test_weekly_member_is_not_mailed_again_the_next_day(member_factory):
    user, inst = member_factory(), InstitutionFactory()
    follow(user, inst, frequency=WatchSettings.Frequency.WEEKLY)
    WatchSettings.objects.filter(user=user).update(last_digest_at=timezone.now() - datetime.timedelta(days=1))
    fresh_evidence(inst)
    call_command("send_watch_digests")
    assert mail.outbox == []


def test_smtp_failing_halfway_leaves_nobody_double_mailed_or_skipped(member_factory):
    users = [member_factory() for _ in range(3)]
    inst = InstitutionFactory()
    for user in users:
        follow(user, inst)
    fresh_evidence(inst)
    real_send = EmailMultiAlternatives.send
    calls = {"n": 0}

    def flaky_send(message, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise smtplib.SMTPServerDisconnected("SMTP went away")
        return real_send(message, *args, **kwargs)

    with mock.patch.object(EmailMultiAlternatives, "send", flaky_send):
        call_command("send_watch_digests")
    assert len(mail.outbox) == 2  # the second member's digest is recorded and waits in the outbox
    assert DigestDelivery.objects.count() == 3
    call_command("send_watch_digests")  # decides nothing again
    assert len(mail.outbox) == 2
    OutgoingMail.objects.waiting().update(next_attempt_at=timezone.now())  # its backoff has passed
    call_command("send_queued_mail")
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in users)
    call_command("send_queued_mail")
    assert len(mail.outbox) == 3


def test_digest_html_is_a_complete_document_with_distinct_link_labels(member_factory):
    user, inst = member_factory(), InstitutionFactory(name="Acme Fabs")
    follow(user, inst)
    for text in ("Watch the Ohio plant", "Watch the Texas plant"):
        WatchpointFactory(institution=inst, text=text)
    fresh_evidence(inst, title="Acme expands Wisconsin site")
    call_command("send_watch_digests")
    [message] = mail.outbox
    html = message.alternatives[0][0]
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert '<html lang="en">' in html and '<meta charset="utf-8">' in html
    assert re.search(r"<head>.*<title>[^<]+</title>.*</head>\s*<body", html, re.S)
    labels = re.findall(r"<a href=\"[^\"]+\">([^<]+)</a>", html)
    assert len(labels) == len(set(labels)), labels
    assert "Acme expands Wisconsin site" in labels and "Acme Fabs" in labels
    assert {"New watchpoint: Watch the Ohio plant", "New watchpoint: Watch the Texas plant"} <= set(labels)


def test_digest_renders_markdown_in_html_and_as_plain_text(member_factory):
    user, inst = member_factory(), InstitutionFactory()
    follow(user, inst)
    WatchpointFactory(institution=inst, text="Watch **the details** of [the filing](https://example.org/filing)")
    call_command("send_watch_digests")
    [message] = mail.outbox
    html = message.alternatives[0][0]
    assert "<strong>the details</strong>" in html and 'href="https://example.org/filing"' in html
    assert "**" not in message.body and "](" not in message.body
    assert "the details of the filing (https://example.org/filing)" in message.body


def test_digest_links_use_the_configured_site_address(member_factory, settings):
    settings.SITE_URL = "https://profiles.example.org"
    user, inst = member_factory(), InstitutionFactory()
    follow(user, inst)
    fresh_evidence(inst)
    call_command("send_watch_digests")
    [message] = mail.outbox
    links = re.findall(r"https?://[^\s\"<>)]+", message.body + message.alternatives[0][0])
    assert links and all(link.startswith("https://profiles.example.org/") for link in links)
    assert "BTW Profiles" in message.subject


@pytest.mark.parametrize("profiles", [1, 200])
def test_digest_query_budget(member_factory, django_assert_max_num_queries, profiles):
    user = member_factory()
    for inst in InstitutionFactory.create_batch(profiles):
        follow(user, inst)
        fresh_evidence(inst)
    pk = WatchSettings.objects.get(user=user).pk
    # 14 to decide and record it (corrections included), 6 to queue it and send it through the outbox
    # (claim, then mark sent)
    with django_assert_max_num_queries(20):
        assert watch.send_digest(pk) > 0


# --- unsubscribe -------------------------------------------------------------------------------


def test_unsubscribe_link_needs_no_login_and_turns_digests_off(client, member_factory):
    user = member_factory()
    WatchSettings.objects.create(user=user, frequency=WatchSettings.Frequency.DAILY)
    url = reverse("watch:unsubscribe", args=[watch.unsubscribe_token(user)])
    assert client.get(url).status_code == 200  # asks; a mail scanner's GET changes nothing
    assert WatchSettings.objects.get(user=user).frequency == WatchSettings.Frequency.DAILY
    assert client.post(url).status_code == 200
    assert WatchSettings.objects.get(user=user).frequency == WatchSettings.Frequency.OFF


def test_tampered_unsubscribe_token_is_refused(client, member_factory):
    user = member_factory()
    WatchSettings.objects.create(user=user, frequency=WatchSettings.Frequency.DAILY)
    token = watch.unsubscribe_token(user)
    response = client.post(reverse("watch:unsubscribe", args=[token[:-2] + "xx"]))
    assert response.status_code == 400 and b"not valid" in response.content
    assert WatchSettings.objects.get(user=user).frequency == WatchSettings.Frequency.DAILY


def test_expired_unsubscribe_token_is_refused(client, member_factory):
    user = member_factory()
    WatchSettings.objects.create(user=user, frequency=WatchSettings.Frequency.DAILY)
    token = watch.unsubscribe_token(user)
    later = timezone.now() + watch.UNSUBSCRIBE_MAX_AGE + datetime.timedelta(days=1)
    with mock.patch.object(signing.time, "time", return_value=later.timestamp()):
        response = client.post(reverse("watch:unsubscribe", args=[token]))
    assert response.status_code == 400 and b"expired" in response.content
    assert WatchSettings.objects.get(user=user).frequency == WatchSettings.Frequency.DAILY


def test_digest_frequency_choice(client, member_factory):
    user = member_factory()
    client.force_login(user)
    client.post(reverse("watch:settings"), {"frequency": "daily"})
    assert WatchSettings.objects.get(user=user).frequency == "daily"
    client.post(reverse("watch:settings"), {"frequency": "hourly"})
    assert WatchSettings.objects.get(user=user).frequency == "daily"
