"""Discovery: directory search and facets, the dependency map, link previews and structured data.

Everything here is read through the test client, as a reader would. Parts that only PostgreSQL's
full-text search can do (ranking, stemming, indexed evidence titles) skip on SQLite with the reason.
"""

import datetime
import json
import re
import uuid
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import siteurl
from membership.models import Tier
from profiles import graph, search
from profiles.models import Follow, Institution, Relationship

from .factories import (
    BriefingFactory,
    EvidenceItemFactory,
    InstitutionFactory,
    RelationshipFactory,
    SectorFactory,
    WatchpointFactory,
    tier,
)
from .factories_membership import alliance_member, strategic_member, unverified_user
from .factories_pages import published_profiles

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _uncached_facet_counts(settings):
    """Budgets bound the cold render: facet counts and the result count and order computed, not read
    from their caches (warm budgets: tests/test_search_cache.py)."""
    settings.BTW_FACET_COUNTS_TIMEOUT = 0
    settings.BTW_SEARCH_RESULTS_TIMEOUT = 0

SC, LA = Tier.STRATEGIC_CIRCLE_SLUG, Tier.LEADERSHIP_ALLIANCE_SLUG
POSTGRES_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL full-text search (ranking, stemming, indexed evidence); SQLite uses a substring fallback",
)


def directory(client, **params):
    return client.get(reverse("profiles:directory"), params)


def text(response) -> str:
    return response.content.decode()


def head_of(html: str) -> str:
    return html.split("</head>", 1)[0]


def json_ld_of(html: str) -> dict:
    [block] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.DOTALL)
    return json.loads(block)


def svg_of(html: str) -> str:
    match = re.search(r'<svg class="dependency-map".*?</svg>', html, re.DOTALL)
    assert match, "the map page should draw an inline SVG"
    return match.group(0)


def result_names(response) -> list[str]:
    return [p.name for p in response.context["profiles"]]


class Meta(HTMLParser):
    """<meta>, <link> and <title> of a page's head."""

    def __init__(self):
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: list[dict] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and (attrs.get("name") or attrs.get("property")):
            self.meta[attrs.get("name") or attrs.get("property")] = attrs.get("content", "")
        elif tag == "link":
            self.links.append(attrs)
        elif tag == "title":
            self._in_title = True

    def handle_data(self, data):
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False


def meta_of(response) -> Meta:
    parser = Meta()
    parser.feed(head_of(text(response)))
    return parser


# ---------------------------------------------------------------------------------------------
# Search
# ---------------------------------------------------------------------------------------------


def test_search_finds_profiles_by_public_text(client):
    InstitutionFactory(name="Northern Fibre Exchange", dek="Carrier-neutral peering in the Nordics.")
    InstitutionFactory(name="Unrelated Registry", dek="Runs a country-code top-level domain.")
    response = directory(client, q="peering")
    assert response.status_code == 200
    assert result_names(response) == ["Northern Fibre Exchange"]
    assert "1 profile matches" in text(response)


def test_search_results_show_highlighted_snippets_of_public_text(client):
    InstitutionFactory(name="Northern Fibre Exchange", dek="Carrier-neutral peering in the Nordics.")
    body = text(directory(client, q="peering"))
    assert "<mark>peering</mark>" in body
    assert 'class="profile-card__dek profile-card__snippet"' in body


def test_snippets_escape_analyst_text(client):
    InstitutionFactory(name="Marked Exchange", dek='<script>alert("x")</script> <b>bold</b> & peering fabric')
    body = text(directory(client, q="peering"))
    snippet = body.split("profile-card__snippet", 1)[1].split("</p>", 1)[0]
    assert "<mark>peering</mark>" in snippet
    # Escaped (SQLite fallback) or dropped as markup by ts_headline (PostgreSQL): never live HTML.
    assert "<script" not in body and "<b>" not in snippet
    assert "&amp; <mark>peering</mark>" in snippet


def test_listing_without_a_query_shows_no_snippets_and_newest_update_first(client):
    now = timezone.now()
    InstitutionFactory(name="Older Exchange", public_updated_at=now - datetime.timedelta(days=4))
    InstitutionFactory(name="Newer Exchange", public_updated_at=now - datetime.timedelta(hours=2))
    response = directory(client)
    assert result_names(response) == ["Newer Exchange", "Older Exchange"]
    assert "<mark>" not in text(response) and "profile-card__snippet" not in text(response)
    for blank in ["", "   ", "\x00"]:
        assert result_names(directory(client, q=blank)) == ["Newer Exchange", "Older Exchange"]


