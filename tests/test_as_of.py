"""`/profiles/<slug>/?as_of=YYYY-MM-DD`: the public layer as readers saw it at the end of that day.

History rows are written by the saves themselves (simple-history) and then moved back in time
(`happened`), so each test tells a story: the profile as it was 40 days ago, what changed 20 days
ago, and what a reader sees "as of" 30 days ago.
"""

import datetime
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format

import siteurl
from membership.gating import reader_for
from membership.models import Membership, Tier
from profiles import as_of
from profiles.models import (
    Briefing,
    EvidenceItem,
    FAQItem,
    Identifier,
    Institution,
    RelatedLink,
    Relationship,
    TimelineEvent,
    Watchpoint,
)

from .factories import (
    BriefingFactory,
    EvidenceItemFactory,
    InstitutionFactory,
    MembershipFactory,
    RelatedLinkFactory,
    RelationshipFactory,
    StaffFactory,
    TimelineEventFactory,
    UserFactory,
    WatchpointFactory,
    tier,
)
from .factories_membership import alliance_member, pending_applicant, strategic_member, unverified_user
from .factories_pages import full_profile

pytestmark = pytest.mark.django_db

TRACKED = (
    Institution, EvidenceItem, Relationship, Watchpoint, TimelineEvent, FAQItem, RelatedLink, Briefing, Identifier
)
BEFORE, AS_OF, AFTER = 40, 30, 20  # days ago: the first state, the day asked for, the change since


def days_ago(days: int) -> datetime.date:
    return timezone.localdate() - datetime.timedelta(days=days)


def happened(days: int) -> datetime.datetime:
    """Move every history row written since that day back to its noon: what was just saved happened then."""
    when = datetime.datetime.combine(days_ago(days), datetime.time(12), tzinfo=timezone.get_default_timezone())
    for model in TRACKED:
        model.history.filter(history_date__gt=when).update(history_date=when)
    return when


def as_of_url(profile, days: int) -> str:
    return reverse("profiles:detail", kwargs={"slug": profile.slug}) + f"?as_of={days_ago(days).isoformat()}"


def long_date(days: int) -> str:
    return date_format(days_ago(days), "j F Y")


@pytest.fixture
def profile():
    """A profile published 60 days ago, whose first history is 40 days old."""
    institution = InstitutionFactory(
        name="As Of Exchange",
        slug="as-of-exchange",
        dek="The dek as it first stood.",
        published_at=timezone.now() - datetime.timedelta(days=60),
    )
    EvidenceItemFactory(institution=institution, title="A steady public source", publisher="Steady Wire")
    happened(BEFORE)
    return institution


def edit(obj, **changes):
    for name, value in changes.items():
        setattr(obj, name, value)
    obj.save()
    return obj


# --- the page shows the past --------------------------------------------------------------------------------


def test_edit_before_the_date_is_shown_and_one_after_is_not(client, profile):
    edit(profile, dek="The dek a week later.")
    happened(AS_OF + 5)
    edit(profile, dek="The dek as it reads today.")
    happened(AFTER)

    past = client.get(as_of_url(profile, AS_OF)).content.decode()
    assert "The dek a week later." in past and "The dek as it reads today." not in past
    assert "as it first stood" not in past
    live = client.get(profile.get_absolute_url()).content.decode()
    assert "The dek as it reads today." in live


def test_as_of_page_has_a_banner_linking_the_live_page_and_is_not_for_search_engines(client, profile):
    response = client.get(as_of_url(profile, AS_OF))
    html = response.content.decode()
    assert response.status_code == 200
    banner = f'You are reading this profile as it stood on <time datetime="{days_ago(AS_OF)}">{long_date(AS_OF)}'
    assert banner in html
    assert f'<a href="{profile.get_absolute_url()}">Read the current profile.</a>' in html
    assert '<meta name="robots" content="noindex' in html
    assert f'<link rel="canonical" href="{siteurl.absolute(profile.get_absolute_url())}">' in html
    assert "A steady public source" in html  # the same section templates: Sources is there


def test_evidence_approved_after_the_date_is_absent(client, profile):
    late = EvidenceItemFactory(
        institution=profile, title="Approved later", review_state=EvidenceItem.Review.SUBMITTED
    )
    happened(BEFORE)
    edit(late, review_state=EvidenceItem.Review.APPROVED)
    happened(AFTER)

    assert "Approved later" not in client.get(as_of_url(profile, AS_OF)).content.decode()
    assert "Approved later" in client.get(as_of_url(profile, AFTER - 1)).content.decode()


