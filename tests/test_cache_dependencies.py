"""Invalidation by dependency: an edit retires the cached renders that show what changed — the
profile's pages, its neighbours' (names and maps), the lists — and leaves every other page cached."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from profiles import dependencies, review
from profiles.models import Sector

from .factories import (
    EvidenceItemFactory,
    InstitutionFactory,
    RelatedLinkFactory,
    RelationshipFactory,
    SectorFactory,
    WatchpointFactory,
)

pytestmark = pytest.mark.django_db


def state(client, url) -> str:
    return client.get(url)["X-Page-Cache"]


def warm(client, *urls) -> None:
    for url in urls:
        client.get(url)
        assert state(client, url) == "hit", url


def page(profile) -> str:
    return profile.get_absolute_url()


def map_page(profile) -> str:
    return reverse("profiles:map", kwargs={"slug": profile.slug})


def test_editing_one_profile_keeps_another_profiles_page_cached(client):
    a, b = InstitutionFactory(name="Alpha Exchange"), InstitutionFactory(name="Beta Exchange")
    warm(client, page(a), page(b))
    a.dek = "A new standfirst for Alpha."
    a.save()
    fresh = client.get(page(a))
    assert fresh["X-Page-Cache"] == "miss" and b"A new standfirst for Alpha." in fresh.content
    assert state(client, page(b)) == "hit"


def test_an_edit_retires_the_lists_that_show_the_profile(client):
    a = InstitutionFactory(name="Listed Exchange")
    urls = [reverse("home"), reverse("profiles:directory"), reverse("feed_rss"), reverse("sitemap")]
    warm(client, *urls)
    a.name = "Renamed Listed Exchange"
    a.save()
    for url in urls:
        assert state(client, url) == "miss", url
    assert b"Renamed Listed Exchange" in client.get(reverse("home")).content


def test_a_section_edit_retires_its_profile_and_the_lists_only(client):
    a, b = InstitutionFactory(), InstitutionFactory()
    warm(client, page(a), page(b), reverse("feed_rss"))
    WatchpointFactory(institution=a, text="Watch the new cable landing.")
    response = client.get(page(a))
    assert response["X-Page-Cache"] == "miss" and b"Watch the new cable landing." in response.content
    assert state(client, page(b)) == "hit" and state(client, reverse("feed_rss")) == "miss"


def test_renaming_a_neighbour_retires_the_pages_and_maps_that_name_it(client):
    """A–B–C: A's map draws two hops, so C's new name must show on it; D, unrelated, stays cached."""
    a, b, c, d = (InstitutionFactory(name=f"{n} Exchange") for n in ("Aa", "Bb", "Cc", "Dd"))
    RelationshipFactory(source=a, target=b)
    RelationshipFactory(source=b, target=c)
    warm(client, page(a), map_page(a), page(b), page(d))
    c.name = "Cc Renamed Exchange"
    c.save()
    assert b"Cc Renamed Exchange" in client.get(map_page(a)).content
    assert state(client, page(b)) == "miss"
    assert state(client, page(d)) == "hit"


def test_a_new_relationship_retires_both_ends_and_their_neighbours(client):
    a, b, c, d = (InstitutionFactory() for _ in range(4))
    RelationshipFactory(source=a, target=b)
    warm(client, page(a), page(b), page(c), page(d))
    RelationshipFactory(source=b, target=c)
    for profile in (a, b, c):  # a: b's new edge is two hops from it, on its map
        assert state(client, page(profile)) == "miss", profile.name
    assert state(client, page(d)) == "hit"


def test_an_approval_retires_its_profile_page_and_feeds(client, moderator, analyst):
    a, b = InstitutionFactory(), InstitutionFactory()
    item = EvidenceItemFactory(institution=a, review_state="submitted", submitted_by=analyst, title="Fresh filing")
    warm(client, page(a), page(b), reverse("feed_rss"))
    review.approve(item, actor=moderator)
    assert b"Fresh filing" in client.get(page(a)).content
    assert b"Fresh filing" in client.get(reverse("feed_rss")).content
    assert state(client, page(b)) == "hit"


def test_evidence_cited_by_another_profiles_relationship_retires_that_profile(client):
    a, b = InstitutionFactory(), InstitutionFactory()
    item = EvidenceItemFactory(institution=a, title="Joint filing")
    RelationshipFactory(source=b, target=InstitutionFactory(), evidence=item)
    warm(client, page(b))
    item.title = "Joint filing, corrected"
    item.save()
    assert state(client, page(b)) == "miss"


def test_a_linked_profile_renamed_retires_the_page_linking_to_it(client):
    a, target = InstitutionFactory(), InstitutionFactory(name="Linked Exchange")
    RelatedLinkFactory(institution=a, target=target, url="", title="")
    warm(client, page(a))
    target.name = "Linked Exchange Renamed"
    target.save()
    assert b"Linked Exchange Renamed" in client.get(page(a)).content


def test_a_renamed_slug_retires_the_old_address(client):
    a = InstitutionFactory(slug="old-address")
    old = page(a)
    warm(client, old)
    a.slug = "new-address"
    a.save()
    assert client.get(old).status_code == 404


def test_a_sector_change_retires_every_page(client):
    sector = SectorFactory(name="Subsea cables")
    a, b = InstitutionFactory(), InstitutionFactory()
    a.sectors.add(sector)
    warm(client, page(a), page(b), reverse("home"))
    Sector.objects.filter(pk=sector.pk).get().save()
    for url in (page(a), page(b), reverse("home")):
        assert state(client, url) == "miss", url


def test_a_profile_sector_change_retires_its_pages_and_the_lists(client):
    sector = SectorFactory(name="Exchanges")
    a, b = InstitutionFactory(), InstitutionFactory()
    warm(client, page(a), page(b), reverse("home"))
    a.sectors.add(sector)
    assert state(client, page(a)) == "miss" and state(client, reverse("home")) == "miss"
    assert state(client, page(b)) == "hit"


def test_a_hub_whose_fan_out_is_too_wide_retires_everything(client, monkeypatch):
    monkeypatch.setattr(dependencies, "MAX_PROFILE_TAGS", 3)
    hub, far = InstitutionFactory(), InstitutionFactory()
    for _ in range(5):
        RelationshipFactory(source=hub, target=InstitutionFactory())
    warm(client, page(far))
    hub.name = "Hub Renamed"
    hub.save()
    assert state(client, page(far)) == "miss"


def test_a_fan_out_cut_short_by_repeated_ties_still_retires_every_page_showing_the_change(client, monkeypatch):
    """Many relationships to one profile make a long list of few profiles: the list is never truncated
    to fit the bound (which could drop a neighbour), it retires everything instead."""
    monkeypatch.setattr(dependencies, "MAX_PROFILE_TAGS", 3)
    hub, twin, last = InstitutionFactory(), InstitutionFactory(), InstitutionFactory()
    for kind, _label in RelationshipFactory._meta.model.Kind.choices:
        RelationshipFactory(source=hub, target=twin, kind=kind)
    RelationshipFactory(source=last, target=hub)
    warm(client, page(last))
    hub.name = "Hub Renamed Again"
    hub.save()
    assert state(client, page(last)) == "miss"


def test_deleting_a_profile_retires_everything(client):
    a, b = InstitutionFactory(), InstitutionFactory()
    warm(client, page(b))
    a.delete()
    assert state(client, page(b)) == "miss"


def test_member_fragments_of_other_profiles_survive_an_edit(client, member_factory):
    """A member's page of B is built from cached parts: an edit of A leaves them current — no query
    reads B's lists again (only the schedule mark is re-read after any change)."""
    a, b = InstitutionFactory(), InstitutionFactory()
    EvidenceItemFactory(institution=b)
    client.force_login(member_factory())
    client.get(page(b))
    a.name = "Another name"
    a.save()
    with CaptureQueriesContext(connection) as after_edit:
        client.get(page(b))
    assert not [q for q in after_edit.captured_queries if "profiles_evidenceitem" in q["sql"]]
    b.name = "B renamed"
    b.save()
    with CaptureQueriesContext(connection) as after_own_edit:
        client.get(page(b))
    assert [q for q in after_own_edit.captured_queries if "profiles_evidenceitem" in q["sql"]]
