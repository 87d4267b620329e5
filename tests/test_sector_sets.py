"""Each profile's copy of its sector ids (`Institution.sector_ids`) equals the relation after every
kind of change, and a ranked query's one-pass listing equals what the separate queries give."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.http import QueryDict
from django.utils import timezone

from profiles import directory, facets, query_pass, search, sector_sets
from profiles.models import Institution, Sector

from .factories import InstitutionFactory, SectorFactory

pytestmark = pytest.mark.django_db


def assert_lists_equal_the_relation():
    for institution in Institution.objects.all():
        expected = sector_sets.as_set(institution.sectors.values_list("pk", flat=True))
        assert institution.sector_ids == expected, institution.name


@pytest.fixture
def two_sectors():
    return SectorFactory(name="Cloud", slug="cloud"), SectorFactory(name="Subsea cables", slug="subsea-cables")


def test_changes_from_the_profile_side_write_its_list(two_sectors):
    cloud, subsea = two_sectors
    profile = InstitutionFactory()
    profile.sectors.add(subsea, cloud)
    assert_lists_equal_the_relation()
    profile.sectors.remove(cloud)
    assert_lists_equal_the_relation()
    profile.sectors.set([cloud])
    assert_lists_equal_the_relation()
    profile.sectors.clear()
    assert_lists_equal_the_relation()


def test_changes_from_the_sector_side_write_every_members_list(two_sectors):
    cloud, subsea = two_sectors
    first, second = InstitutionFactory(), InstitutionFactory()
    cloud.institutions.add(first, second)
    subsea.institutions.add(second)
    assert_lists_equal_the_relation()
    cloud.institutions.remove(first)
    assert_lists_equal_the_relation()
    subsea.institutions.clear()
    assert_lists_equal_the_relation()


def test_a_deleted_sector_leaves_no_member_listing_it(two_sectors):
    cloud, subsea = two_sectors
    profile = InstitutionFactory()
    profile.sectors.add(cloud, subsea)
    cloud.delete()
    assert_lists_equal_the_relation()
    assert Institution.objects.get(pk=profile.pk).sector_ids == {str(subsea.pk): True}


def test_a_profile_read_before_its_sectors_changed_does_not_write_the_old_list_back(two_sectors):
    cloud, _subsea = two_sectors
    stale = InstitutionFactory()
    cloud.institutions.add(Institution.objects.get(pk=stale.pk))  # elsewhere: `stale` still holds {}
    stale.name = "Renamed"
    stale.save()
    assert Institution.objects.get(pk=stale.pk).sector_ids == {str(cloud.pk): True}
    assert Institution.objects.get(pk=stale.pk).name == "Renamed"


def test_refresh_writes_lists_for_rows_written_without_signals(two_sectors):
    cloud, subsea = two_sectors
    profiles = [InstitutionFactory() for _ in range(3)]
    through = Institution.sectors.through
    rows = [through(institution=profiles[0], sector=cloud), through(institution=profiles[1], sector=subsea)]
    through.objects.bulk_create(rows)
    sector_sets.refresh(p.pk for p in profiles)
    assert_lists_equal_the_relation()


def test_holds_picks_the_profiles_in_a_sector_from_their_own_sets(two_sectors):
    cloud, subsea = two_sectors
    both, only_cloud, none = InstitutionFactory(), InstitutionFactory(), InstitutionFactory()
    both.sectors.add(cloud, subsea)
    only_cloud.sectors.add(cloud)

    def in_sector(sector):
        return set(Institution.objects.filter(sector_sets.holds(sector.pk)))

    assert in_sector(cloud) == {both, only_cloud}
    assert in_sector(subsea) == {both}
    assert none not in in_sector(cloud) | in_sector(subsea)


def test_seed_scale_writes_each_profiles_list():
    call_command("seed_scale", "--institutions", "12", "--evidence", "1", "--relationships", "1", verbosity=0)
    assert Institution.objects.exclude(sector_ids={}).count() == 12
    assert_lists_equal_the_relation()


# --- the one pass ----------------------------------------------------------------------------------


def three_pass(filters):
    """The listing as the separate queries compute it: the ranked, filtered ids and the facet counts."""
    q = filters["q"]
    matched = search.matching(Institution.objects.published(), q)
    ordered = directory.order_results(facets.apply_filters(matched, filters), q)
    ids = tuple(ordered.values_list("pk", flat=True)[: search.RESULTS_CAP])
    return ordered.count(), ids, facets._counts(facets._Profiles(matched), filters)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ranked full-text search needs PostgreSQL")
@pytest.mark.parametrize(
    "query_string",
    ["q=network", "q=network&type=company", "q=network&sector=cloud", "q=network+europe&region=europe&sector=cloud",
     "q=nothing-matches-this"],
)
def test_the_one_pass_listing_equals_the_separate_queries(two_sectors, query_string):
    cloud, subsea = two_sectors
    for k, (kind, region, sectors) in enumerate([
        ("company", "europe", [cloud]), ("registry", "europe", [cloud, subsea]), ("company", "africa", []),
        ("exchange", "global", [subsea]), ("company", "europe", [subsea]),
    ]):
        profile = InstitutionFactory(name=f"Network {k}", dek=f"A network in {region}.", type=kind, base_region=region)
        profile.sectors.set(sectors)
        search.refresh_search_index([profile.pk])
    params = QueryDict(query_string)
    filters = {**facets.parse_filters(params), "q": params["q"]}
    found = query_pass.query_listing(filters["q"], filters, Sector.objects.all(), now=timezone.now(), cap=1000)
    count, ids, counts = three_pass(filters)
    assert (found.count, found.ids, found.counts) == (count, ids, counts)



def test_the_rebuild_command_writes_lists_lost_to_a_hand_made_fix(two_sectors):
    cloud, _subsea = two_sectors
    InstitutionFactory().sectors.add(cloud)
    Institution.objects.update(sector_ids={})  # as a restore or a hand-made fix could leave them
    out = StringIO()
    call_command("rebuild_listing_tallies", stdout=out)
    assert "lists of sectors" in out.getvalue()
    assert_lists_equal_the_relation()


# --- the cards read them -----------------------------------------------------------------------------


def card_tags(html: str, name: str) -> list[str]:
    """The sector tags of `name`'s card, in order."""
    card = html.split(f">{name}</a></h3>", 1)[1].split("</article>", 1)[0]
    return re.findall(r'<a class="tag" href="[^"]*\?sector=([\w-]+)">', card)


@pytest.mark.parametrize("page", ["/", "/profiles/", "/profiles/?q=gridlock"])
def test_cards_show_each_profiles_sectors_as_they_are_now(client, two_sectors, page):
    cloud, subsea = two_sectors
    both, none = InstitutionFactory(name="Gridlock Both"), InstitutionFactory(name="Gridlock None")
    both.sectors.add(subsea, cloud)
    search.refresh_search_index([both.pk, none.pk])
    html = client.get(page).content.decode()
    assert card_tags(html, "Gridlock Both") == ["cloud", "subsea-cables"]  # the sectors' own order: by name
    assert card_tags(html, "Gridlock None") == []
    cloud.institutions.remove(both)  # from the other side of the relation, between two renders
    assert card_tags(client.get(page).content.decode(), "Gridlock Both") == ["subsea-cables"]