@POSTGRES_ONLY
def test_search_ranks_name_matches_above_summary_matches(client):
    now = timezone.now()
    InstitutionFactory(name="Atlas Holdings", dek="Builds subsea cable landing stations.", public_updated_at=now)
    InstitutionFactory(
        name="Subsea Cable Consortium", dek="A consortium.", public_updated_at=now - datetime.timedelta(days=30)
    )
    response = directory(client, q="subsea cable")
    assert result_names(response) == ["Subsea Cable Consortium", "Atlas Holdings"]  # rank beats recency
    assert "most relevant to your search first" in text(response)


@POSTGRES_ONLY
def test_search_stems_words_and_finds_approved_public_evidence_titles(client):
    inst = InstitutionFactory(name="Lakeside Power Cooperative", dek="Sells power to data centres.")
    EvidenceItemFactory(institution=inst, title="Regulator grants quetzalcoatl interconnection permit")
    search.refresh_search_index([inst.pk])
    assert result_names(directory(client, q="quetzalcoatl")) == ["Lakeside Power Cooperative"]
    assert result_names(directory(client, q="selling")) == ["Lakeside Power Cooperative"]  # sells ~ selling


def test_search_ignores_drafts_and_scheduled_profiles(client):
    InstitutionFactory(name="Hidden Draft Exchange", status=Institution.Status.DRAFT, published_at=None)
    InstitutionFactory(name="Future Exchange", published_at=timezone.now() + datetime.timedelta(days=2))
    assert result_names(directory(client, q="exchange")) == []


def test_search_page_is_noindex_with_a_canonical_url_without_the_query(client):
    InstitutionFactory(name="Cloud Exchange", type=Institution.Type.EXCHANGE)
    response = directory(client, q="cloud", type="exchange", bogus="1")
    meta = meta_of(response)
    assert meta.meta["robots"] == "noindex, follow"
    [canonical] = [link["href"] for link in meta.links if link.get("rel") == "canonical"]
    assert canonical == siteurl.absolute("/profiles/?type=exchange")
    assert meta.title.startswith("Search: cloud — Profiles")


def test_plain_directory_is_indexable_with_its_own_canonical_url(client):
    InstitutionFactory()
    meta = meta_of(directory(client, page="1"))
    assert "robots" not in meta.meta
    assert {"rel": "canonical", "href": siteurl.absolute("/profiles/")} in meta.links
    assert meta.meta["description"].startswith("Search and filter")


# ---------------------------------------------------------------------------------------------
# Facets, combined filters and pagination
# ---------------------------------------------------------------------------------------------


def test_facet_labels_show_counts_that_respect_the_query(client):
    cloud = SectorFactory(name="Cloud", slug="cloud")
    InstitutionFactory(name="Fibre Registry", dek="Fibre routes.", type=Institution.Type.REGISTRY).sectors.add(cloud)
    InstitutionFactory(name="Fibre Exchange One", dek="Fibre peering.", type=Institution.Type.EXCHANGE)
    InstitutionFactory(name="Fibre Exchange Two", dek="Fibre peering.", type=Institution.Type.EXCHANGE)
    InstitutionFactory(name="Power Company", dek="Electricity.", type=Institution.Type.REGISTRY)
    body = text(directory(client, q="fibre"))
    assert '<option value="exchange">Exchange (2)</option>' in body
    assert '<option value="registry">Registry (1)</option>' in body  # the power company does not match
    assert '<option value="cloud">Cloud (1)</option>' in body


def select_options(body: str, name: str) -> list[str]:
    """The option tags of one filter select of the directory's form."""
    match = re.search(rf'<select id="filter-{name}" name="{name}">(.*?)</select>', body, re.DOTALL)
    assert match, f"the filter form should have a {name} select"
    return re.findall(r"<option [^>]*>[^<]*</option>", match.group(1))


def test_filter_options_that_would_give_no_result_are_not_offered(client):
    SectorFactory(name="Cloud", slug="cloud")
    energy = SectorFactory(name="Energy", slug="energy")
    InstitutionFactory(name="Fibre Exchange", dek="Fibre peering.", type=Institution.Type.EXCHANGE).sectors.add(energy)
    InstitutionFactory(name="Power Registry", dek="Electricity.", type=Institution.Type.REGISTRY)
    body = text(directory(client, q="fibre"))
    assert select_options(body, "type") == [
        '<option value="">Any type</option>',
        '<option value="exchange">Exchange (1)</option>',
    ]
    assert select_options(body, "sector") == [
        '<option value="">Any sector</option>',
        '<option value="energy">Energy (1)</option>',
    ]
    assert "(0)" not in body


