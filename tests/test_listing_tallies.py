"""The directory's tallies (profiles/tallies.py) always give what counting the profiles would give.

Every test compares the two after a change made the way staff make it: the directory's counts and its
facet counts from the tallies, against the same counts taken from `Institution.objects.published()`.
"""

import datetime
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from profiles import facets, services, tallies
from profiles.models import Institution, ListingTally

from .factories import InstitutionFactory, SectorFactory

pytestmark = pytest.mark.django_db

FILTER_SETS = ["", "type=company", "region=europe&criticality=high", "sector=cloud", "sector=cloud&type=registry",
               "horizon=now&sector=grid"]


@pytest.fixture(autouse=True)
def _no_cached_counts(settings):
    settings.BTW_FACET_COUNTS_TIMEOUT = 0
    settings.BTW_SEARCH_RESULTS_TIMEOUT = 0


def counted(filters):
    """The truth: the profiles themselves, counted."""
    published = Institution.objects.published()
    counts = facets._counts(facets._Profiles(published), filters)
    return facets.apply_filters(published, filters).count(), _plain(counts)


def tallied(filters):
    counts = facets.facet_counts(Institution.objects.published(), filters)
    return facets.listing_count(filters), _plain(counts)


def _plain(counts):
    return {param: {o.value: o.count for o in options if o.count} for param, options in counts.items()}


def assert_tallies_hold():
    for query_string in FILTER_SETS:
        filters = facets.parse_filters(QueryDict(query_string))
        assert tallied(filters) == counted(filters), query_string


@pytest.fixture
def sectors():
    return SectorFactory(name="Cloud", slug="cloud"), SectorFactory(name="Grid", slug="grid")


def test_new_edited_and_deleted_profiles_move_the_tallies(sectors):
    cloud, grid = sectors
    a = InstitutionFactory(type="company", base_region="europe", criticality="high")
    a.sectors.add(cloud)
    b = InstitutionFactory(type="registry", base_region="europe", criticality="high", time_horizon="now")
    b.sectors.add(cloud, grid)
    InstitutionFactory(type="company", status=Institution.Status.DRAFT)
    assert_tallies_hold()
    a.type = "registry"
    a.save()
    assert_tallies_hold()
    b.base_region = "africa"
    services.save_institution(institution=b, user=None, form_version=b.version)  # the admin's own save
    assert_tallies_hold()
    a.delete()
    assert_tallies_hold()


def test_publishing_unpublishing_and_archiving_move_the_tallies(sectors):
    draft = InstitutionFactory(type="company", status=Institution.Status.DRAFT)
    draft.sectors.add(sectors[0])
    assert tallied({})[0] == 0
    draft.status = Institution.Status.PUBLISHED
    draft.save()
    assert tallied({})[0] == 1
    assert_tallies_hold()
    draft.status = Institution.Status.ARCHIVED
    draft.save()
    assert tallied({})[0] == 0
    assert_tallies_hold()