def test_evidence_retracted_after_the_date_shows_retracted_on_without_its_text(client, profile):
    item = EvidenceItemFactory(
        institution=profile,
        title="Retracted headline",
        claim="Retracted claim text.",
        quote="Retracted quote text.",
        publisher="Retracted Wire",
        url="https://retracted.example.org/story",
    )
    happened(BEFORE)
    edit(item, review_state=EvidenceItem.Review.RETRACTED, review_note="The outlet withdrew it.")
    happened(AFTER)

    html = client.get(as_of_url(profile, AS_OF)).content.decode()
    assert f"A source was retracted on <time datetime=\"{days_ago(AFTER)}\">{long_date(AFTER)}</time>" in html
    for text in ("Retracted headline", "Retracted claim text.", "Retracted quote text.", "Retracted Wire",
                 "retracted.example.org"):
        assert text not in html
    assert "A steady public source" in html
    before = client.get(as_of_url(profile, BEFORE)).content.decode()  # the day it was still standing
    assert "Retracted headline" not in before and "A source was retracted on" in before


def test_evidence_deleted_after_the_date_shows_removed_on_without_its_text(client, profile):
    item = EvidenceItemFactory(institution=profile, title="Deleted headline", claim="Deleted claim.")
    happened(BEFORE)
    item.delete()
    happened(AFTER)

    html = client.get(as_of_url(profile, AS_OF)).content.decode()
    assert f"A source was removed on <time datetime=\"{days_ago(AFTER)}\">" in html
    assert "Deleted headline" not in html and "Deleted claim." not in html


def test_evidence_retracted_before_the_date_is_simply_absent(client, profile):
    item = EvidenceItemFactory(institution=profile, title="Gone early")
    happened(BEFORE)
    edit(item, review_state=EvidenceItem.Review.RETRACTED)
    happened(AS_OF + 2)

    html = client.get(as_of_url(profile, AS_OF)).content.decode()
    assert "Gone early" not in html and "retracted on" not in html


def test_items_added_after_the_date_are_absent_and_deleted_ones_are_shown_as_they_were(client, profile):
    kept = TimelineEventFactory(institution=profile, title="Timeline entry of the past", text="Then.")
    WatchpointFactory(institution=profile, text="A watchpoint of the past.")
    happened(BEFORE)
    kept.delete()
    TimelineEventFactory(institution=profile, title="Timeline entry added later")
    WatchpointFactory(institution=profile, text="A watchpoint added later.")
    happened(AFTER)

    html = client.get(as_of_url(profile, AS_OF)).content.decode()
    assert "Timeline entry of the past" in html and "A watchpoint of the past." in html
    assert "added later" not in html


def test_two_revisions_in_the_same_instant_show_once_as_the_later_one(client, profile):
    item = EvidenceItemFactory(institution=profile, title="First wording of the source")
    edit(item, title="Second wording of the source")
    happened(BEFORE)  # both revisions now carry the same moment

    html = client.get(as_of_url(profile, AS_OF)).content.decode()
    assert html.count("Second wording of the source") == 1 and "First wording" not in html


# --- the gate: the tier then AND the tier now -----------------------------------------------------------------


def test_a_tier_raised_since_hides_the_old_text_below_the_new_tier(client, profile):
    alliance = tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    evidence = EvidenceItemFactory(institution=profile, title="Once public source title")
    watchpoint = WatchpointFactory(institution=profile, text="Once public watchpoint text.")
    briefing = BriefingFactory(institution=profile, title="Circle briefing", body="Once circle body text.")
    happened(BEFORE)
    edit(evidence, required_tier=alliance)
    edit(watchpoint, required_tier=alliance)
    edit(briefing, required_tier=alliance)
    happened(AFTER)

    client.force_login(strategic_member())
    html = client.get(as_of_url(profile, AS_OF)).content.decode()
    for text in ("Once public source title", "Once public watchpoint text.", "Once circle body text."):
        assert text not in html
    assert "Circle briefing" in html and "Only for Leadership Alliance" in html  # title and tier, like live

    client.force_login(alliance_member())
    html = client.get(as_of_url(profile, AS_OF)).content.decode()
    for text in ("Once public source title", "Once public watchpoint text.", "Once circle body text."):
        assert text in html


