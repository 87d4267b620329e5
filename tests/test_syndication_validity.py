"""Feeds are valid for their formats and read well: Atom per RFC 4287's RELAX NG schema, RSS per
the W3C feed validator's rules, Markdown rendered and sanitised, citations gated as on the page,
every address absolute on the configured site URL."""

import email.utils
import functools
import html
import re
from pathlib import Path

import pytest
import rnc2rng
from django.urls import reverse
from django.utils import timezone
from lxml import etree

from membership.models import Tier

from .factories import EvidenceItemFactory, InstitutionFactory, SectorFactory, TimelineEventFactory, tier

pytestmark = pytest.mark.django_db

ATOM = "{http://www.w3.org/2005/Atom}"
SITE = "https://profiles.example.org"
RNC = Path(__file__).parent / "data" / "atom.rnc"


@functools.cache
def atom_schema() -> etree.RelaxNG:
    """RFC 4287 Appendix B, converted from RELAX NG Compact (an empty `local` prefix is not XML)."""
    rng = rnc2rng.dumps(rnc2rng.loads(RNC.read_text())).replace('xmlns:local=""', "")
    return etree.RelaxNG(etree.fromstring(rng.encode()))


@pytest.fixture
def site(settings):
    settings.SITE_URL = SITE
    return SITE


@pytest.fixture
def updates():
    """A profile with every kind of update, Markdown in its texts and one public, one locked citation."""
    cloud = SectorFactory(name="Cloud", slug="cloud")
    inst = InstitutionFactory(name="Ohio Stargate Site", dek="A **converted** plant.")
    inst.sectors.add(cloud)
    public = EvidenceItemFactory(
        institution=inst, title="Plant sold", claim="The plant was **sold** [per filing](https://example.org/f).",
        reviewed_at=timezone.now(),
    )
    locked = EvidenceItemFactory(
        institution=inst, title="locked-source", required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG),
        reviewed_at=timezone.now(),
    )
    TimelineEventFactory(
        institution=inst, title="Conversion announced",
        text=f"Work *began* [^ev:{public.pk}] and went on [^ev:{locked.pk}].",
    )
    TimelineEventFactory(institution=inst, title="Quiet day", text="")
    return {"institution": inst, "public": public, "locked": locked}


def feed_urls(inst):
    return [
        reverse("feed_rss"),
        reverse("feed_atom"),
        reverse("feed_profile", args=[inst.slug]),
        reverse("feed_sector", args=["cloud"]),
    ]


def test_atom_feed_validates_against_rfc4287_schema(client, site, updates):
    response = client.get(reverse("feed_atom"))
    document = etree.fromstring(response.content)
    schema = atom_schema()
    assert schema.validate(document), schema.error_log
    entries = document.findall(f"{ATOM}entry")
    assert len(entries) >= 4
    # The schema's two Schematron rules, which RELAX NG does not run:
    assert document.find(f"{ATOM}author/{ATOM}name").text == "BTW Profiles"  # the site is every entry's author
    for entry in entries:
        assert entry.find(f"{ATOM}link[@rel='alternate']") is not None or entry.find(f"{ATOM}content") is not None
        assert entry.find(f"{ATOM}updated").text and entry.find(f"{ATOM}id").text
        assert entry.find(f"{ATOM}summary").text.strip()  # the W3C validator's "Missing textual content"


def test_atom_feed_that_breaks_the_schema_is_caught():
    """The schema check has teeth: an entry without `updated` (the old feed) fails it."""
    feed = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id>'
        "<updated>2026-01-01T00:00:00Z</updated><author><name>a</name></author>"
        '<entry><title>e</title><id>urn:e</id><link href="https://x.org/"/></entry></feed>'
    )
    assert not atom_schema().validate(etree.fromstring(feed))


def rss_items(response):
    channel = etree.fromstring(response.content).find("channel")
    return channel, channel.findall("item")


@pytest.mark.parametrize("which", ["rss", "profile", "sector"])
def test_rss_follows_the_w3c_feed_validators_rules(client, site, updates, which):
    url = {
        "rss": reverse("feed_rss"),
        "profile": reverse("feed_profile", args=[updates["institution"].slug]),
        "sector": reverse("feed_sector", args=["cloud"]),
    }[which]
    response = client.get(url)
    assert response["Content-Type"].startswith("application/rss+xml")
    channel, items = rss_items(response)
    # Channel: title, absolute link, a plain-text description, and its own address as atom:link rel=self.
    assert channel.findtext("title") and channel.findtext("link").startswith(SITE + "/")
    description = channel.findtext("description")
    assert description and "**" not in description and "<" not in description
    self_link = channel.find("{http://www.w3.org/2005/Atom}link[@rel='self']")
    assert self_link.get("href") == SITE + url
    assert items
    guids = [item.findtext("guid") for item in items]
    assert len(set(guids)) == len(guids)  # "DuplicateValue"
    for item in items:
        assert item.findtext("title") and item.findtext("link").startswith(SITE + "/")
        assert email.utils.parsedate_to_datetime(item.findtext("pubDate")).tzinfo is not None  # RFC 822 date
        body = item.findtext("description") or ""
        # "ContainsRelRef": every href/src in the HTML is absolute.
        for ref in re.findall(r'(?:href|src)="([^"]*)"', body):
            assert ref.startswith(("https://", "http://", "mailto:")), ref


def test_feed_text_is_rendered_markdown_not_raw(client, site, updates):
    for url in feed_urls(updates["institution"]):
        body = client.get(url).content.decode()
        text = html.unescape(html.unescape(body))
        assert "**" not in text and "](http" not in text and "[^ev:" not in text, url
    _, items = rss_items(client.get(reverse("feed_rss")))
    descriptions = {item.findtext("title"): item.findtext("description") for item in items}
    source = descriptions["New source: Ohio Stargate Site: Plant sold"]
    assert "<strong>sold</strong>" in source
    assert '<a href="https://example.org/f" rel="nofollow noopener">per filing</a>' in source


def test_feed_citations_follow_the_gate_and_link_to_the_source_on_the_page(client, site, updates):
    inst, public, locked = updates["institution"], updates["public"], updates["locked"]
    _, items = rss_items(client.get(reverse("feed_rss")))
    text = next(i.findtext("description") for i in items if i.findtext("title").endswith("Conversion announced"))
    page = SITE + inst.get_absolute_url()
    assert f'<a href="{page}#evidence-{public.pk}" rel="nofollow noopener">[1]</a>' in text
    assert f"evidence-{locked.pk}" not in text and "[2]" not in text
    assert "went on." in text  # the hidden citation leaves no marker and no stray space


def test_feed_addresses_come_from_the_site_url_not_the_host_header(client, site, updates):
    for url in feed_urls(updates["institution"]):
        body = client.get(url, HTTP_HOST="localhost").content.decode()
        assert "localhost" not in body and "testserver" not in body, url
        assert SITE + "/" in body