def test_the_current_choice_stays_offered_with_its_zero_count_so_it_can_be_undone(client):
    SectorFactory(name="Cloud", slug="cloud")
    energy = SectorFactory(name="Energy", slug="energy")
    InstitutionFactory(name="Fibre Exchange", dek="Fibre peering.", type=Institution.Type.EXCHANGE).sectors.add(energy)
    by_type = directory(client, q="fibre", type="registry")
    assert result_names(by_type) == []
    assert select_options(text(by_type), "type") == [
        '<option value="">Any type</option>',
        '<option value="registry" selected>Registry (0)</option>',
        '<option value="exchange">Exchange (1)</option>',
    ]
    by_sector = directory(client, q="fibre", sector="cloud")
    assert result_names(by_sector) == []
    assert select_options(text(by_sector), "sector") == [
        '<option value="">Any sector</option>',
        '<option value="cloud" selected>Cloud (0)</option>',
        '<option value="energy">Energy (1)</option>',
    ]


def test_query_and_filters_combine(client):
    cloud = SectorFactory(name="Cloud", slug="cloud")
    hit = InstitutionFactory(name="Fibre Cloud Exchange", dek="Fibre.", type=Institution.Type.EXCHANGE,
                             criticality=Institution.Criticality.HIGH)
    hit.sectors.add(cloud)
    InstitutionFactory(name="Fibre Registry", dek="Fibre.", type=Institution.Type.REGISTRY,
                       criticality=Institution.Criticality.HIGH).sectors.add(cloud)
    InstitutionFactory(name="Fibre Low Exchange", dek="Fibre.", type=Institution.Type.EXCHANGE,
                       criticality=Institution.Criticality.LOW).sectors.add(cloud)
    InstitutionFactory(name="Copper Exchange", dek="Copper.", type=Institution.Type.EXCHANGE,
                       criticality=Institution.Criticality.HIGH).sectors.add(cloud)
    response = directory(client, q="fibre", type="exchange", criticality="high", sector="cloud")
    assert result_names(response) == ["Fibre Cloud Exchange"]
    body = text(response)
    assert "1 profile matches" in body and "within your filters" in body
    assert '<option value="exchange" selected>' in body and '<option value="high" selected>' in body


def test_pagination_keeps_the_query_and_filters_and_pages_never_overlap(client):
    same_time = timezone.now() - datetime.timedelta(hours=1)
    for k in range(25):
        InstitutionFactory(name=f"Gridlock Exchange {k:02d}", dek="Gridlock peering.",
                           type=Institution.Type.EXCHANGE, public_updated_at=same_time)
    InstitutionFactory(name="Gridlock Registry", dek="Gridlock.", type=Institution.Type.REGISTRY)
    first = directory(client, q="gridlock", type="exchange")
    body = text(first)
    assert 'href="?q=gridlock&amp;type=exchange&amp;page=2"' in body and "Page 1 of 2" in body
    second = directory(client, q="gridlock", type="exchange", page="2")
    assert 'href="?q=gridlock&amp;type=exchange&amp;page=1"' in text(second)
    page_one, page_two = result_names(first), result_names(second)
    assert len(page_one) == 20 and len(page_two) == 5
    assert not set(page_one) & set(page_two)
    assert len(set(page_one) | set(page_two)) == 25 and "Gridlock Registry" not in page_one + page_two


# ---------------------------------------------------------------------------------------------
# Bad input: a sensible page, never a 500
# ---------------------------------------------------------------------------------------------

BAD_PARAMS = [
    {"q": "fibre " * 2000},
    {"q": '"unterminated quote'},
    {"q": '"exact phrase" -excluded OR other'},
    {"q": "fibre OR -peering & | ! ( ) :* <-> !!"},
    {"q": "%_\\"},
    {"q": "'; DROP TABLE profiles_institution; --"},
    {"q": "1' OR '1'='1"},
    {"q": "Überseekabel 海底ケーブル кабель 🛰️"},
    {"q": "\u202e\u200b reversed"},
    {"q": "fibre\x00peering"},
    {"q": "\x00\x01\x02"},
    {"q": "<script>alert(1)</script>"},
    {"q": ["fibre", "peering"]},
    {"type": "no-such-type", "q": "fibre"},
    {"region": "atlantis"},
    {"criticality": "extreme", "horizon": "yesterday"},
    {"sector": "no-such-sector"},
    {"sector": "x" * 500},
    {"page": "99999", "q": "fibre"},
    {"page": "0"},
    {"page": "-3"},
    {"page": "abc"},
    {"page": "1e309"},
    {"page": "9" * 40},
    {"page": ""},
]


@pytest.mark.parametrize("params", BAD_PARAMS, ids=lambda p: repr(p)[:40])
def test_bad_input_gives_a_page_never_an_error(client, params):
    InstitutionFactory(name="Fibre Exchange", dek="Fibre peering in the north.")
    response = directory(client, **params)
    assert response.status_code == 200
    body = text(response)
    assert "<script>alert(1)</script>" not in body
    assert 'class="results-count"' in body


def test_an_out_of_range_page_shows_the_last_page(client):
    for k in range(23):
        InstitutionFactory(name=f"Fibre Exchange {k:02d}", dek="Fibre.")
    response = directory(client, q="fibre", page="50")
    assert "Page 2 of 2" in text(response) and len(result_names(response)) == 3