def test_a_tier_lowered_since_does_not_open_the_past_to_readers_below_the_old_tier(client, profile):
    alliance = tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    evidence = EvidenceItemFactory(institution=profile, title="Alliance-then source", required_tier=alliance)
    happened(BEFORE)
    edit(evidence, required_tier=None)
    happened(AFTER)

    assert "Alliance-then source" not in client.get(as_of_url(profile, AS_OF)).content.decode()
    assert "Alliance-then source" in client.get(profile.get_absolute_url()).content.decode()


def lapsed_member():
    user = UserFactory(verified=True)
    for slug in (Tier.STRATEGIC_CIRCLE_SLUG, Tier.LEADERSHIP_ALLIANCE_SLUG):
        MembershipFactory(user=user, tier=tier(slug), status=Membership.Status.LAPSED)
    return user


LOCKED_OUT = {
    "anonymous": lambda: None,
    "signed-up, unverified": unverified_user,
    "Strategic Circle member": strategic_member,
    "pending Leadership Alliance applicant": lambda: pending_applicant().user,
    "lapsed member": lapsed_member,
}


@pytest.fixture
def secret_profile(profile):
    """Alliance-only text planted in every kind of locked block, all of it there on the day asked for."""
    secret = f"SECRET{uuid.uuid4().hex}"
    alliance = tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    BriefingFactory(
        institution=profile, title="Alliance context", body=f"Body {secret}.", source_notes=f"Notes {secret}.",
        required_tier=alliance,
    )
    EvidenceItemFactory(
        institution=profile, title=f"Title {secret}", claim=f"Claim {secret}", quote=f"Quote {secret}",
        publisher=f"Publisher {secret}", required_tier=alliance,
    )
    WatchpointFactory(institution=profile, text=f"Watch {secret}", required_tier=alliance)
    retracted = EvidenceItemFactory(institution=profile, title=f"Retracted {secret}", required_tier=alliance)
    happened(BEFORE)
    edit(retracted, review_state=EvidenceItem.Review.RETRACTED)
    happened(AFTER)
    return profile, secret


@pytest.mark.parametrize("who", LOCKED_OUT)
def test_alliance_secrets_absent_from_the_as_of_page_below_the_tier(secret_profile, who):
    profile, secret = secret_profile
    client = Client()
    user = LOCKED_OUT[who]()
    if user is not None:
        client.force_login(user)
    response = client.get(as_of_url(profile, AS_OF))
    assert response.status_code == 200
    text = "\n".join(f"{k}: {v}" for k, v in response.headers.items()) + response.content.decode()
    assert secret not in text
    assert "Alliance context" in text  # the locked briefing's title, as on the live page
    assert "A source was retracted on" not in text  # not even the line: it was never theirs to read


@pytest.mark.parametrize("make_user", [alliance_member, lambda: StaffFactory()], ids=["alliance", "staff"])
def test_alliance_secrets_present_on_the_as_of_page_for_readers_of_the_tier(client, secret_profile, make_user):
    profile, secret = secret_profile
    client.force_login(make_user())
    html = client.get(as_of_url(profile, AS_OF)).content.decode()
    for text in (f"Body {secret}", f"Notes {secret}", f"Title {secret}", f"Claim {secret}", f"Watch {secret}"):
        assert text in html
    assert f"Retracted {secret}" not in html and "A source was retracted on" in html


# --- other profiles: published then and now -------------------------------------------------------------------


def test_ties_and_links_show_only_profiles_published_then_and_now(client, profile):
    long_ago = timezone.now() - datetime.timedelta(days=60)
    steady = InstitutionFactory(name="Steady Neighbour", published_at=long_ago)
    archived_since = InstitutionFactory(name="Archived Since Neighbour", published_at=long_ago)
    published_later = InstitutionFactory(name="Later Neighbour", status=Institution.Status.DRAFT, published_at=None)
    for other in (steady, archived_since, published_later):
        RelationshipFactory(source=profile, target=other, kind=Relationship.Kind.DEPENDS_ON)
        RelatedLinkFactory(institution=profile, target=other, url="", title="")
    happened(BEFORE)
    edit(archived_since, status=Institution.Status.ARCHIVED)
    published_at = timezone.now() - datetime.timedelta(days=21)
    edit(published_later, status=Institution.Status.PUBLISHED, published_at=published_at)
    happened(AFTER)

    html = client.get(as_of_url(profile, AS_OF)).content.decode()
    assert html.count("Steady Neighbour") >= 2  # under Dependencies and Also read
    assert "Archived Since Neighbour" not in html and "Later Neighbour" not in html


