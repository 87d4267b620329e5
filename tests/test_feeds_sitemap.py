"""Feeds, sitemap and robots.txt: published profiles and public text only."""

import datetime
import xml.etree.ElementTree as ET

import pytest
from django.urls import reverse
from django.utils import timezone

import siteurl
from membership.models import Tier
from profiles.models import Institution

from .factories import EvidenceItemFactory, InstitutionFactory, SectorFactory, TimelineEventFactory, tier

pytestmark = pytest.mark.django_db


def test_rss_lists_new_profiles_sources_and_timeline(client):
    inst = InstitutionFactory(name="Ohio Stargate Site")
    EvidenceItemFactory(institution=inst, title="Plant conversion confirmed", reviewed_at=timezone.now())
    TimelineEventFactory(institution=inst, title="Conversion announced")
    response = client.get(reverse("feed_rss"))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/rss+xml")
    titles = [t.text for t in ET.fromstring(response.content).iter("title")]
    assert "New profile: Ohio Stargate Site" in titles
    assert "New source: Ohio Stargate Site: Plant conversion confirmed" in titles
    assert "Timeline: Ohio Stargate Site: Conversion announced" in titles


def test_atom_feed_is_atom(client):
    InstitutionFactory()
    response = client.get(reverse("feed_atom"))
    assert response["Content-Type"].startswith("application/atom+xml")
    assert ET.fromstring(response.content).tag == "{http://www.w3.org/2005/Atom}feed"


def test_feeds_leave_out_drafts_scheduled_and_unapproved(client):
    InstitutionFactory(name="Draft Exchange", status=Institution.Status.DRAFT)
    InstitutionFactory(name="Future Registry", published_at=timezone.now() + datetime.timedelta(days=3))
    EvidenceItemFactory(title="Unreviewed claim", review_state="submitted", reviewed_at=timezone.now())
    body = client.get(reverse("feed_rss")).content.decode()
    assert "Draft Exchange" not in body and "Future Registry" not in body and "Unreviewed claim" not in body


def test_per_profile_and_per_sector_feeds(client):
    cloud = SectorFactory(name="Cloud", slug="cloud")
    inst, other = InstitutionFactory(name="In Cloud"), InstitutionFactory(name="Elsewhere")
    inst.sectors.add(cloud)
    profile_feed = client.get(reverse("feed_profile", args=[inst.slug])).content.decode()
    sector_feed = client.get(reverse("feed_sector", args=["cloud"])).content.decode()
    assert "In Cloud" in profile_feed and "Elsewhere" not in profile_feed
    assert "In Cloud" in sector_feed and other.name not in sector_feed
    draft = InstitutionFactory(status=Institution.Status.DRAFT)
    assert client.get(reverse("feed_profile", args=[draft.slug])).status_code == 404


def test_members_only_evidence_absent_from_feeds(client):
    EvidenceItemFactory(
        title="members-only-filing", required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG), reviewed_at=timezone.now()
    )
    assert "members-only-filing" not in client.get(reverse("feed_rss")).content.decode()


def test_sitemap_lists_published_profiles_with_lastmod(client):
    live = InstitutionFactory()
    draft = InstitutionFactory(status=Institution.Status.DRAFT)
    body = client.get("/sitemap.xml").content.decode()
    assert live.get_absolute_url() in body and draft.get_absolute_url() not in body
    assert "<lastmod>" in body


def test_robots_disallows_private_areas_and_names_sitemap(client):
    body = client.get("/robots.txt").content.decode()
    for path in ("/admin/", "/accounts/", "/watchlist/"):
        assert f"Disallow: {path}" in body
    assert f"Sitemap: {siteurl.absolute('/sitemap.xml')}" in body


@pytest.mark.parametrize("rows", [1, 200])
def test_feed_and_sitemap_query_budgets(client, django_assert_max_num_queries, rows):
    for inst in InstitutionFactory.create_batch(rows):
        EvidenceItemFactory(institution=inst, reviewed_at=timezone.now())
        TimelineEventFactory(institution=inst)
    # 6 (profiles, sources, timeline, corrections, ...) + the page cache's look-up of the next scheduled profile
    with django_assert_max_num_queries(7):
        client.get(reverse("feed_rss"))
    with django_assert_max_num_queries(4):
        client.get("/sitemap.xml")