def test_the_query_is_echoed_escaped(client):
    body = text(directory(client, q='"><img src=x onerror=alert(1)>'))
    assert "<img src=x" not in body
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in body


# ---------------------------------------------------------------------------------------------
# The dependency map
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def hub():
    """A hub with ties of three kinds, one second-hop tie, and ties the map must leave out."""
    center = InstitutionFactory(name="Hub Exchange", slug="hub-exchange")
    power = InstitutionFactory(name="Grid Power Co", slug="grid-power")
    cloud = InstitutionFactory(name="Cloud Tenant", slug="cloud-tenant")
    fund = InstitutionFactory(name="Infra Fund", slug="infra-fund")
    turbine = InstitutionFactory(name="Turbine Maker", slug="turbine-maker")
    RelationshipFactory(source=center, target=power, kind=Relationship.Kind.DEPENDS_ON,
                        description="Draws 40 MW from the regional grid.", since=datetime.date(2024, 3, 1))
    RelationshipFactory(source=cloud, target=center, kind=Relationship.Kind.CUSTOMER)
    RelationshipFactory(source=fund, target=center, kind=Relationship.Kind.INVESTOR)
    RelationshipFactory(source=power, target=turbine, kind=Relationship.Kind.CUSTOMER)
    RelationshipFactory(source=center, target=InstitutionFactory(name="Draft Neighbour", slug="draft-neighbour",
                        status=Institution.Status.DRAFT, published_at=None))
    RelationshipFactory(source=center, target=InstitutionFactory(name="Archived Neighbour", slug="archived-neighbour",
                        status=Institution.Status.ARCHIVED))
    tomorrow = timezone.now() + datetime.timedelta(days=1)
    RelationshipFactory(source=center, target=InstitutionFactory(
        name="Scheduled Neighbour", slug="scheduled-neighbour", published_at=tomorrow))
    for state in (Relationship.Review.SUBMITTED, Relationship.Review.REJECTED, Relationship.Review.RETRACTED):
        RelationshipFactory(source=center, review_state=state,
                            target=InstitutionFactory(name=f"Unapproved {state}", slug=f"unapproved-{state}"))
    return center


def map_page(client, institution):
    return client.get(reverse("profiles:map", args=[institution.slug]))


def test_map_draws_an_inline_svg_whose_nodes_link_to_their_profiles(client, hub):
    response = map_page(client, hub)
    assert response.status_code == 200
    svg = svg_of(text(response))
    assert 'role="group"' in svg and 'aria-labelledby="map-title map-summary"' in svg  # holds links: not an img
    assert re.search(r'viewBox="-?\d+ -?\d+ \d+ \d+"', svg)
    for slug in ["hub-exchange", "grid-power", "cloud-tenant", "infra-fund", "turbine-maker"]:
        assert re.search(rf'<a href="/profiles/{slug}/" class="map-node[^"]*"[^>]*>\s*<title>', svg), slug
    assert svg.count("<circle") == 5 and svg.count("<text") == 5
    assert 'class="map-node map-node--hop0 map-node--center"' in svg
    assert "<title>Grid Power Co — Company</title>" in svg
    assert "<title>Hub Exchange — depends on — Grid Power Co (since Mar 2024)</title>" in svg
    assert 'id="map-summary"' in text(response)


def test_map_distinguishes_relationship_kinds(client, hub):
    body = text(map_page(client, hub))
    svg = svg_of(body)
    for kind in ["depends-on", "customer", "investor"]:
        assert f'class="map-edge map-edge--{kind}"' in svg
        assert f'<marker id="map-arrow-{kind}"' in svg and f'marker-end="url(#map-arrow-{kind})"' in svg
    legend = body.split('class="map-legend"', 1)[1].split("</ul>", 1)[0]
    for label in ["Depends on", "Customer of", "Investor in"]:
        assert label in legend
    assert "map-edge--partner" not in svg  # only kinds that are drawn get a legend entry and a marker


def test_map_needs_no_script_inline_style_or_external_asset(client, hub):
    body = text(map_page(client, hub))
    assert "<script" not in body and " style=" not in body
    assert "http://" not in svg_of(body).replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in svg_of(body)


def test_map_table_holds_the_same_ties(client, hub):
    body = text(map_page(client, hub))
    table = body.split('class="data-table map-table"', 1)[1].split("</table>", 1)[0]
    for heading in ["From", "Relationship", "To", "Since", "Description"]:
        assert f'<th scope="col">{heading}</th>' in table
    assert table.count('<tr class="map-table__row') == 4
    assert "Draws 40 MW from the regional grid." in table and 'datetime="2024-03-01"' in table
    assert '<a href="/profiles/turbine-maker/">Turbine Maker</a>' in table
    assert "Customer of" in table and "Investor in" in table


