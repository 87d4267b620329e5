"""Query budgets of the reader pages: a fixed number of queries whatever the number of rows.

Each page is measured at 1 and at 200 rows per list; both must cost exactly the same number of
queries, and that number is the budget (djangoproject.com aggregator/tests.py: "prevent an n+1").
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from membership.models import Tier

from .factories_pages import full_profile, published_profiles

pytestmark = pytest.mark.django_db

SIZES = [1, 200]

#: Profile page, anonymous: the profile, then one query per list (sectors, also-read links, timeline,
#: sources, watchpoints, briefings, FAQ, dependencies). A Strategic Circle member adds session, user,
#: their level, and two guardian look-ups (user and group grants) for the briefings locked to them;
#: staff add session, user and the tiers of the "view as" switch (plus the chosen tier with ?as_tier=).
PROFILE_BUDGET = {"anonymous": 9, "member": 14, "alliance": 12, "staff": 12, "staff_as_tier": 13}
#: Directory: sectors, facet counts (2), result count, the page, the page's sectors.
DIRECTORY_BUDGET = {"anonymous": 6, "member": 8}
#: Home: recent profiles, their sectors, the tiers.
HOME_BUDGET = {"anonymous": 3, "member": 5}
#: Map: the profile, its relationships (a signed-in reader adds session, user and level).
MAP_BUDGET = {"anonymous": 2, "member": 5}


def queries_for(client, url) -> int:
    client.get(url)  # warm process-wide caches (content types, templates): count the page alone
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
def test_directory_query_budget_holds_at_1_and_200_profiles(reader_client, kind, n, django_assert_max_num_queries):
    published_profiles(n)
    client = reader_client(kind)
    url = reverse("profiles:directory") + "?sector=cloud&criticality=medium&q=listed"
    with django_assert_max_num_queries(DIRECTORY_BUDGET[kind]):
        client.get(url)
    assert queries_for(client, url) == DIRECTORY_BUDGET[kind]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", ["anonymous", "member"])
def test_home_query_budget_holds_at_1_and_200_profiles(reader_client, kind, n, django_assert_max_num_queries):
    published_profiles(n)
    client = reader_client(kind)
    with django_assert_max_num_queries(HOME_BUDGET[kind]):
        client.get("/")
    assert queries_for(client, "/") == HOME_BUDGET[kind]


@pytest.mark.parametrize("kind", ["anonymous", "member"])
def test_map_page_costs_the_same_queries_at_1_and_200_rows(reader_client, kind):
    client = reader_client(kind)
    counts = [queries_for(client, reverse("profiles:map", args=[full_profile(n).slug])) for n in SIZES]
    assert counts == [MAP_BUDGET[kind]] * len(SIZES)
