"""Freshness: analysts confirm a profile's sections still hold, readers see when, profiles not
confirmed within BTW_REVERIFY_DAYS queue up again, and overdue watchpoints reach their analysts in
a daily staff digest (profiles/freshness.py, profiles/admin/freshness.py, send_staff_digest)."""

from __future__ import annotations

import datetime
import io

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from audit.models import AuditEntry
from outbox.models import OutgoingMail
from profiles import freshness
from profiles.management.commands.send_staff_digest import Command as StaffDigestCommand
from profiles.models import Institution, Watchpoint

from .factories import InstitutionFactory, StaffFactory, WatchpointFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()
DAY = datetime.timedelta(days=1)
QUEUE_URL = "/admin/profiles/reverificationqueueitem/"


def confirm_url(institution) -> str:
    return reverse("admin:profiles_institution_confirm_sections", args=[institution.pk])


def assigned_analyst(*institutions, **kwargs):
    user = StaffFactory(**kwargs)
    user.groups.add(Group.objects.get(name="Analysts"))
    for institution in institutions:
        assign_perm("profiles.change_institution", user, institution)
    return user


def verified(days_ago, **kwargs) -> Institution:
    """A published profile last confirmed `days_ago` days ago (None: never)."""
    institution = InstitutionFactory(published_at=NOW - 400 * DAY, **kwargs)
    if days_ago is not None:
        Institution.objects.filter(pk=institution.pk).update(last_verified_at=NOW - days_ago * DAY)
        institution.refresh_from_db()
    return institution


# --- confirming: the service ---------------------------------------------------------------------


def test_assigned_analyst_confirms_sections_and_the_profile_records_who_and_when():
    profile = InstitutionFactory()
    analyst = assigned_analyst(profile)
    before = Institution.objects.get(pk=profile.pk)

    freshness.confirm_sections(institution=profile, user=analyst, at=NOW)

    after = Institution.objects.get(pk=profile.pk)
    assert (after.last_verified_at, after.last_verified_by) == (NOW, analyst)
    # Nothing readers read changed, and an analyst's open form is not made stale.
    assert after.public_updated_at == before.public_updated_at
    assert after.version == before.version


def test_confirmation_is_a_history_row_with_its_reason():
    profile = InstitutionFactory()
    analyst = assigned_analyst(profile)

    freshness.confirm_sections(institution=profile, user=analyst, at=NOW)

    latest = profile.history.order_by("-history_id").first()
    assert latest.history_change_reason == "Sections confirmed as still holding"
    assert latest.history_user == analyst
    assert latest.last_verified_at == NOW


def test_confirmation_is_in_the_audit_log():
    profile = InstitutionFactory(name="Ohio Rack Plant")
    analyst = assigned_analyst(profile)

    freshness.confirm_sections(institution=profile, user=analyst, at=NOW)

    entry = AuditEntry.objects.about(profile).get(action=AuditEntry.Action.VERIFY)
    assert entry.actor == analyst
    assert "Ohio Rack Plant" in entry.summary
    assert entry.data["verified_at"] == NOW.isoformat()


def test_lead_analyst_confirms_any_profile(staff_factory):
    profile = InstitutionFactory()
    lead = staff_factory("Analysts", "Lead analysts")

    freshness.confirm_sections(institution=profile, user=lead)

    assert Institution.objects.get(pk=profile.pk).last_verified_by == lead


def test_moderator_may_not_confirm_sections(moderator):
    profile = InstitutionFactory()

    with pytest.raises(PermissionDenied):
        freshness.confirm_sections(institution=profile, user=moderator)

    assert Institution.objects.get(pk=profile.pk).last_verified_at is None
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.VERIFY).exists()


def test_analyst_of_another_profile_may_not_confirm_sections():
    profile, theirs = InstitutionFactory(), InstitutionFactory()
    analyst = assigned_analyst(theirs)

    with pytest.raises(PermissionDenied):
        freshness.confirm_sections(institution=profile, user=analyst)

    assert Institution.objects.get(pk=profile.pk).last_verified_at is None