def test_map_leaves_out_unpublished_neighbours_and_unapproved_ties(client, hub):
    body = text(map_page(client, hub))
    for hidden in ["Draft Neighbour", "Archived Neighbour", "Scheduled Neighbour", "Unapproved submitted",
                   "Unapproved rejected", "Unapproved retracted", "draft-neighbour", "scheduled-neighbour"]:
        assert hidden not in body, hidden


@pytest.mark.parametrize("reader", ["anonymous", "member"])
def test_map_of_an_unpublished_profile_is_404_for_readers(client, member_client, reader):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    RelationshipFactory(source=draft)
    if reader == "member":
        client = member_client(LA)
    assert map_page(client, draft).status_code == 404


def test_a_capped_map_says_how_many_more_and_lists_every_direct_tie(client):
    center = InstitutionFactory(name="Big Hub")
    for k in range(graph.FANOUT_CAP + 3):
        RelationshipFactory(source=center, target=InstitutionFactory(name=f"Spoke {k:02d}"))
    body = text(map_page(client, center))
    assert svg_of(body).count("<circle") == graph.FANOUT_CAP + 1
    assert "and 3 more direct relationships not drawn" in body
    assert 'id="direct-ties"' in body
    for k in range(graph.FANOUT_CAP + 3):
        assert f"Spoke {k:02d}" in body


def _direct_ties(body: str) -> list[str]:
    """The counterparts named in the map's table of direct ties (not the drawing's labels)."""
    table = body.split('id="direct-ties"', 1)[1]
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', table)


@pytest.fixture
def paged_hub(monkeypatch):
    """A hub with 16 ties (15 of its own, one pointing at it) and a table of 5 ties a page."""
    from profiles import connections

    monkeypatch.setattr(connections, "TIES_PER_PAGE", 5)
    hub = InstitutionFactory(name="Paged Hub")
    for k in range(graph.FANOUT_CAP + 3):
        RelationshipFactory(source=hub, target=InstitutionFactory(name=f"Spoke {k:02d}"))
    RelationshipFactory(source=InstitutionFactory(name="Inbound One"), target=hub)
    return hub


def test_a_hubs_direct_ties_are_listed_a_page_at_a_time_each_once(client, paged_hub):
    url = reverse("profiles:map", args=[paged_hub.slug])
    listed = []
    for number in (1, 2, 3, 4):
        body = text(client.get(url, {"page": number}))
        listed += _direct_ties(body)
        assert f"Page {number} of 4" in body
    assert sorted(listed) == sorted([f"Spoke {k:02d}" for k in range(graph.FANOUT_CAP + 3)] + ["Inbound One"])
    assert listed[-1] == "Inbound One"  # its own ties first, then those pointing at it
    first, last = text(client.get(url)), text(client.get(url, {"page": 4}))
    assert "Relationships 1–5 of 16." in first and 'href="?page=2" rel="next"' in first
    assert "Relationships 16–16 of 16." in last and 'rel="next"' not in last
    assert f'<link rel="canonical" href="{siteurl.absolute(url)}?page=4">' in last
    assert f'<link rel="canonical" href="{siteurl.absolute(url)}">' in first


def test_no_ties_page_names_an_unpublished_profile_or_counts_its_tie(client, paged_hub):
    draft = InstitutionFactory(name=f"Hidden Draft {uuid.uuid4().hex[:8]}", status=Institution.Status.DRAFT)
    RelationshipFactory(source=paged_hub, target=draft)
    url = reverse("profiles:map", args=[paged_hub.slug])
    for number in (1, 2, 3, 4, 5):
        body = text(client.get(url, {"page": number}))
        assert draft.name not in body and "of 16." in body


@pytest.mark.parametrize("page", ["0", "-1", "two", "1e3", "%00"])
def test_a_malformed_ties_page_shows_the_first_page(client, paged_hub, page):
    response = client.get(reverse("profiles:map", args=[paged_hub.slug]) + f"?page={page}")
    assert response.status_code == 200 and "Relationships 1–5 of 16." in text(response)


def test_a_ties_page_past_the_end_shows_the_last_page(client, paged_hub):
    body = text(client.get(reverse("profiles:map", args=[paged_hub.slug]), {"page": 99}))
    assert "Relationships 16–16 of 16." in body and _direct_ties(body) == ["Inbound One"]


def test_each_ties_page_is_cached_under_its_own_address(client, paged_hub):
    url = reverse("profiles:map", args=[paged_hub.slug])
    assert client.get(url, {"page": 2})["X-Page-Cache"] == "miss"
    hit = client.get(url, {"page": 2})
    assert hit["X-Page-Cache"] == "hit" and "Relationships 6–10 of 16." in text(hit)
    assert "Relationships 1–5 of 16." in text(client.get(url))