# --- which profiles and dates have an as-of view ----------------------------------------------------------------


def test_profile_archived_now_is_404_on_every_date(client, profile):
    edit(profile, status=Institution.Status.ARCHIVED)
    assert client.get(as_of_url(profile, AS_OF)).status_code == 404
    client.force_login(StaffFactory())
    assert client.get(as_of_url(profile, AS_OF)).status_code == 404


def test_profile_that_was_a_draft_then_is_404(client):
    profile = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    happened(BEFORE)
    edit(profile, status=Institution.Status.PUBLISHED, published_at=timezone.now() - datetime.timedelta(days=AFTER))
    happened(AFTER)
    assert client.get(as_of_url(profile, AS_OF)).status_code == 404
    assert client.get(as_of_url(profile, AFTER - 1)).status_code == 200


def test_profile_scheduled_for_later_then_is_404(client):
    profile = InstitutionFactory(published_at=timezone.now() - datetime.timedelta(days=25))
    happened(BEFORE)
    assert client.get(as_of_url(profile, AS_OF)).status_code == 404
    assert client.get(as_of_url(profile, 24)).status_code == 200


def test_date_before_the_first_history_row_is_404(client, profile):
    assert client.get(as_of_url(profile, BEFORE + 1)).status_code == 404
    url = reverse("profiles:detail", kwargs={"slug": profile.slug})
    assert client.get(url + "?as_of=0001-01-01").status_code == 404


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-13-01", "2026-02-30", "", "2026-1-1", "20261101", "2026-W44-1", "0000-01-01"]
)
def test_malformed_dates_are_400_with_a_message(client, profile, value):
    response = client.get(profile.get_absolute_url(), {"as_of": value})
    assert response.status_code == 400
    assert "YYYY-MM-DD" in response.content.decode()


def test_a_future_date_is_400_with_a_message(client, profile):
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    response = client.get(profile.get_absolute_url(), {"as_of": tomorrow})
    assert response.status_code == 400 and "in the future" in response.content.decode()
    today = timezone.localdate().isoformat()
    assert client.get(profile.get_absolute_url(), {"as_of": today}).status_code == 200


def test_unknown_profile_is_404(client):
    assert client.get("/profiles/no-such-profile/?as_of=2026-01-01").status_code == 404


# --- caches ------------------------------------------------------------------------------------------------------


def test_as_of_page_is_never_served_from_or_stored_in_the_page_cache(client, profile, settings):
    settings.BTW_PAGE_CACHE_TIMEOUT = 3600
    edit(profile, dek="The dek as it reads today.")
    happened(AFTER)
    live_url = profile.get_absolute_url()

    first = client.get(live_url)
    assert first["X-Page-Cache"] == "miss" and b"as it reads today" in first.content
    past = client.get(as_of_url(profile, AS_OF))
    assert "X-Page-Cache" not in past and "private" in past["Cache-Control"]
    assert b"as it first stood" in past.content and b"as it reads today" not in past.content
    again = client.get(live_url)
    assert again["X-Page-Cache"] == "hit"
    assert b"as it reads today" in again.content and b"You are reading this profile as it stood" not in again.content


def test_as_of_page_first_stores_nothing_under_the_live_key(client, profile, settings):
    settings.BTW_PAGE_CACHE_TIMEOUT = 3600
    assert client.get(as_of_url(profile, AS_OF)).status_code == 200
    live = client.get(profile.get_absolute_url())
    assert live["X-Page-Cache"] == "miss" and b"You are reading this profile as it stood" not in live.content
    assert client.get(profile.get_absolute_url() + "?as_of=yesterday").status_code == 400  # nor a 400


def test_as_of_page_never_uses_the_fragment_cache(client, profile):
    client.force_login(strategic_member())
    edit(profile, dek="The dek as it reads today.")
    happened(AFTER)
    assert b"as it reads today" in client.get(profile.get_absolute_url()).content  # parts now cached
    past = client.get(as_of_url(profile, AS_OF))
    assert b"as it first stood" in past.content and b"as it reads today" not in past.content
    assert b"as it reads today" in client.get(profile.get_absolute_url()).content


