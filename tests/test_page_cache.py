"""The shared page cache: anonymous public renders only, invalidated the moment content changes."""

import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from profiles import cache as page_cache
from profiles.models import Institution

from .factories import InstitutionFactory

pytestmark = pytest.mark.django_db


def test_anonymous_home_is_served_from_the_shared_cache(client):
    InstitutionFactory(name="Cached Exchange")
    first, second = client.get(reverse("home")), client.get(reverse("home"))
    assert first["X-Page-Cache"] == "miss" and second["X-Page-Cache"] == "hit"
    assert second.content == first.content
    assert "public" in second["Cache-Control"] and "Cookie" in second["Vary"]


def test_cached_page_costs_no_database_query(client, django_assert_num_queries):
    InstitutionFactory()
    client.get(reverse("home"))
    with django_assert_num_queries(0):
        assert client.get(reverse("home"))["X-Page-Cache"] == "hit"



def test_one_stored_page_serves_every_allowed_host_name_and_scheme(client):
    """Shared pages name the site's own address (siteurl), never the Host asked for, so a second host
    name or https behind a proxy is the same page, not a second copy in the cache."""
    profile = InstitutionFactory(name="One Copy Exchange")
    first = client.get(profile.get_absolute_url(), HTTP_HOST="localhost")
    again = client.get(profile.get_absolute_url(), HTTP_HOST="127.0.0.1", secure=True)
    assert first["X-Page-Cache"] == "miss" and again["X-Page-Cache"] == "hit"
    assert again.content == first.content and b"//localhost" not in first.content

def test_saving_a_profile_invalidates_cached_pages_at_once(client):
    inst = InstitutionFactory(name="Old Name Exchange")
    assert b"Old Name Exchange" in client.get(reverse("home")).content
    inst.name = "New Name Exchange"
    inst.save()
    response = client.get(reverse("home"))
    assert response["X-Page-Cache"] == "miss" and b"New Name Exchange" in response.content


def test_moderation_change_invalidates_feeds(client, moderator, analyst):
    from profiles import review

    from .factories import EvidenceItemFactory

    item = EvidenceItemFactory(review_state="submitted", submitted_by=analyst, title="Fresh approval")
    assert b"Fresh approval" not in client.get(reverse("feed_rss")).content
    review.approve(item, actor=moderator)
    assert b"Fresh approval" in client.get(reverse("feed_rss")).content


def test_scheduled_profile_appears_when_its_time_comes(client):
    soon = InstitutionFactory(name="Scheduled Registry", published_at=timezone.now() + datetime.timedelta(hours=1))
    assert b"Scheduled Registry" not in client.get(reverse("home")).content
    Institution.objects.filter(pk=soon.pk).update(published_at=timezone.now() - datetime.timedelta(seconds=1))
    # No save happened (time passed): the cached schedule mark must still expire the old render.
    page_cache.cache.set(page_cache.SCHEDULE_KEY, (page_cache.content_version(), 1.0))
    assert b"Scheduled Registry" in client.get(reverse("home")).content


def test_signed_in_readers_never_get_or_fill_the_shared_cache(client, member_factory):
    InstitutionFactory()
    member = Client()
    member.force_login(member_factory())
    response = member.get(reverse("home"))
    assert "X-Page-Cache" not in response and "private" in response["Cache-Control"]
    assert client.get(reverse("home"))["X-Page-Cache"] == "miss"


def test_anonymous_reader_with_a_session_is_not_served_shared_pages(client):
    InstitutionFactory()
    Client().get(reverse("home"))
    client.cookies["sessionid"] = "anything"
    assert "X-Page-Cache" not in client.get(reverse("home"))


def test_responses_that_set_cookies_are_never_stored(rf):
    from django.http import HttpResponse

    calls = []

    def view(request):
        calls.append(1)
        response = HttpResponse("hello")
        response.set_cookie("csrftoken", "abc")
        return response

    cached = page_cache.cache_anonymous_page(view)
    for _ in range(2):
        request = rf.get("/x")
        from django.contrib.auth.models import AnonymousUser

        request.user = AnonymousUser()
        cached(request)
    assert len(calls) == 2


def test_version_survives_cache_eviction():
    before = page_cache.content_version()
    page_cache.cache.delete(page_cache.VERSION_KEY)
    page_cache.bump_content_version()
    assert page_cache.content_version() != before