def test_two_ties_between_the_same_pair_are_drawn_side_by_side(client):
    center, other = InstitutionFactory(name="Pair A"), InstitutionFactory(name="Pair B")
    RelationshipFactory(source=center, target=other, kind=Relationship.Kind.SUPPLIER)
    RelationshipFactory(source=other, target=center, kind=Relationship.Kind.CUSTOMER)
    svg = svg_of(text(map_page(client, center)))
    lines = re.findall(r'<line class="map-edge map-edge--[a-z-]+" x1="([\d.-]+)" y1="([\d.-]+)"', svg)
    assert len(lines) == 2 and lines[0] != lines[1]


def test_a_profile_without_ties_says_so(client):
    body = text(map_page(client, InstitutionFactory()))
    assert "No approved relationships are recorded" in body and "<svg" not in body


# ---------------------------------------------------------------------------------------------
# Profile page: dependencies, map link, feeds, follow control
# ---------------------------------------------------------------------------------------------


def test_profile_links_its_map_dependencies_and_feed(client, hub):
    response = client.get(hub.get_absolute_url())
    body = text(response)
    assert f'href="{reverse("profiles:map", args=[hub.slug])}"' in body
    assert "Depends on" in body and "Grid Power Co" in body
    feed_url = reverse("feed_profile", args=[hub.slug])
    assert f'href="{feed_url}"' in body.split("</head>", 1)[1]
    assert {"rel": "alternate", "type": "application/rss+xml",
            "title": "Hub Exchange — updates (RSS)", "href": feed_url} in meta_of(response).links


def test_anonymous_profile_offers_a_sign_in_link_and_no_form_or_csrf_token(client):
    institution = InstitutionFactory()
    response = client.get(institution.get_absolute_url())
    body = text(response)
    sign_in_to_follow = reverse("profiles:follow_sign_in", args=[institution.slug])
    assert f'href="{sign_in_to_follow}" rel="nofollow">Sign in to follow</a>' in body
    assert "<form" not in body and "csrfmiddlewaretoken" not in body
    assert "csrftoken" not in response.cookies  # the render is the same for every anonymous reader


def test_signed_in_non_member_is_pointed_to_membership(client):
    institution = InstitutionFactory()
    client.force_login(unverified_user())
    body = text(client.get(institution.get_absolute_url()))
    assert "Follow with a membership" in body and f'href="{reverse("membership:tiers")}"' in body
    assert reverse("profiles:follow", args=[institution.slug]) not in body


def test_member_gets_a_follow_form_and_can_follow_then_unfollow(client):
    institution = InstitutionFactory(name="Followed Exchange")
    user = strategic_member()
    client.force_login(user)
    url = institution.get_absolute_url()
    follow_url = reverse("profiles:follow", args=[institution.slug])
    body = text(client.get(url))
    assert f'<form method="post" action="{follow_url}"' in body and "csrfmiddlewaretoken" in body
    assert 'name="action" value="follow"' in body and "Follow this profile" in body

    response = client.post(follow_url, {"action": "follow"})
    assert response.status_code == 302 and response["Location"] == url
    assert Follow.objects.filter(user=user, institution=institution).exists()
    body = text(client.get(url))
    assert 'name="action" value="unfollow"' in body and "You follow this profile." in body

    client.post(follow_url, {"action": "unfollow"})
    assert not Follow.objects.filter(user=user, institution=institution).exists()


def test_staff_preview_of_a_draft_offers_no_follow_or_feed(client, staff_factory):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    client.force_login(staff_factory())
    body = text(client.get(draft.get_absolute_url()))
    assert "Follow this profile" not in body and reverse("feed_profile", args=[draft.slug]) not in body


# ---------------------------------------------------------------------------------------------
# Link previews and structured data
# ---------------------------------------------------------------------------------------------


def test_profile_head_carries_title_description_canonical_opengraph_and_twitter(client):
    institution = InstitutionFactory(name="Preview Exchange", slug="preview-exchange",
                                     dek="A neutral exchange for   northern networks.")
    meta = meta_of(client.get(institution.get_absolute_url()))
    url = siteurl.absolute("/profiles/preview-exchange/")
    assert meta.title == "Preview Exchange — BTW Profiles"
    assert meta.meta["description"] == "A neutral exchange for northern networks."
    assert {"rel": "canonical", "href": url} in meta.links
    assert meta.meta["og:type"] == "article" and meta.meta["og:url"] == url
    assert meta.meta["og:title"] == "Preview Exchange" and meta.meta["og:site_name"] == "BTW Profiles"
    assert meta.meta["og:description"] == "A neutral exchange for northern networks."
    assert meta.meta["article:modified_time"].startswith(str(institution.last_updated.year))
    assert meta.meta["twitter:card"] == "summary_large_image" and meta.meta["twitter:title"] == "Preview Exchange"