# --- the module the API calls --------------------------------------------------------------------------------------


def test_parse_as_of_reads_a_day_and_refuses_the_rest():
    assert as_of.parse_as_of("2026-01-31") == datetime.date(2026, 1, 31)
    for value in ("2026-13-01", "yesterday", "2999-01-01"):
        with pytest.raises(ValueError, match="as_of"):
            as_of.parse_as_of(value)


def test_profile_as_of_returns_the_profile_then_and_its_withdrawn_sources(profile):
    item = EvidenceItemFactory(institution=profile, title="To retract")
    happened(BEFORE)
    edit(item, review_state=EvidenceItem.Review.RETRACTED)
    edit(profile, dek="Newer dek.")
    happened(AFTER)

    snapshot = as_of.profile_as_of(profile, days_ago(AS_OF), reader_for(None))
    assert snapshot.institution.dek == "The dek as it first stood."
    assert snapshot.at == as_of.end_of_day(days_ago(AS_OF))
    assert [s.title for s in snapshot.page.sources] == ["A steady public source"]
    assert snapshot.retracted == [(item.pk, days_ago(AFTER), as_of.RETRACTED)]
    assert as_of.profile_as_of(profile, days_ago(BEFORE + 1), reader_for(None)) is None


# --- query budget ----------------------------------------------------------------------------------------------------

#: The profile (published now), then every list of the page as it stood, with what the gate needs of
#: each item now, in one query; a signed-in member adds the user with their reader row.
AS_OF_BUDGET = {"anonymous": 2, "member": 3}


def profile_with_history(n: int) -> Institution:
    """`full_profile(n)` (bulk-inserted, so without history) given a history: every row recorded 40
    days ago, then every list edited 20 days ago, so each object has two revisions around the day asked for."""
    long_ago = timezone.now() - datetime.timedelta(days=60)
    institution = full_profile(n, published_at=long_ago)
    Institution.objects.filter(slug__startswith=f"{institution.slug}-n").update(published_at=long_ago)
    for model in TRACKED:
        model.history.bulk_history_create(list(model._default_manager.all()))
    happened(BEFORE)
    for model in (EvidenceItem, Watchpoint, Briefing, TimelineEvent, FAQItem):
        model.history.bulk_history_create(list(model._default_manager.all()), update=True)
    happened(AFTER)
    return institution


@pytest.mark.parametrize("kind", AS_OF_BUDGET)
def test_as_of_page_query_budget_is_the_same_at_1_and_200_items(client, member_client, kind, settings):
    settings.BTW_FRAGMENT_CACHE_TIMEOUT = 0
    counts = []
    for n in (1, 200):
        profile = profile_with_history(n)
        reader = member_client(Tier.LEADERSHIP_ALLIANCE_SLUG) if kind == "member" else client
        url = as_of_url(profile, AS_OF)
        reader.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = reader.get(url)
        assert response.status_code == 200
        assert response.content.decode().count('class="source"') >= min(n, 1)
        counts.append(len(queries))
    assert counts[0] == counts[1] <= AS_OF_BUDGET[kind], counts


@pytest.mark.parametrize("n", [1, 200])
def test_as_of_page_holds_its_budget_with_django_assert_max_num_queries(client, django_assert_max_num_queries, n):
    profile = profile_with_history(n)
    url = as_of_url(profile, AS_OF)
    client.get(url)
    with django_assert_max_num_queries(AS_OF_BUDGET["anonymous"]):
        assert client.get(url).status_code == 200


def test_corrections_show_as_of_the_day_they_were_published(client):
    from profiles.models import Correction

    institution = InstitutionFactory(published_at=timezone.now() - datetime.timedelta(days=50))
    Correction.objects.create(institution=institution, note="Capacity was 200 MW, not 2 GW.",
                              published_at=timezone.now() - datetime.timedelta(days=35))
    Correction.objects.create(institution=institution, note="The site is in Ohio.",
                              published_at=timezone.now() - datetime.timedelta(days=10))
    happened(45)
    html = client.get(as_of_url(institution, AS_OF)).content.decode()
    assert "Capacity was 200 MW, not 2 GW." in html
    assert "The site is in Ohio." not in html
