"""Facet counts respect the query and the other filters; bad filter values are ignored."""

import datetime

import pytest
from django.http import QueryDict
from django.utils import timezone

from profiles import facets
from profiles.models import Institution

from .factories import InstitutionFactory, SectorFactory

pytestmark = pytest.mark.django_db


def counts_for(query_string):
    filters = facets.parse_filters(QueryDict(query_string))
    return {
        param: {o.value: o.count for o in options}
        for param, options in facets.facet_counts(Institution.objects.published(), filters).items()
    }


def test_facet_counts_apply_other_filters_not_their_own():
    cloud = SectorFactory(name="Cloud", slug="cloud")
    a = InstitutionFactory(type="company", base_region="europe", criticality="high")
    a.sectors.add(cloud)
    InstitutionFactory(type="registry", base_region="europe", criticality="low")
    InstitutionFactory(type="company", base_region="africa", criticality="high")
    counts = counts_for("region=europe")
    assert counts["type"]["company"] == 1 and counts["type"]["registry"] == 1
    assert counts["region"]["europe"] == 2 and counts["region"]["africa"] == 1  # own filter not applied
    assert counts["sector"] == {"cloud": 1}


def test_sector_filter_narrows_enum_facets():
    cloud = SectorFactory(name="Cloud", slug="cloud")
    InstitutionFactory(type="company").sectors.add(cloud)
    InstitutionFactory(type="registry")
    assert counts_for("sector=cloud")["type"]["registry"] == 0


@pytest.mark.parametrize("qs", ["type=nonsense", "region=%00", "criticality=" + "x" * 500, "sector=<script>"])
def test_malformed_filter_values_are_ignored(qs):
    assert facets.parse_filters(QueryDict(qs)) == {}


def test_drafts_are_not_counted():
    InstitutionFactory(type="company", status=Institution.Status.DRAFT)
    assert counts_for("")["type"]["company"] == 0


def test_facet_counts_are_cached_until_content_changes(django_assert_num_queries):
    InstitutionFactory(type="company")
    assert counts_for("")["type"]["company"] == 1
    with django_assert_num_queries(0):
        counts_for("")
    InstitutionFactory(type="company")  # a save bumps the content version
    assert counts_for("")["type"]["company"] == 2


def test_facets_cost_three_queries_however_many_profiles(settings, django_assert_num_queries):
    # The computation itself: the tallies' two sums and a look for scheduled profiles (a cache miss
    # adds one look-up of the next scheduled publication, once per content version:
    # tests/test_search_cache.py).
    settings.BTW_FACET_COUNTS_TIMEOUT = 0
    SectorFactory(name="Cloud", slug="cloud")
    for _ in range(5):
        InstitutionFactory()
    with django_assert_num_queries(3):
        counts_for("type=company&sector=cloud")


def test_facets_of_a_text_query_cost_two_queries(settings, django_assert_num_queries):
    settings.BTW_FACET_COUNTS_TIMEOUT = 0
    SectorFactory(name="Cloud", slug="cloud")
    for _ in range(5):
        InstitutionFactory()
    filters = {**facets.parse_filters(QueryDict("type=company&sector=cloud")), "q": "network"}
    with django_assert_num_queries(2):
        facets.facet_counts(Institution.objects.published(), filters)


@pytest.mark.parametrize(
    "query_string", ["", "type=company", "region=europe&criticality=high", "sector=cloud&horizon=next-year"]
)
def test_counts_compiled_once_give_what_the_orm_gives(query_string):
    """The directory's counts run SQL compiled once per filter set and process; for the tallies and
    for the scheduled profiles (at any moment) it answers what the ORM's own queries answer."""
    cloud = SectorFactory(name="Cloud", slug="cloud")
    InstitutionFactory(type="company", base_region="europe", criticality="high").sectors.add(cloud)
    InstitutionFactory(type="registry", base_region="europe", time_horizon="next-year").sectors.add(cloud)
    later = timezone.now() + datetime.timedelta(hours=1)
    InstitutionFactory(type="company", time_horizon="next-year", published_at=later).sectors.add(cloud)
    filters = facets.parse_filters(QueryDict(query_string))
    assert facets._prepared_counts("tallies", filters) == facets._counts(facets._Tallies(), filters)
    for now in (timezone.now(), later + datetime.timedelta(minutes=1)):
        scheduled = facets._Profiles(Institution.objects.scheduled(at=now))
        assert facets._prepared_counts("scheduled", filters, now=now) == facets._counts(scheduled, filters)


def test_a_scheduled_profile_counts_once_its_time_has_come(monkeypatch, settings):
    settings.BTW_FACET_COUNTS_TIMEOUT = 0
    soon = timezone.now() + datetime.timedelta(hours=1)
    InstitutionFactory(type="company", published_at=soon)
    assert counts_for("")["type"]["company"] == 0
    monkeypatch.setattr(timezone, "now", lambda: soon + datetime.timedelta(seconds=1))
    assert counts_for("")["type"]["company"] == 1