def test_json_ld_describes_the_institution_and_marks_the_gated_briefing(client):
    institution = InstitutionFactory(
        name="Gated Exchange", type=Institution.Type.EXCHANGE, base_region=Institution.Region.EUROPE
    )
    BriefingFactory(institution=institution, required_tier=tier(LA))
    html = text(client.get(institution.get_absolute_url()))
    data = json_ld_of(html)
    organization, page = data["@graph"]
    assert data["@context"] == "https://schema.org"
    assert organization["@type"] == "Organization" and organization["name"] == "Gated Exchange"
    assert organization["location"] == {"@type": "Place", "name": "Europe"}
    assert "Exchange" in page["keywords"]
    assert page["@type"] == "WebPage" and page["isAccessibleForFree"] is False
    assert page["hasPart"] == {"@type": "WebPageElement", "isAccessibleForFree": False,
                               "cssSelector": ".member-briefing"}
    assert re.search(r'<section class="[^"]*\bmember-briefing\b[^"]*" id="briefings"', html)


def test_json_ld_of_a_profile_without_briefings_is_free(client):
    institution = InstitutionFactory()
    html = text(client.get(institution.get_absolute_url()))
    page = json_ld_of(html)["@graph"][1]
    assert page["isAccessibleForFree"] is True and "hasPart" not in page
    assert "member-briefing" not in html


def test_json_ld_cannot_break_out_of_its_script_block(client):
    institution = InstitutionFactory(name="</script><script>alert(1)</script>", dek="<!-- & -->")
    html = text(client.get(institution.get_absolute_url()))
    assert "<script>alert(1)" not in html
    assert json_ld_of(html)["@graph"][0]["name"] == "</script><script>alert(1)</script>"


@pytest.mark.parametrize("url_name", ["home", "profiles:directory"])
def test_home_and_directory_have_title_description_canonical_and_site_feeds(client, url_name):
    InstitutionFactory()
    meta = meta_of(client.get(reverse(url_name)))
    assert "BTW Profiles" in meta.title and meta.meta["description"]
    assert {"rel": "canonical", "href": siteurl.absolute(reverse(url_name))} in meta.links
    feeds = {(link.get("type"), link.get("href")) for link in meta.links if link.get("rel") == "alternate"}
    assert ("application/rss+xml", reverse("feed_rss")) in feeds
    assert ("application/atom+xml", reverse("feed_atom")) in feeds


# ---------------------------------------------------------------------------------------------
# Locked text never reaches discovery outputs
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def secret():
    return f"zq{uuid.uuid4().hex[:12]}"


@pytest.fixture
def planted(secret):
    """A published profile whose members-only parts (and only those) carry the secret word."""
    alliance = tier(LA)
    sector = SectorFactory(name="Leak sector", slug="leak-sector")
    institution = InstitutionFactory(name="Leak Test Exchange", slug="leak-test-exchange",
                                     dek="A public summary of the leak test exchange.")
    institution.sectors.add(sector)
    BriefingFactory(institution=institution, title="Alliance context", required_tier=alliance,
                    body=f"Briefing body {secret} ends.", source_notes=f"Source notes {secret}.")
    EvidenceItemFactory(institution=institution, required_tier=alliance, title=f"Evidence {secret}",
                        claim=f"Claim {secret}", quote=f"Quote {secret}", reviewed_at=timezone.now())
    EvidenceItemFactory(institution=institution, title="Public source on the exchange")
    WatchpointFactory(institution=institution, required_tier=alliance, text=f"Watch {secret} closely.")
    neighbour = InstitutionFactory(name="Leak Neighbour", slug="leak-neighbour")
    RelationshipFactory(source=institution, target=neighbour, kind=Relationship.Kind.DEPENDS_ON,
                        description="A public description of the tie.")
    institution.save()  # re-index with its sector, as the admin does after saving relations
    search.refresh_search_index([institution.pk])
    return institution


READERS = {
    "anonymous": lambda: None,
    "unverified": unverified_user,
    "Strategic Circle member": strategic_member,
    "Leadership Alliance member": alliance_member,
}


def as_reader(client, make_user):
    user = make_user()
    if user is not None:
        client.force_login(user)
    return client


def test_the_planted_secret_is_on_the_page_for_the_alliance(client, planted, secret):
    """Guards the tests below: the secret really is in the profile, for those allowed to read it."""
    body = text(as_reader(client, alliance_member).get(planted.get_absolute_url()))
    for planted_text in [f"Briefing body {secret}", f"Source notes {secret}", f"Claim {secret}", f"Watch {secret}"]:
        assert planted_text in body


@pytest.mark.parametrize("reader", list(READERS))
def test_head_and_json_ld_are_built_from_public_fields_only(client, planted, secret, reader):
    """Even for a reader who may open the briefing: link previews are shared beyond them."""
    html = text(as_reader(client, READERS[reader]).get(planted.get_absolute_url()))
    assert secret not in head_of(html)
    assert secret not in json.dumps(json_ld_of(html))