def test_anonymous_profile_page_is_cached_and_refreshed_by_an_edit(client):
    inst = InstitutionFactory(dek="First version of the dek.")
    url = inst.get_absolute_url()
    assert client.get(url)["X-Page-Cache"] == "miss"
    assert client.get(url)["X-Page-Cache"] == "hit"
    inst.dek = "Second version of the dek."
    inst.save()
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss" and b"Second version of the dek." in response.content


def test_cached_anonymous_profile_page_holds_no_csrf_token(client):
    inst = InstitutionFactory()
    response = client.get(inst.get_absolute_url())
    assert b"csrfmiddlewaretoken" not in response.content and not response.cookies


def test_unpublished_profile_404_is_not_cached_for_later_staff(client, staff_factory):
    draft = InstitutionFactory(status=Institution.Status.DRAFT)
    assert client.get(draft.get_absolute_url()).status_code == 404
    staff = Client()
    staff.force_login(staff_factory())
    assert staff.get(draft.get_absolute_url()).status_code == 200


def test_fragments_follow_a_new_briefing_grant_at_once(client, member_factory):
    from guardian.shortcuts import assign_perm

    from membership.models import Tier

    from .factories import BriefingFactory, tier

    briefing = BriefingFactory(body="granted-body-text", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    member = member_factory()
    client.force_login(member)
    url = briefing.institution.get_absolute_url()
    assert b"granted-body-text" not in client.get(url).content
    assign_perm("profiles.view_briefing", member, briefing)
    assert b"granted-body-text" in client.get(url).content


def test_fragments_are_not_shared_between_tiers(client, member_factory):
    from membership.models import Tier

    from .factories import BriefingFactory, tier

    briefing = BriefingFactory(body="alliance-only-body", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    url = briefing.institution.get_absolute_url()
    alliance = Client()
    alliance.force_login(member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG))
    assert b"alliance-only-body" in alliance.get(url).content
    client.force_login(member_factory(Tier.STRATEGIC_CIRCLE_SLUG))
    assert b"alliance-only-body" not in client.get(url).content


def test_content_version_moves_again_when_the_transaction_commits(django_capture_on_commit_callbacks):
    """A render between a save and its commit (old rows) is stored under a version the commit retires."""
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        InstitutionFactory()
        InstitutionFactory()  # a second save in the same transaction adds no second commit bump
        during = page_cache.content_version()
    assert page_cache.content_version() != during  # a fresh value, never one a reader already read
    commit_bumps = [c for c in callbacks if page_cache.VERSION_KEY in getattr(c, "args", ())]
    assert len(commit_bumps) == 1


def test_member_fragments_retire_when_a_scheduled_profile_comes_due(settings, member_factory):
    """A cached profile body hides its 'Also read' link to a scheduled profile until it goes live."""
    from .factories import RelatedLinkFactory

    settings.BTW_FRAGMENT_CACHE_TIMEOUT = 300
    soon = InstitutionFactory(name="Soon Live Registry", published_at=timezone.now() + datetime.timedelta(hours=1))
    page = InstitutionFactory()
    RelatedLinkFactory(institution=page, target=soon, url="", title="")
    member = Client()
    member.force_login(member_factory())
    assert b"Soon Live Registry" not in member.get(page.get_absolute_url()).content
    Institution.objects.filter(pk=soon.pk).update(published_at=timezone.now() - datetime.timedelta(seconds=1))
    page_cache.cache.set(page_cache.SCHEDULE_KEY, (page_cache.content_version(), 1.0))  # the mark says: due
    assert b"Soon Live Registry" in member.get(page.get_absolute_url()).content


def test_profile_row_cached_by_a_staff_preview_stays_hidden_from_readers(client, staff_factory, member_factory):
    """The cached row of a draft is shared, but who may open it is decided on every request."""
    draft = InstitutionFactory(status=Institution.Status.DRAFT, name="Unreleased Exchange")
    staff = Client()
    staff.force_login(staff_factory())
    assert staff.get(draft.get_absolute_url()).status_code == 200  # the row is now in the cache
    assert client.get(draft.get_absolute_url()).status_code == 404
    client.force_login(member_factory())
    response = client.get(draft.get_absolute_url())
    assert response.status_code == 404 and b"Unreleased Exchange" not in response.content


def test_profile_row_from_the_cache_costs_no_query_and_follows_an_edit(client, member_factory):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    inst = InstitutionFactory(name="Harbour Interconnect")
    url = inst.get_absolute_url()
    client.force_login(member_factory())
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    assert queries and not [q for q in queries if "profiles_institution" in q["sql"]]  # only reader queries
    Institution.objects.filter(pk=inst.pk).update(name="Harbour Interconnect Group")
    page_cache.bump_content_version()  # what every save of profile content does (profiles.apps)
    assert b"Harbour Interconnect Group" in client.get(url).content


def test_scheduled_profile_row_in_the_cache_opens_when_its_time_comes(client, staff_factory):
    soon = InstitutionFactory(published_at=timezone.now() + datetime.timedelta(hours=1))
    staff = Client()
    staff.force_login(staff_factory())
    assert staff.get(soon.get_absolute_url()).status_code == 200  # cached while still scheduled
    assert client.get(soon.get_absolute_url()).status_code == 404
    Institution.objects.filter(pk=soon.pk).update(published_at=timezone.now() - datetime.timedelta(seconds=1))
    page_cache.cache.set(page_cache.SCHEDULE_KEY, (page_cache.content_version(), 1.0))  # the mark says: due
    assert client.get(soon.get_absolute_url()).status_code == 200


def test_a_lost_schedule_mark_retires_cached_pages(client):
    """Evicted (or expired) mark: a publication time may have passed unseen, so nothing stored is trusted."""
    soon = InstitutionFactory(name="Evicted Mark Exchange", published_at=timezone.now() + datetime.timedelta(hours=1))
    assert b"Evicted Mark Exchange" not in client.get("/").content
    assert client.get("/")["X-Page-Cache"] == "hit"
    Institution.objects.filter(pk=soon.pk).update(published_at=timezone.now() - datetime.timedelta(seconds=1))
    page_cache.cache.delete(page_cache.SCHEDULE_KEY)  # what an eviction does
    response = client.get("/")
    assert response["X-Page-Cache"] == "miss" and b"Evicted Mark Exchange" in response.content


def test_the_content_version_outlives_the_cache_default_timeout(monkeypatch):
    """Entries carry the version they were stored under: a version that expired after the cache's
    default five minutes would retire every page and fragment with it."""
    version = page_cache.content_version()
    later = page_cache.time.time() + 6 * 60 * 60
    monkeypatch.setattr(page_cache.time, "time", lambda: later)
    assert page_cache.content_version() == version


def _stored_pages() -> int:
    return sum(1 for key in page_cache.cache._cache if "btw:page:" in key)


def test_a_thousand_junk_query_strings_add_at_most_one_page_cache_key(client):
    """Only the parameters a page understands form its key; any other (?utm=…) is ignored for caching."""
    inst = InstitutionFactory(name="Bounded Exchange")
    before = _stored_pages()
    for n in range(1000):
        response = client.get(inst.get_absolute_url(), {"utm": n})
        assert response.status_code == 200 and b"Bounded Exchange" in response.content
    assert _stored_pages() - before <= 1
    client.get(inst.get_absolute_url())
    assert client.get(inst.get_absolute_url(), {"utm": "later"})["X-Page-Cache"] == "hit"  # the canonical page
    assert _stored_pages() - before == 1


def test_directory_keys_by_its_filters_and_page_and_nothing_else(client):
    InstitutionFactory()
    before = _stored_pages()
    for n in range(50):
        assert "X-Page-Cache" not in client.get("/profiles/", {"region": "europe", "fbclid": n})
    assert _stored_pages() == before
    client.get("/profiles/?region=europe&page=1")
    assert client.get("/profiles/?page=1&region=europe")["X-Page-Cache"] == "hit"  # one page, either order
    assert client.get("/profiles/?page=2&region=europe")["X-Page-Cache"] == "miss"
    assert _stored_pages() - before == 2


def test_a_page_with_an_unknown_parameter_is_never_stored_for_others(client):
    """Its render carries its own address (the sign-in link's ?next=): it must not reach anyone else;
    once the canonical page is stored, such a request gets the canonical page."""
    inst = InstitutionFactory()
    first = client.get(inst.get_absolute_url(), {"utm_campaign": "planted-marker"})
    assert "X-Page-Cache" not in first
    later = client.get(inst.get_absolute_url())
    assert later["X-Page-Cache"] == "miss" and b"planted-marker" not in later.content
    tagged = client.get(inst.get_absolute_url(), {"utm_campaign": "second-marker"})
    assert tagged["X-Page-Cache"] == "hit" and tagged.content == later.content


def test_an_overlong_understood_query_is_served_but_not_stored(client):
    InstitutionFactory()
    before = _stored_pages()
    response = client.get("/profiles/", {"q": "x" * (page_cache.MAX_KEY_QUERY + 1)})
    assert response.status_code == 200 and "X-Page-Cache" not in response
    assert _stored_pages() == before
