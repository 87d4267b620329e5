"""Query budgets of the reader pages: a fixed number of queries whatever the number of rows.

Each page is measured at 1 and at 200 rows per list; both must cost exactly the same number of
queries, and that number is the budget (djangoproject.com aggregator/tests.py: "prevent an n+1").
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from membership.models import Tier
from profiles import search
from profiles.models import Identifier

from .factories_pages import full_profile, published_profiles

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _uncached_facet_counts(settings):
    """Budgets bound the cold render: facet counts, the directory's result count and order, and page
    fragments computed, not read from a cache (warm directory budgets: tests/test_search_cache.py),
    and no whole page served from the page cache (tests/test_page_cache.py)."""
    settings.BTW_PAGE_CACHE_TIMEOUT = 0
    settings.BTW_FACET_COUNTS_TIMEOUT = 0
    settings.BTW_SEARCH_RESULTS_TIMEOUT = 0
    settings.BTW_FRAGMENT_CACHE_TIMEOUT = 0

SIZES = [1, 200]

#: Profile page, cold: the profile, then every list of the page in one query (sectors, also-read
#: links, timeline, sources, watchpoints, briefings, FAQ, identifiers, dependencies). A signed-in member adds the
#: user with their reader row (level, e-mail, application, whether they hold any object permission:
#: one query, `membership.backends`; the session comes from the cache) and the profiles they follow
#: (uncached here, cached per member otherwise); their per-briefing grants cost a query only when
#: they hold some (test_member_with_a_grant_pays_one_query_more). Staff add the user, the profiles
#: they follow and the tiers of the "view as" switch (plus the chosen tier with ?as_tier=).
#: The issue's bound is 8 for any reader.
PROFILE_BUDGET = {"anonymous": 2, "member": 4, "alliance": 4, "staff": 5, "staff_as_tier": 6}
#: Directory with a text query: sectors, then on PostgreSQL one pass for the count, the ranked ids of
#: the first pages and every facet's counts (profiles.query_pass), elsewhere the count and the facet
#: counts (2); the page, its cards' sectors read from its rows; signed in: the user with their reader row.
DIRECTORY_BUDGET = (
    {"anonymous": 3, "member": 4} if connection.vendor == "postgresql" else {"anonymous": 5, "member": 6}
)
#: Home: recent profiles, every sector (the cards' are read from the rows), the tiers; signed in: the
#: user with their reader row.
HOME_BUDGET = {"anonymous": 3, "member": 4}
#: Map: the profile; ties one step away, then two steps away (each capped query also counts what it
#: left out); every direct tie when the drawing had to leave some out. A signed-in reader adds the user
#: with their reader row (sessions come from the cache). The list of every direct tie is only needed past the cap,
#: so the map holds this bound at any size rather than one exact number.
MAP_BUDGET = {"anonymous": 4, "member": 5}


def queries_for(client, url) -> int:
    """Queries of one render of `url`, process-wide caches (content types, templates) already warm."""
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.fixture
def reader_client(client, member_client, staff_factory):
    def make(kind):
        if kind == "member":
            return member_client(Tier.STRATEGIC_CIRCLE_SLUG)
        if kind == "alliance":
            return member_client(Tier.LEADERSHIP_ALLIANCE_SLUG)
        if kind.startswith("staff"):
            client.force_login(staff_factory())
        return client

    return make


#: Warm: the profile's row, its fragments and the member's followed profiles come from the cache in
#: one round trip; a member's page still reads the user with their reader row (fresh on every
#: request, so a lapsed membership locks at once; the session is read from the cache). An anonymous
#: render costs nothing.
WARM_PROFILE_BUDGET = {"anonymous": 0, "member": 1, "alliance": 1}


@pytest.mark.parametrize("kind", ["anonymous", "member", "alliance", "staff", "staff_as_tier"])
def test_profile_page_costs_the_same_queries_at_1_and_200_rows(reader_client, kind, django_assert_max_num_queries):
    client = reader_client(kind)
    suffix = "?as_tier=strategic-circle" if kind == "staff_as_tier" else ""
    counts = []
    for n in SIZES:
        url = full_profile(n).get_absolute_url() + suffix
        counts.append(queries_for(client, url))
        with django_assert_max_num_queries(PROFILE_BUDGET[kind]):
            client.get(url)
    assert counts == [PROFILE_BUDGET[kind]] * len(SIZES)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", ["anonymous", "member"])
def test_directory_query_budget_holds_at_1_and_200_profiles(reader_client, kind, n):
    search.refresh_search_index([i.pk for i in published_profiles(n)])  # bulk-built: index them for PostgreSQL
    client = reader_client(kind)
    url = reverse("profiles:directory") + "?sector=cloud&criticality=medium&q=listed"
    assert queries_for(client, url) == DIRECTORY_BUDGET[kind]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", ["anonymous", "member"])
def test_home_query_budget_holds_at_1_and_200_profiles(reader_client, kind, n):
    published_profiles(n)
    client = reader_client(kind)
    assert queries_for(client, "/") == HOME_BUDGET[kind]


@pytest.mark.parametrize("kind", ["anonymous", "member"])
def test_map_page_holds_one_budget_at_1_and_200_rows(reader_client, kind, django_assert_max_num_queries):
    client = reader_client(kind)
    for n in SIZES:
        url = reverse("profiles:map", args=[full_profile(n).slug])
        assert queries_for(client, url) <= MAP_BUDGET[kind]
        with django_assert_max_num_queries(MAP_BUDGET[kind]):
            assert client.get(url).status_code == 200


@pytest.mark.parametrize("kind", ["anonymous", "member", "alliance"])
@pytest.mark.parametrize("n", SIZES)
def test_profile_page_rendered_from_fragments_costs_a_handful_of_queries(
    settings, reader_client, kind, n, django_assert_num_queries
):
    """Warm: the page's lists come from cached fragments; what is left is who reads and whether they follow."""
    settings.BTW_FRAGMENT_CACHE_TIMEOUT = 300
    client = reader_client(kind)
    url = full_profile(n).get_absolute_url()
    client.get(url + "?budget=warm")
    with django_assert_num_queries(WARM_PROFILE_BUDGET[kind]):
        assert client.get(url + "?budget=warm").status_code == 200


@pytest.mark.parametrize("kind", ["anonymous", "member", "staff"])
def test_profile_page_costs_the_same_queries_with_1_and_200_identifiers(
    reader_client, kind, django_assert_max_num_queries
):
    """Identifiers come with the page's other lists, in its one query: none more per identifier."""
    client = reader_client(kind)
    counts = []
    for n in SIZES:
        institution = full_profile(1)
        Identifier.objects.bulk_create(
            [Identifier(institution=institution, scheme=Identifier.Scheme.PEERINGDB_FAC, value=str(k + 1))
             for k in range(n)]
        )
        url = institution.get_absolute_url()
        counts.append(queries_for(client, url))
        with django_assert_max_num_queries(PROFILE_BUDGET[kind]):
            response = client.get(url)
        assert f"https://www.peeringdb.com/fac/{n}".encode() in response.content
    assert counts == [PROFILE_BUDGET[kind]] * len(SIZES)


def test_member_with_a_grant_pays_one_query_more(client, member_factory):
    """Their briefing grants are read (one query) only for readers holding an object permission."""
    from guardian.shortcuts import assign_perm

    member = member_factory()
    institution = full_profile(1)
    assign_perm("profiles.view_briefing", member, institution.briefings.first())
    client.force_login(member)
    assert queries_for(client, institution.get_absolute_url()) == PROFILE_BUDGET["member"] + 1
