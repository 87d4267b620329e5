"""The public changelog `/profiles/<slug>/changes/`: what readers could see change, newest first, each change
with the evidence behind it — gated like the profile page, so a source above the reader's tier, or one
retracted since, is never named."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from membership import services as membership_services
from membership.models import Membership, Tier
from profiles import changelog
from profiles.models import Correction, EvidenceItem, Institution, TimelineEvent

from .factories import EvidenceItemFactory, InstitutionFactory, TimelineEventFactory, tier
from .factories_membership import alliance_member, pending_applicant, strategic_member, unverified_user

pytestmark = pytest.mark.django_db

NOW = timezone.now()
TODAY = timezone.localdate()


def changes_url(institution) -> str:
    return reverse("profiles:changes", args=[institution.slug])


def lapsed_member():
    """Was in the Leadership Alliance; that membership lapsed (still a Strategic Circle member)."""
    user = alliance_member()
    membership = Membership.objects.get(user=user, tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG)
    membership_services.lapse_membership(membership=membership)
    return user


READERS_BELOW_ALLIANCE = {
    "anonymous": lambda: None,
    "unverified": unverified_user,
    "Strategic Circle": strategic_member,
    "pending applicant": lambda: pending_applicant().user,
    "lapsed": lapsed_member,
}


def client_for(make_user) -> Client:
    client = Client()
    user = make_user()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def profile(secret):
    """A published profile with one change of each kind, a members-only source, and a retracted one."""
    institution = InstitutionFactory(name="Ohio Rack Works", slug="ohio-rack-works",
                                     published_at=NOW - datetime.timedelta(days=10))
    public = EvidenceItemFactory(institution=institution, title="Public filing", publisher="SEC EDGAR",
                                 url="https://www.sec.gov/filing-1", reviewed_at=NOW - datetime.timedelta(days=5))
    alliance = EvidenceItemFactory(institution=institution, title=f"Alliance title {secret}",
                                   claim=f"Alliance claim {secret}", url=f"https://x.example.org/{secret}",
                                   required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG),
                                   reviewed_at=NOW - datetime.timedelta(days=4))
    TimelineEventFactory(institution=institution, date=TODAY - datetime.timedelta(days=3), title="Site announced",
                         text=f"The site was chosen [^ev:{alliance.pk}] and filed [^ev:{public.pk}].", evidence=public)
    TimelineEventFactory(institution=institution, date=TODAY - datetime.timedelta(days=2),
                         kind=TimelineEvent.Kind.PROFILE_UPDATE, title="Public profile updated",
                         text="Revised: dek.")
    Correction.objects.create(institution=institution, note="The capacity figure was wrong.",
                              published_at=NOW - datetime.timedelta(days=1))
    return institution


@pytest.fixture
def retracted(profile):
    secret = f"RETRACTED{uuid.uuid4().hex}"
    item = EvidenceItemFactory(institution=profile, title=f"Retracted title {secret}", claim=f"Retracted {secret}",
                               review_state=EvidenceItem.Review.RETRACTED,
                               reviewed_at=NOW - datetime.timedelta(hours=6))
    TimelineEventFactory(institution=profile, date=TODAY, title="Event resting on a retracted source",
                         text=f"It happened [^ev:{item.pk}].", evidence=item)
    return secret


def test_changes_are_listed_newest_first(client, profile):
    html = client.get(changes_url(profile)).content.decode()
    order = ["The capacity figure was wrong.", "Revised: dek.", "Site announced", "Public filing", "New profile"]
    positions = [html.index(text) for text in order]
    assert positions == sorted(positions)


def test_each_change_shows_the_evidence_behind_it(client, profile):
    html = client.get(changes_url(profile)).content.decode()
    event = html[html.index("Site announced"):html.index("Public filing")]  # the timeline entry's card
    assert "SEC EDGAR" in event and 'href="https://www.sec.gov/filing-1"' in event
    assert "[1]" in event  # its citation of the public source is numbered, the other one vanished


def test_a_retracted_sources_text_is_not_shown(client, profile, retracted):
    alliance_client = client_for(alliance_member)
    for reader in (client, alliance_client):
        html = reader.get(changes_url(profile)).content.decode()
        assert "Event resting on a retracted source" in html  # the event stays; its retracted source does not
        assert retracted not in html


@pytest.mark.parametrize("reader", list(READERS_BELOW_ALLIANCE))
def test_alliance_evidence_is_absent_below_the_alliance(profile, secret, reader):
    response = client_for(READERS_BELOW_ALLIANCE[reader]).get(changes_url(profile))
    assert response.status_code == 200
    assert secret not in response.content.decode()


def test_alliance_evidence_is_present_for_the_alliance(profile, secret):
    html = client_for(alliance_member).get(changes_url(profile)).content.decode()
    assert f"Alliance title {secret}" in html and f"Alliance claim {secret}" in html


@pytest.mark.parametrize("state", ["draft", "scheduled", "archived"])
def test_a_profile_readers_cannot_open_has_no_changelog(client, state):
    fields = {
        "draft": {"status": Institution.Status.DRAFT, "published_at": None},
        "scheduled": {"published_at": NOW + datetime.timedelta(days=3)},
        "archived": {"status": Institution.Status.ARCHIVED},
    }[state]
    institution = InstitutionFactory(**fields)
    assert client.get(changes_url(institution)).status_code == 404


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5", "٣", "99999", "4"])
def test_a_bad_page_is_a_404_not_an_error(client, page):
    institution = InstitutionFactory()
    Correction.objects.bulk_create([Correction(institution=institution, note=f"Fix {k}.") for k in range(120)])
    assert client.get(changes_url(institution), {"page": page}).status_code == 404


def test_pages_hold_50_changes_and_link_to_the_next(client):
    institution = InstitutionFactory(published_at=NOW - datetime.timedelta(days=400))
    Correction.objects.bulk_create(
        [Correction(institution=institution, note=f"Fix number {k}.", published_at=NOW - datetime.timedelta(days=k))
         for k in range(120)]
    )
    first = client.get(changes_url(institution)).content.decode()
    assert first.count('class="card profile-section changelog__entry') == 50
    assert "Fix number 0." in first and 'href="?page=2"' in first
    third = client.get(changes_url(institution), {"page": 3}).content.decode()
    assert third.count('class="card profile-section changelog__entry') == 21  # 20 fixes and the first publication
    assert "Fix number 119." in third and 'href="?page=4"' not in third and 'href="?page=2"' in third


def test_the_profile_page_links_to_its_changelog(client, profile):
    assert f'href="{changes_url(profile)}"' in client.get(profile.get_absolute_url()).content.decode()


def test_anonymous_changelog_is_shared_and_a_members_is_private(client, profile, settings):
    settings.BTW_PAGE_CACHE_TIMEOUT = 300
    client.get(changes_url(profile))
    shared = client.get(changes_url(profile))
    assert shared["X-Page-Cache"] == "hit" and "public" in shared["Cache-Control"]
    member = client_for(strategic_member).get(changes_url(profile))
    assert "private" in member["Cache-Control"] and "Cookie" in member["Vary"]
    assert "X-Page-Cache" not in member


def test_changelog_page_numbers_are_checked_before_reading():
    with pytest.raises(changelog.Http404):
        changelog.page_number(str(changelog.MAX_PAGE + 1))
    assert changelog.page_number(None) == changelog.page_number("") == 1


# --- query budget ----------------------------------------------------------------------------------------------

#: The profile; the update stream (new profile, sources, timeline events, corrections, watchpoints added and
#: triggered, relationships); the stream's cited sources; the "profile updated" entries; the sources behind the
#: page's changes. A signed-in reader adds the user with their reader row.
CHANGELOG_BUDGET = {"anonymous": 11, "member": 12}


def profile_with_changes(n: int) -> Institution:
    institution = InstitutionFactory(published_at=NOW - datetime.timedelta(days=n + 10))
    circle = tier(Tier.STRATEGIC_CIRCLE_SLUG)
    EvidenceItem.objects.bulk_create(
        [EvidenceItem(institution=institution, url=f"https://news.example.org/{institution.slug}/{k}",
                      publisher=f"Publisher {k}", title=f"Source {k}", claim="Supports it.",
                      required_tier=circle if k % 2 else None, review_state=EvidenceItem.Review.APPROVED,
                      reviewed_at=NOW - datetime.timedelta(hours=k)) for k in range(n)]
    )
    evidence = list(institution.evidence.all())
    TimelineEvent.objects.bulk_create(
        [TimelineEvent(institution=institution, date=TODAY - datetime.timedelta(days=k), title=f"Event {k}",
                       text=f"Cites [^ev:{evidence[k].pk}].", evidence=evidence[k]) for k in range(n)]
        + [TimelineEvent(institution=institution, date=TODAY - datetime.timedelta(days=k),
                         kind=TimelineEvent.Kind.PROFILE_UPDATE, title="Public profile updated", text="Revised: dek.")
           for k in range(n)]
    )
    # Dated like the rest (a day apart, oldest last), not all "now": 200 corrections made now would fill the
    # first page on their own after 12:00 UTC, when they are newer than today's dated entries (shown at noon).
    Correction.objects.bulk_create(
        [Correction(institution=institution, note=f"Fix {k}.", published_at=NOW - datetime.timedelta(days=k + 1))
         for k in range(n)]
    )
    return institution


@pytest.mark.parametrize("kind", ["anonymous", "member"])
def test_changelog_costs_the_same_queries_with_1_and_200_changes(
    settings, client, member_client, kind, django_assert_max_num_queries
):
    settings.BTW_PAGE_CACHE_TIMEOUT = settings.BTW_FRAGMENT_CACHE_TIMEOUT = 0
    reader = member_client() if kind == "member" else client
    counts = []
    for n in (1, 200):
        url = changes_url(profile_with_changes(n))
        reader.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert reader.get(url).status_code == 200
        counts.append(len(queries))
        with django_assert_max_num_queries(CHANGELOG_BUDGET[kind]):
            reader.get(url)
    assert counts == [CHANGELOG_BUDGET[kind]] * 2
