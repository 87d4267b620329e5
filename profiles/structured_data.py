"""Link previews and structured data for a profile, built only from public fields.

`<title>`, meta description, canonical URL, OpenGraph and Twitter card tags, and JSON-LD:
schema.org `Organization` for the institution and a `WebPage` for the profile with
`isAccessibleForFree: false` and a `hasPart` pointing at the gated briefing's CSS class,
the way search engines expect member content to be marked.
"""

from __future__ import annotations

import json

from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

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


def link_preview(institution, request, *, site_name: str) -> dict:
    """The values of the page's <title>, description, canonical, OpenGraph and Twitter tags."""
    url = request.build_absolute_uri(institution.get_absolute_url())
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
            "article:modified_time": institution.last_updated.isoformat() if institution.last_updated else "",
        },
        "twitter": {
            "twitter:card": "summary",
            "twitter:title": institution.name,
            "twitter:description": summary,
        },
    }


def json_ld(institution, request, *, site_name: str, has_gated_part: bool) -> SafeString:
    """A `<script type="application/ld+json">` block (data, not code: CSP does not run it)."""
    url = request.build_absolute_uri(institution.get_absolute_url())
    organization = {
        "@type": "Organization",
        "@id": f"{url}#institution",
        "name": institution.name,
        "description": description(institution),
        "url": url,
        "additionalProperty": [
            {"@type": "PropertyValue", "name": "Type", "value": institution.get_type_display()},
            {"@type": "PropertyValue", "name": "Base", "value": institution.get_base_region_display()},
            {"@type": "PropertyValue", "name": "Profile focus", "value": institution.profile_focus},
            {
                "@type": "PropertyValue",
                "name": "Operational criticality",
                "value": institution.get_criticality_display(),
            },
            {"@type": "PropertyValue", "name": "Time horizon", "value": institution.get_time_horizon_display()},
        ],
    }
    page = {
        "@type": "WebPage",
        "@id": url,
        "url": url,
        "name": institution.name,
        "headline": institution.name,
        "description": description(institution),
        "about": {"@id": f"{url}#institution"},
        "publisher": {"@type": "Organization", "name": site_name},
        "isAccessibleForFree": not has_gated_part,
    }
    if institution.published_at:
        page["datePublished"] = institution.published_at.isoformat()
    if institution.last_updated:
        page["dateModified"] = institution.last_updated.isoformat()
    if has_gated_part:
        page["hasPart"] = {
            "@type": "WebPageElement",
            "isAccessibleForFree": False,
            "cssSelector": f".{GATED_SECTION_CLASS}",
        }
    data = {"@context": "https://schema.org", "@graph": [organization, page]}
    text = json.dumps(data, ensure_ascii=False, sort_keys=True).translate(_JSON_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', SafeString(text))