def test_a_scheduled_profile_counts_once_its_time_comes_with_no_write(sectors, monkeypatch):
    soon = timezone.now() + datetime.timedelta(hours=1)
    scheduled = InstitutionFactory(type="company", published_at=soon)
    scheduled.sectors.add(sectors[0])
    InstitutionFactory(type="company")
    assert Institution.objects.scheduled().count() == 1
    assert tallied(facets.parse_filters(QueryDict("type=company")))[0] == 1
    assert_tallies_hold()
    later = soon + datetime.timedelta(minutes=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert tallied(facets.parse_filters(QueryDict("type=company&sector=cloud")))[0] == 1
    assert_tallies_hold()


def test_sectors_changed_from_either_side_move_the_tallies(sectors):
    cloud, grid = sectors
    a, b = InstitutionFactory(type="company"), InstitutionFactory(type="registry")
    a.sectors.add(cloud)
    cloud.institutions.add(b)
    assert_tallies_hold()
    grid.institutions.add(a, b)
    cloud.institutions.remove(a)
    assert_tallies_hold()
    grid.institutions.clear()
    assert_tallies_hold()
    b.sectors.clear()
    a.sectors.set([grid])
    assert_tallies_hold()
    grid_pk = grid.pk
    grid.delete()
    assert not ListingTally.objects.filter(sector_id=grid_pk).exists()
    assert_tallies_hold()


def test_a_save_that_names_no_counted_field_recomputes_nothing():
    profile = InstitutionFactory()
    profile.dek = "A new summary."
    with CaptureQueriesContext(connection) as captured:
        profile.save(update_fields=["dek"])
    assert not any("profiles_listingtally" in q["sql"] for q in captured.captured_queries)


def test_the_directory_page_shows_the_tallied_count(client, sectors):
    for _ in range(3):
        InstitutionFactory(type="company").sectors.add(sectors[0])
    InstitutionFactory(type="registry")
    InstitutionFactory(type="company", published_at=timezone.now() + datetime.timedelta(days=2))
    response = client.get(reverse("profiles:directory") + "?type=company")
    assert "3 profiles match your filters" in " ".join(response.content.decode().split())


def test_seed_scale_rebuilds_the_tallies_for_its_raw_rows():
    call_command("seed_scale", institutions=25, batch=10, stdout=StringIO())
    assert facets.listing_count({}) == Institution.objects.published().count() == 25
    assert_tallies_hold()


def test_rebuild_and_the_command_give_the_tallies_back_after_they_were_lost(sectors):
    InstitutionFactory(type="company").sectors.add(sectors[1])
    InstitutionFactory(type="exchange")
    ListingTally.objects.all().delete()
    tallies.build_if_missing(using=connection.alias)
    assert_tallies_hold()
    ListingTally.objects.update(profiles=99)
    out = StringIO()
    call_command("rebuild_listing_tallies", stdout=out)
    assert "tally rows" in out.getvalue()
    assert_tallies_hold()


@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_in_one_combination_are_both_counted():
    """Two transactions publish profiles of the same combination at once: each recount waits for the
    other's lock, so neither overwrites the other's count (PostgreSQL; SQLite has one writer)."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serialises every write)")
    drafts = [InstitutionFactory(type="company", status=Institution.Status.DRAFT) for _ in range(2)]
    barrier = threading.Barrier(2)
    errors = []

    def publish(profile):
        from django.db import transaction

        try:
            with transaction.atomic():
                barrier.wait(timeout=10)
                profile.status = Institution.Status.PUBLISHED
                profile.save()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=publish, args=(p,)) for p in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert facets.listing_count({"type": "company"}) == 2
    assert_tallies_hold()


@pytest.mark.parametrize("n", [1, 200])
def test_the_directorys_cold_counts_cost_the_same_at_1_and_200_profiles(client, n):
    """Nothing cached, a scheduled profile among them (its subtraction runs): the count of queries of
    the unfiltered and a filtered directory does not grow with the profiles."""
    from django.test import override_settings

    from .factories_pages import published_profiles

    published_profiles(n)
    InstitutionFactory(type="company", published_at=timezone.now() + datetime.timedelta(days=1))
    counts = []
    with override_settings(BTW_PAGE_CACHE_TIMEOUT=0):
        for query in ("", "?type=company&sector=cloud"):
            client.get(reverse("profiles:directory") + query)
            with CaptureQueriesContext(connection) as captured:
                assert client.get(reverse("profiles:directory") + query).status_code == 200
            counts.append(len(captured))
    assert counts == COLD_DIRECTORY_QUERIES


#: Sectors, the tallies' facet sums (2), a look for scheduled profiles and their counts (2); the
#: listing's count (the tallies' sum, the look, the scheduled count); the page, its cards' sectors read
#: from its rows.
COLD_DIRECTORY_QUERIES = [10, 9]
