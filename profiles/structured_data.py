"""Link previews and structured data, built only from public fields and the configured site URL.

`<title>`, meta description, canonical URL, OpenGraph and Twitter card tags, and JSON-LD:
schema.org `Organization` for the institution and a `WebPage` for the profile with
`isAccessibleForFree: false` and a `hasPart` pointing at the gated briefing's CSS class,
the way search engines expect member content to be marked. Every property is one schema.org
allows on its type (tests/test_structured_data.py checks them against the vocabulary).

Every absolute URL comes from `siteurl` (`DJANGO_SITE_URL`), never from a request: the profile's
head tags are rendered once and shared by every reader, so a Host header must not reach them.
Pages without their own preview get the site's (`site_preview`): the site card image, the page's
address, the site's name.
"""

from __future__ import annotations

import json

from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

import siteurl

#: CSS class of a member briefing block on the profile page (gated content marker).
GATED_SECTION_CLASS = "member-briefing"
DESCRIPTION_CHARS = 200
_JSON_ESCAPES = {ord(">"): "\\u003E", ord("<"): "\\u003C", ord("&"): "\\u0026"}


def description(institution) -> str:
    """The dek on one line, cut to DESCRIPTION_CHARS with an ellipsis (only a long dek needs cutting)."""
    text = " ".join(institution.dek.split())
    return text if len(text) <= DESCRIPTION_CHARS else Truncator(text).chars(DESCRIPTION_CHARS)


def page_title(institution, *, site_name: str) -> str:
    return f"{institution.name} — {site_name}"


#: The default link-preview image (static/img/site-card.png): its size and what it shows.
SITE_CARD_PATH = "img/site-card.png"
SITE_CARD_WIDTH, SITE_CARD_HEIGHT = 1200, 630
SITE_CARD_ALT = "BTW Profiles — intelligence profiles of the internet's infrastructure"


def _absolute(url: str) -> str:
    """A path on the site, or an address already absolute (static files on a CDN), as an absolute URL."""
    return url if url.startswith(("http://", "https://")) else siteurl.absolute(url)


def site_card() -> dict:
    """The site card's OpenGraph tags: the image every page shows when shared, with its size and text."""
    return {
        "og:image": _absolute(static(SITE_CARD_PATH)),
        "og:image:type": "image/png",
        "og:image:width": str(SITE_CARD_WIDTH),
        "og:image:height": str(SITE_CARD_HEIGHT),
        "og:image:alt": SITE_CARD_ALT,
    }


def site_preview(path: str, *, canonical_url: str = "", title: str = "") -> dict:
    """The OpenGraph and Twitter tags of a page without its own preview (home, directory, tiers, account…).

    `og:url` is the page's canonical URL when it has one, else its path on the configured site.
    """
    name = siteurl.name()
    return {
        "og": {
            "og:type": "website",
            "og:title": title or name,
            "og:url": canonical_url or siteurl.absolute(path),
            "og:site_name": name,
            **site_card(),
        },
        "twitter": {"twitter:card": "summary_large_image"},
    }


def link_preview(institution, *, site_name: str | None = None) -> dict:
    """The values of the page's <title>, description, canonical, OpenGraph and Twitter tags."""
    site_name = site_name or siteurl.name()
    url = siteurl.absolute(institution.get_absolute_url())
    title = page_title(institution, site_name=site_name)
    summary = description(institution)
    return {
        "title": title,
        "description": summary,
        "canonical": url,
        "og": {
            "og:type": "article",
            "og:title": institution.name,
            "og:description": summary,
            "og:url": url,
            "og:site_name": site_name,
            **site_card(),
            "article:modified_time": institution.last_updated.isoformat() if institution.last_updated else "",
        },
        "twitter": {
            "twitter:card": "summary_large_image",
            "twitter:title": institution.name,
            "twitter:description": summary,
        },
    }


def identifier_properties(identifiers) -> dict:
    """The organisation's ids in other datasets: `sameAs` lists the pages that describe it (Wikidata,
    PeeringDB, GLEIF, its website), `identifier` each id as a `PropertyValue` named by its scheme
    ("ASN", "LEI", "Wikidata", "PeeringDB network"…). The website is an address, not an id."""
    identifiers = list(identifiers)
    if not identifiers:
        return {}
    website = type(identifiers[0]).Scheme.WEBSITE
    properties = {"sameAs": list(dict.fromkeys(i.url for i in identifiers))}
    ids = [
        {"@type": "PropertyValue", "propertyID": i.get_scheme_display(), "value": i.value, "url": i.url}
        for i in identifiers
        if i.scheme != website
    ]
    if ids:
        properties["identifier"] = ids
    return properties


def json_ld(
    institution, *, site_name: str | None = None, has_gated_part: bool, identifiers=(), corrections=()
) -> SafeString:
    """A `<script type="application/ld+json">` block (data, not code: CSP does not run it).

    The facts of the profile's "at a glance" box that schema.org has a property for: the base
    region as the organisation's `location` (none for "Global"), its type and focus as the page's
    `keywords`, its identifiers (`identifier_properties`). Criticality and time horizon are the
    newsroom's assessments, not facts about the organisation, and schema.org has no property for
    them: they stay on the page only.

    The page carries its public "last updated" date (`dateModified`), the last time an analyst
    confirmed its sections still hold (`lastReviewed`), and its corrections as `CorrectionComment`s
    (`correction`, newest first), each note as readers see it on the page.
    """
    site_name = site_name or siteurl.name()
    url = siteurl.absolute(institution.get_absolute_url())
    organization = {
        "@type": "Organization",
        "@id": f"{url}#institution",
        "name": institution.name,
        "description": description(institution),
        "url": url,
    }
    if institution.base_region != type(institution).Region.GLOBAL:
        organization["location"] = {"@type": "Place", "name": institution.get_base_region_display()}
    organization.update(identifier_properties(identifiers))
    keywords = [institution.get_type_display(), institution.profile_focus]
    page = {
        "@type": "WebPage",
        "@id": url,
        "url": url,
        "name": institution.name,
        "headline": institution.name,
        "description": description(institution),
        "keywords": ", ".join(dict.fromkeys(k for k in keywords if k)),
        "about": {"@id": f"{url}#institution"},
        "image": site_card()["og:image"],
        "publisher": {"@type": "Organization", "name": site_name, "url": siteurl.absolute("/")},
        "isAccessibleForFree": not has_gated_part,
    }
    if institution.published_at:
        page["datePublished"] = institution.published_at.isoformat()
    if institution.last_updated:
        page["dateModified"] = institution.last_updated.isoformat()
    if institution.last_verified_at:
        page["lastReviewed"] = institution.last_verified_at.isoformat()
    if corrections:
        page["correction"] = [
            {"@type": "CorrectionComment", "text": c.note, "datePublished": c.published_at.isoformat()}
            for c in corrections
        ]
    if has_gated_part:
        page["hasPart"] = {
            "@type": "WebPageElement",
            "isAccessibleForFree": False,
            "cssSelector": f".{GATED_SECTION_CLASS}",
        }
    data = {"@context": "https://schema.org", "@graph": [organization, page]}
    text = json.dumps(data, ensure_ascii=False, sort_keys=True).translate(_JSON_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', SafeString(text))
