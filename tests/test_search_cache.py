"""The directory's cached listings: result counts, ranked result ids and facet counts.

They are kept per content version and per query and filters (`profiles.search.cached_listing`), so
they must change the moment readers could see a difference: a save, a search vector rebuilt, a
scheduled profile going live. Runs on both backends (SQLite caches the count only).
"""

import datetime
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from membership.models import Tier
from profiles import cache as page_cache
from profiles import facets, search
from profiles.cache import content_version, versioned_get_many
from profiles.dependencies import page_tags
from profiles.models import Institution

from .factories import InstitutionFactory, SectorFactory, tier

pytestmark = pytest.mark.django_db


_requests = itertools.count()


def directory(client, **params):
    """The directory, rendered: a throw-away parameter (ignored by the directory and its caches)
    keeps the shared cache of anonymous pages from answering a repeated URL."""
    response = client.get(reverse("profiles:directory"), {**params, "request": next(_requests)})
    assert response.status_code == 200
    return response


def names(response) -> list[str]:
    return [p.name for p in response.context["profiles"]]


def total(response) -> int:
    return response.context["paginator"].count


def queries(client, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        directory(client, **params)
    return len(captured)


# ---------------------------------------------------------------------------------------------
# Keys: every input that changes the result
# ---------------------------------------------------------------------------------------------


def test_listing_key_holds_kind_query_and_every_filter():
    """The content version is not in the key: it is stored with the entry and checked on every read."""
    base = {"q": "fibre", "type": "exchange", "sector": "cloud"}
    key = search.listing_key("results", base)
    assert key == search.listing_key("results", dict(reversed(base.items())))  # order of params irrelevant
    others = [
        search.listing_key("count", base),
        search.listing_key("results", {**base, "q": "fibres"}),
        search.listing_key("results", {**base, "type": "registry"}),
        search.listing_key("results", {**base, "sector": "power"}),
        search.listing_key("results", {**base, "region": "europe"}),
        search.listing_key("results", {k: v for k, v in base.items() if k != "q"}),
    ]
    assert key not in others and len(set(others)) == len(others)


def test_each_query_and_filter_set_has_its_own_results(client):
    InstitutionFactory(name="Fibre Exchange", type=Institution.Type.EXCHANGE)
    InstitutionFactory(name="Fibre Registry", type=Institution.Type.REGISTRY)
    InstitutionFactory(name="Power Exchange", type=Institution.Type.EXCHANGE)
    assert sorted(names(directory(client, q="fibre"))) == ["Fibre Exchange", "Fibre Registry"]
    assert names(directory(client, q="fibre", type="registry")) == ["Fibre Registry"]
    assert sorted(names(directory(client, q="exchange"))) == ["Fibre Exchange", "Power Exchange"]
    assert names(directory(client, q="exchange", type="registry")) == []
    assert total(directory(client, type="exchange")) == 2 and total(directory(client)) == 3
    # Asked again, from the cache: still each its own.
    assert sorted(names(directory(client, q="fibre"))) == ["Fibre Exchange", "Fibre Registry"]
    assert names(directory(client, q="fibre", type="registry")) == ["Fibre Registry"]
    assert total(directory(client, type="exchange")) == 2


# ---------------------------------------------------------------------------------------------
# Invalidation: any change readers can see
# ---------------------------------------------------------------------------------------------


def test_results_change_as_soon_as_content_does(client):
    first = InstitutionFactory(name="Gridlock Exchange", dek="A peering exchange.")
    assert names(directory(client, q="gridlock")) == ["Gridlock Exchange"]
    version = content_version()

    second = InstitutionFactory(name="Gridlock Registry", dek="A registry.")  # a new profile
    assert content_version() != version
    assert sorted(names(directory(client, q="gridlock"))) == ["Gridlock Exchange", "Gridlock Registry"]
    assert total(directory(client, q="gridlock")) == 2

    first.name = "Renamed Exchange"  # an edit that takes it out of the results
    first.save()
    assert names(directory(client, q="gridlock")) == ["Gridlock Registry"]

    second.status = Institution.Status.ARCHIVED  # archived: gone from every listing
    second.save()
    assert names(directory(client, q="gridlock")) == [] and total(directory(client, q="gridlock")) == 0
    assert total(directory(client)) == 1


def test_sector_changes_reach_filtered_listings_and_facets(client):
    cloud = SectorFactory(name="Cloud", slug="cloud")
    inst = InstitutionFactory(name="Nimbus Exchange")
    assert total(directory(client, sector="cloud")) == 0
    inst.sectors.add(cloud)  # m2m change bumps the version
    response = directory(client, sector="cloud")
    assert names(response) == ["Nimbus Exchange"]
    assert '<option value="cloud" selected>Cloud (1)</option>' in response.content.decode()


def test_a_scheduled_profile_appears_when_its_time_comes_without_any_save(client, monkeypatch):
    InstitutionFactory(name="Gridlock Now")
    soon = timezone.now() + datetime.timedelta(hours=1)
    InstitutionFactory(name="Gridlock Later", published_at=soon, public_updated_at=soon)
    assert names(directory(client, q="gridlock")) == ["Gridlock Now"]
    assert total(directory(client)) == 1
    version = content_version()

    later = soon + datetime.timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    monkeypatch.setattr(page_cache.time, "time", later.timestamp)
    # Nothing was saved, yet it shows: the schedule mark read with the listing retires the version.
    assert sorted(names(directory(client, q="gridlock"))) == ["Gridlock Later", "Gridlock Now"]
    assert content_version() != version
    assert total(directory(client)) == 2
    counts = facets.facet_counts(Institution.objects.published(), {})
    assert sum(o.count for o in counts["type"]) == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the search vector exists on PostgreSQL only")
def test_rebuilding_a_search_vector_bumps_the_content_version():
    inst = InstitutionFactory(name="Vector Exchange")
    version = content_version()
    search.refresh_search_index([inst.pk])
    assert content_version() != version


# ---------------------------------------------------------------------------------------------
# What the cache saves, and pagination through it
# ---------------------------------------------------------------------------------------------

#: A repeated directory page: sectors, the page's rows with their cards' sectors (facet counts, the
#: count and the ranked order come from the cache); a signed-in reader adds user and level (sessions
#: are cached).
WARM_BUDGET = {"anonymous": 2, "member": 3}


@pytest.mark.parametrize("n", [1, 30])
@pytest.mark.parametrize("kind", ["anonymous", "member"])
@pytest.mark.parametrize("params", [{"q": "gridlock"}, {"q": "gridlock", "sector": "cloud"}, {"type": "exchange"}])
def test_a_repeated_directory_page_costs_three_queries(client, member_factory, kind, n, params):
    if kind == "member":
        client.force_login(member_factory(Tier.STRATEGIC_CIRCLE_SLUG))
    cloud = SectorFactory(name="Cloud", slug="cloud")
    for k in range(n):
        InstitutionFactory(name=f"Gridlock Exchange {k}", type=Institution.Type.EXCHANGE).sectors.add(cloud)
    directory(client, **params)
    assert queries(client, **params) == WARM_BUDGET[kind]


def test_pages_never_overlap_inside_and_past_the_cached_ids(client, monkeypatch):
    monkeypatch.setattr(search, "RESULTS_CAP", 30)  # pages 1 by cached id, 2 straddles the cap, 3 past it
    same_time = timezone.now() - datetime.timedelta(hours=1)
    for k in range(45):
        InstitutionFactory(name=f"Gridlock Exchange {k:02d}", dek="Gridlock peering.", public_updated_at=same_time)
    pages = [names(directory(client, q="gridlock", page=str(p))) for p in (1, 2, 3)]
    assert [len(p) for p in pages] == [20, 20, 5]
    seen = [name for page in pages for name in page]
    assert len(set(seen)) == 45
    # The same order as the uncached ranked query.
    if search.is_full_text():
        uncached = search.matching(Institution.objects.published(), "gridlock").order_by(*search.rank_order("gridlock"))
        expected = [i.name for i in uncached]
        assert seen == expected
    assert pages == [names(directory(client, q="gridlock", page=str(p))) for p in (1, 2, 3)]  # cached: same


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ranking needs PostgreSQL full-text search")
def test_cached_ranking_keeps_name_matches_first_and_snippets_on_every_page(client):
    now = timezone.now()
    InstitutionFactory(name="Atlas Holdings", dek="Builds subsea cable landing stations.", public_updated_at=now)
    InstitutionFactory(name="Subsea Cable Consortium", dek="A consortium.",
                       public_updated_at=now - datetime.timedelta(days=30))
    for _ in range(2):  # computed, then from the cache
        response = directory(client, q="subsea cable")
        assert names(response) == ["Subsea Cable Consortium", "Atlas Holdings"]
        assert "<mark>subsea</mark> <mark>cable</mark>" in response.content.decode()


def test_cached_results_hold_ids_and_counts_only_and_never_locked_text(client):
    """Rows and snippets are always loaded fresh from public fields; the cache holds no text."""
    from django.core.cache import cache

    secret = "zqlockedword"
    inst = InstitutionFactory(name="Gridlock Exchange")
    from .factories import BriefingFactory

    BriefingFactory(institution=inst, body=f"{secret} briefing", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    search.refresh_search_index([inst.pk])
    assert names(directory(client, q=secret)) == []
    directory(client, q="gridlock")
    version, _, _ = versioned_get_many([], tags=page_tags())  # the lists' versions
    # PostgreSQL keeps a ranked query's count, ids and facet counts as one entry; SQLite its count.
    kind = "query" if search.is_full_text() else "count"
    entry = cache.get(search.listing_key(kind, {"q": "gridlock"}))
    assert entry is not None
    stored_under, payload = entry
    assert stored_under == version
    if kind == "query":
        count, ids, _counts = payload
        assert count == 1 and ids == (inst.pk,)
    else:
        assert payload == 1
    assert secret not in repr(entry) and "Gridlock" not in repr(entry)


@pytest.mark.parametrize("page", ["99999", "0", "-1", "abc", ""])
def test_out_of_range_pages_are_answered_from_the_cached_count(client, page):
    for k in range(23):
        InstitutionFactory(name=f"Fibre Exchange {k:02d}", dek="Fibre.")
    directory(client, q="fibre")
    response = directory(client, q="fibre", page=page)
    assert total(response) == 23
    assert len(names(response)) in (3, 20)