# --- confirming: the admin -----------------------------------------------------------------------


def test_confirm_button_on_the_change_form_of_an_assigned_analyst(client):
    profile = InstitutionFactory()
    client.force_login(assigned_analyst(profile))

    page = client.get(reverse("admin:profiles_institution_change", args=[profile.pk])).content.decode()

    assert f'href="{confirm_url(profile)}"' in page
    assert "Confirm sections still hold" in page


def test_confirm_page_asks_first_and_records_nothing_on_get(client):
    profile = InstitutionFactory()
    client.force_login(assigned_analyst(profile))

    response = client.get(confirm_url(profile))

    assert response.status_code == 200
    assert b'<button type="submit" class="button default">Confirm sections still hold</button>' in response.content
    assert Institution.objects.get(pk=profile.pk).last_verified_at is None


def test_confirming_through_the_admin_returns_to_the_profile_with_the_date_recorded(client):
    profile = InstitutionFactory()
    analyst = assigned_analyst(profile)
    client.force_login(analyst)

    response = client.post(confirm_url(profile), follow=True)

    assert response.redirect_chain[-1][0] == reverse("admin:profiles_institution_change", args=[profile.pk])
    assert "you confirmed that the sections" in response.content.decode()
    assert Institution.objects.get(pk=profile.pk).last_verified_by == analyst


def test_confirming_from_the_queue_returns_to_the_queue(client):
    profile = verified(None, name="Queued profile")
    client.force_login(assigned_analyst(profile))

    asked = client.get(f"{confirm_url(profile)}?from=queue").content.decode()
    response = client.post(f"{confirm_url(profile)}?from=queue", follow=True)

    assert f'href="{QUEUE_URL}" class="closelink"' in asked
    assert response.redirect_chain[-1][0] == QUEUE_URL
    assert "Queued profile" in response.content.decode()  # the success message; the row itself is gone
    assert f"{confirm_url(profile)}?from=queue" not in response.content.decode()


def test_moderator_sees_last_verified_but_no_confirm_button_and_is_refused(client, moderator):
    profile = verified(3)
    client.force_login(moderator)

    page = client.get(reverse("admin:profiles_institution_change", args=[profile.pk])).content.decode()
    refused = client.post(confirm_url(profile))

    assert "Last confirmed on" in page
    assert confirm_url(profile) not in page
    assert refused.status_code == 403
    assert Institution.objects.get(pk=profile.pk).last_verified_by is None


def test_analyst_of_another_profile_is_refused_the_confirm_page(client):
    profile = InstitutionFactory()
    client.force_login(assigned_analyst(InstitutionFactory()))

    assert client.get(confirm_url(profile)).status_code == 403
    assert client.post(confirm_url(profile)).status_code == 403
    assert Institution.objects.get(pk=profile.pk).last_verified_at is None


# --- readers ------------------------------------------------------------------------------------


def test_reader_sees_the_verified_date_next_to_updated(client):
    profile = InstitutionFactory(public_updated_at=datetime.datetime(2026, 3, 3, 12, tzinfo=datetime.UTC))
    freshness.confirm_sections(
        institution=profile,
        user=assigned_analyst(profile),
        at=datetime.datetime(2026, 11, 20, 9, 30, tzinfo=datetime.UTC),
    )

    page = client.get(profile.get_absolute_url()).content.decode()

    assert "Updated <time" in page and ">3 March 2026</time> · Verified <time" in page
    assert '<time class="profile-verified" datetime="2026-11-20T09:30:00+00:00">20 November 2026</time>' in page


def test_never_verified_profile_shows_no_verified_date(client):
    profile = InstitutionFactory()

    page = client.get(profile.get_absolute_url()).content.decode()

    assert "Updated <time" in page
    assert "Verified" not in page