@pytest.mark.parametrize("reader", list(READERS))
def test_searching_for_a_locked_word_finds_nothing(client, planted, secret, reader):
    response = directory(as_reader(client, READERS[reader]), q=secret)
    assert response.status_code == 200 and result_names(response) == []
    assert "0 profiles match" in text(response)


@pytest.mark.parametrize("reader", list(READERS))
def test_search_results_snippets_and_facet_labels_carry_no_locked_text(client, planted, secret, reader):
    client = as_reader(client, READERS[reader])
    for params in [{"q": "leak"}, {"q": "exchange", "sector": "leak-sector"}, {"sector": "leak-sector"}, {}]:
        response = directory(client, **params)
        assert "Leak Test Exchange" in result_names(response), params
        assert secret not in text(response), params


@pytest.mark.parametrize("reader", list(READERS))
def test_map_page_carries_no_locked_text(client, planted, secret, reader):
    client = as_reader(client, READERS[reader])
    for institution in [planted, Institution.objects.get(slug="leak-neighbour")]:
        body = text(map_page(client, institution))
        assert "Leak Test Exchange" in body and secret not in body


# ---------------------------------------------------------------------------------------------
# Query budgets: the same bound at 1 and 200 rows
# ---------------------------------------------------------------------------------------------

SIZES = [1, 200]
#: Search results: sectors, then on PostgreSQL one pass for the count, the ranked ids of the first
#: pages and every facet's counts (profiles.query_pass), elsewhere the count and the facet counts (2);
#: the page's rows by id (or by offset), their sectors read from the rows (a signed-in reader adds user
#: and level; the session is read from the cache). Snippets are annotated on the page query.
SEARCH_BUDGET = (
    {"anonymous": 3, "member": 4} if connection.vendor == "postgresql" else {"anonymous": 5, "member": 6}
)
#: Map: profile, ties one and two steps away, each with its count past the fan-out cap, and every
#: direct tie when the drawing is capped (a signed-in reader adds session, user and level).
MAP_BUDGET = {"anonymous": 6, "member": 9}


def counted(client, url) -> int:
    """Queries of one render, process-wide caches warm, the page cache off (a render is counted,
    never a cache hit)."""
    with override_settings(BTW_PAGE_CACHE_TIMEOUT=0):
        assert client.get(url).status_code == 200
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
    return len(queries)


def reader_client(client, kind):
    return as_reader(client, strategic_member) if kind == "member" else client


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", ["anonymous", "member"])
def test_search_results_page_costs_the_same_at_1_and_200_results(client, kind, n):
    search.refresh_search_index([i.pk for i in published_profiles(n)])  # bulk-built: index them
    client = reader_client(client, kind)
    response = directory(client, q="listed", sector="cloud")
    assert len(result_names(response)) == min(n, 20) and "<mark>" in text(response)
    assert counted(client, reverse("profiles:directory") + "?q=listed&sector=cloud") == SEARCH_BUDGET[kind]


def two_hop_star(n: int) -> Institution:
    """A centre with `n` direct ties, each neighbour tied to one more institution (bulk-built)."""
    published_at = timezone.now() - datetime.timedelta(days=2)
    tag = uuid.uuid4().hex[:6]
    center = InstitutionFactory(name=f"Star {tag}", slug=f"star-{tag}")
    rows = Institution.objects.bulk_create(
        [Institution(name=f"Star {tag} node {k}", slug=f"star-{tag}-{k}", status=Institution.Status.PUBLISHED,
                     published_at=published_at, public_updated_at=published_at) for k in range(2 * n)]
    )
    near, far = rows[:n], rows[n:]
    Relationship.objects.bulk_create(
        [Relationship(source=center, target=a, kind=Relationship.Kind.DEPENDS_ON,
                      review_state=Relationship.Review.APPROVED) for a in near]
        + [Relationship(source=b, target=a, kind=Relationship.Kind.PARTNER,
                        review_state=Relationship.Review.APPROVED) for a, b in zip(near, far, strict=True)]
    )
    return center


@pytest.mark.parametrize("kind", ["anonymous", "member"])
def test_map_page_holds_one_bound_at_1_and_200_ties(client, kind, django_assert_max_num_queries):
    client = reader_client(client, kind)
    for n in SIZES:
        url = reverse("profiles:map", args=[two_hop_star(n).slug])
        assert counted(client, url) <= MAP_BUDGET[kind]
        with django_assert_max_num_queries(MAP_BUDGET[kind]):
            body = text(client.get(url))
        assert svg_of(body).count("<circle") == (1 + 2 * n if n < graph.FANOUT_CAP else 1 + 2 * graph.FANOUT_CAP)