def test_confirmation_reaches_readers_of_a_cached_page(client):
    profile = InstitutionFactory()
    client.get(profile.get_absolute_url())  # now in the page cache

    freshness.confirm_sections(institution=profile, user=assigned_analyst(profile))

    assert "Verified <time" in client.get(profile.get_absolute_url()).content.decode()


# --- the re-verification queue ---------------------------------------------------------------------


def test_queue_holds_published_profiles_unconfirmed_for_the_period_oldest_first():
    never, old, older, fresh = verified(None), verified(100), verified(200), verified(10)
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    scheduled = InstitutionFactory(published_at=NOW + 3 * DAY)

    due = list(Institution.objects.due_for_reverification(NOW))

    assert due == [never, older, old]
    assert fresh not in due and draft not in due and scheduled not in due
    assert [p.is_due_for_reverification(NOW) for p in (never, older, old, fresh, draft, scheduled)] == [
        True, True, True, False, False, False,
    ]


def test_reverify_days_setting_sets_the_period(settings):
    recent = verified(10)

    settings.BTW_REVERIFY_DAYS = 90
    assert recent not in Institution.objects.due_for_reverification(NOW)
    settings.BTW_REVERIFY_DAYS = 7
    assert recent in Institution.objects.due_for_reverification(NOW)


def test_confirming_takes_a_profile_out_of_the_queue():
    profile = verified(120)

    freshness.confirm_sections(institution=profile, user=assigned_analyst(profile))

    assert profile not in Institution.objects.due_for_reverification()


def test_analyst_queue_lists_only_their_due_profiles_with_a_confirm_link(client):
    mine, mine_fresh = verified(None, name="Mine due"), verified(5, name="Mine fresh")
    verified(None, name="Theirs")
    client.force_login(assigned_analyst(mine, mine_fresh))

    page = client.get(QUEUE_URL).content.decode()

    assert "Mine due" in page and f"{confirm_url(mine)}?from=queue" in page
    assert "Mine fresh" not in page and "Theirs" not in page
    # A row opens the real profile's page.
    assert reverse("admin:profiles_institution_change", args=[mine.pk]) in page


def test_lead_queue_lists_every_due_profile_in_order(client, staff_factory):
    verified(300, name="Older one")
    verified(None, name="Never one")
    client.force_login(staff_factory("Analysts", "Lead analysts"))

    page = client.get(QUEUE_URL).content.decode()

    assert page.index("Never one") < page.index("Older one")


def test_moderator_has_no_queue(client, moderator):
    verified(None)
    client.force_login(moderator)

    assert client.get(QUEUE_URL).status_code == 403


def test_queue_costs_the_same_queries_at_1_and_200_profiles(client, staff_factory, django_assert_max_num_queries):
    lead = staff_factory("Analysts", "Lead analysts")
    client.force_login(lead)
    counts = []
    for n in (1, 200):
        Institution.objects.bulk_create(
            [
                Institution(
                    name=f"Due {n}-{k}", slug=f"due-{n}-{k}", dek="Due.", status=Institution.Status.PUBLISHED,
                    published_at=NOW - 400 * DAY, last_verified_at=NOW - (100 + k) * DAY, last_verified_by=lead,
                )
                for k in range(n)
            ]
        )
        client.get(QUEUE_URL)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(QUEUE_URL).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(counts[0]):
        client.get(QUEUE_URL)


# --- watchpoints: review by ------------------------------------------------------------------------


def test_open_watchpoints_past_their_review_by_date_are_overdue():
    today = timezone.localdate()
    overdue = WatchpointFactory(review_by=today - DAY)
    due_today = WatchpointFactory(review_by=today)
    closed = WatchpointFactory(review_by=today - DAY, status=Watchpoint.Status.CLOSED)
    archived = WatchpointFactory(
        review_by=today - DAY, institution=InstitutionFactory(status=Institution.Status.ARCHIVED)
    )
    no_date = WatchpointFactory()

    assert list(Watchpoint.objects.overdue(today)) == [overdue]
    assert [w.is_overdue(today) for w in (overdue, due_today, closed, archived, no_date)] == [
        True, False, False, False, False,
    ]


def test_watchpoint_admin_page_offers_review_by(client, superuser):
    watchpoint = WatchpointFactory()
    client.force_login(superuser)

    page = client.get(reverse("admin:profiles_watchpoint_change", args=[watchpoint.pk])).content.decode()

    assert 'name="review_by"' in page


def test_review_by_is_not_shown_to_readers(client):
    review_by = datetime.date(2026, 1, 17)
    watchpoint = WatchpointFactory(review_by=review_by, text="Watch the rack shipments.")

    page = client.get(watchpoint.institution.get_absolute_url()).content.decode()

    assert "Watch the rack shipments." in page
    assert "17 January 2026" not in page and "2026-01-17" not in page


# --- the staff digest --------------------------------------------------------------------------------


def digests():
    return OutgoingMail.objects.filter(kind=freshness.STAFF_DIGEST_KIND)


def test_each_analyst_gets_their_overdue_watchpoints_and_due_profiles(settings):
    settings.SITE_URL = "https://profiles.example.org"
    yesterday = timezone.localdate() - DAY
    amira_profile, jonas_profile = verified(None, name="Amira's profile"), verified(200, name="Jonas's profile")
    WatchpointFactory(institution=amira_profile, review_by=yesterday, text="Amira watches the Ohio plant.")
    jonas_watch = WatchpointFactory(institution=jonas_profile, review_by=yesterday, text="Jonas watches tariffs.")
    amira = assigned_analyst(amira_profile, email="amira@example.org")
    jonas = assigned_analyst(jonas_profile, email="jonas@example.org")

    call_command("send_staff_digest", stdout=io.StringIO())

    sent = {message.to[0]: message for message in mail.outbox}
    assert set(sent) == {amira.email, jonas.email}
    amira_text, jonas_text = sent[amira.email].body, sent[jonas.email].body
    assert "Amira watches the Ohio plant." in amira_text and "Amira's profile" in amira_text
    assert "Jonas" not in amira_text
    assert "never verified" in amira_text
    assert "Jonas watches tariffs." in jonas_text and "Amira" not in jonas_text
    # Links on the site's address: the watchpoint, the confirm page, the queue.
    assert f"https://profiles.example.org{reverse('admin:profiles_watchpoint_change', args=[jonas_watch.pk])}" in (
        jonas_text
    )
    assert f"https://profiles.example.org{confirm_url(jonas_profile)}" in jonas_text
    assert f"https://profiles.example.org{QUEUE_URL}" in jonas_text
    html = sent[jonas.email].alternatives[0][0]
    assert f'href="https://profiles.example.org{confirm_url(jonas_profile)}"' in html
    assert sent[jonas.email].subject == "[BTW Profiles] Your desk: 1 overdue watchpoint and 1 profile to re-verify"


def test_digest_runs_once_a_day():
    profile = verified(None)
    assigned_analyst(profile)

    first = freshness.send_staff_digests(now=NOW)
    again = freshness.send_staff_digests(now=NOW + datetime.timedelta(minutes=5))
    next_day = freshness.send_staff_digests(now=NOW + DAY)

    assert (first.queued, again.queued, again.already_sent, next_day.queued) == (1, 0, 1, 1)
    assert digests().count() == 2
    assert len(mail.outbox) == 2


def test_running_the_command_twice_queues_nothing_new(capsys):
    assigned_analyst(verified(None))

    call_command("send_staff_digest")
    call_command("send_staff_digest")

    out = capsys.readouterr().out
    assert "Queued 1 staff digest;" in out and "Queued 0 staff digests; 1 already sent today" in out
    assert digests().count() == 1


def test_analyst_with_nothing_due_gets_no_digest():
    assigned_analyst(verified(5))
    WatchpointFactory(review_by=timezone.localdate() + DAY)

    report = freshness.send_staff_digests()

    assert (report.queued, report.nothing_due) == (0, 1)
    assert not mail.outbox


def test_unassigned_staff_get_no_digest(staff_factory, moderator):
    profile = verified(None)
    WatchpointFactory(institution=profile, review_by=timezone.localdate() - DAY)
    staff_factory("Analysts", "Lead analysts")  # edits everything, assigned nothing

    freshness.send_staff_digests()

    assert not mail.outbox


def test_former_staff_still_holding_an_assignment_get_no_digest():
    profile = verified(None)
    WatchpointFactory(institution=profile, review_by=timezone.localdate() - DAY, text="Staff-only reminder.")
    assigned_analyst(profile, is_active=False)
    assigned_analyst(profile, is_staff=False)

    freshness.send_staff_digests()

    assert not mail.outbox


def test_analyst_assigned_through_a_group_gets_a_digest():
    profile = verified(None)
    desk = Group.objects.create(name="Cloud desk")
    assign_perm("profiles.change_institution", desk, profile)
    analyst = StaffFactory(email="desk@example.org")
    analyst.groups.add(desk)

    freshness.send_staff_digests()

    assert [message.to for message in mail.outbox] == [["desk@example.org"]]


def test_unknown_analyst_exits_non_zero_with_one_readable_line(capsys):
    with pytest.raises(SystemExit) as exited:
        StaffDigestCommand().run_from_argv(["manage.py", "send_staff_digest", "--analyst", "nobody@example.org"])

    assert exited.value.code != 0
    err = capsys.readouterr().err.strip()
    assert err == (
        "CommandError: No active staff member with the e-mail address nobody@example.org is assigned a profile."
    )


def test_bad_reverify_period_is_refused_before_anything_is_queued(settings):
    assigned_analyst(verified(None))
    settings.BTW_REVERIFY_DAYS = 0

    with pytest.raises(CommandError, match="BTW_REVERIFY_DAYS must be a whole number of days"):
        call_command("send_staff_digest")
    assert not digests().exists()


def test_one_analyst_only_with_the_analyst_option():
    profile = verified(None)
    assigned_analyst(profile, email="one@example.org")
    assigned_analyst(profile, email="two@example.org")

    call_command("send_staff_digest", analyst="ONE@example.org", stdout=io.StringIO())

    assert [message.to for message in mail.outbox] == [["one@example.org"]]


def test_digest_queries_do_not_grow_with_the_number_of_profiles():
    counts = []
    for n in (1, 200):
        analyst = StaffFactory(username=f"analyst-{n}")
        profiles = Institution.objects.bulk_create(
            [
                Institution(
                    name=f"P {n}-{k}", slug=f"p-{n}-{k}", dek="Due.", status=Institution.Status.PUBLISHED,
                    published_at=NOW - 400 * DAY,
                )
                for k in range(n)
            ]
        )
        Watchpoint.objects.bulk_create(
            [Watchpoint(institution=p, text=f"Watch {p.name}.", review_by=timezone.localdate() - DAY) for p in profiles]
        )
        for profile in profiles:
            assign_perm("profiles.change_institution", analyst, profile)
        with CaptureQueriesContext(connection) as queries:
            report = freshness.send_staff_digests(analyst_email=analyst.email)
        assert report.queued == 1
        counts.append(len(queries))
    assert counts[0] == counts[1]
    largest = mail.outbox[-1]
    assert "200 overdue watchpoints and 200 profiles to re-verify" in largest.subject
    # Each list shows its first rows and counts the rest: the queue holds them all.
    assert largest.body.count("Confirm its sections still hold:") == freshness.DIGEST_LIST_LIMIT
    assert "… and 150 more." in largest.body
