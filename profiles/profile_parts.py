"""The profile page's rendered parts, cached per reader variant: the one fragment layer of the site.

A profile page is three parts — the head tags, the header and the body — laid out by
`profiles/institution_detail.html` around what is per request (the follow control, the staff
preview bar). The view asks for everything a page needs in one cache round trip (`lookup`):
the content version, the profile's row and this reader's three parts. Parts found are used as
they are; missing ones are rendered here from the page object (`profile_page.build_profile_page`)
and stored under the version they were read in, so the next reader of the same variant costs no
list query and no template work. Staff previews are rendered fresh every time.

A variant is everything the parts show differently, and the parts are rendered from nothing else:
what they show of the reader is `Reader.render_key` (level, state, a pending application's date),
plus the briefings granted to them one by one; of the request, only its path (anonymous readers'
sign-in links come back to it) — the parts are rendered with the query string taken away
(`shared_request`), as the profile page understands no query parameter in a cached render (the staff
`as_tier` switch is for staff, whose parts are never cached), so `?utm=1…1000` share one entry.
The head tags are the same for every reader, keyed by the site's address and name (`site_key`).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.http import QueryDict
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

import siteurl
from membership.gating import Reader, granted_object_pks, reader_for_request

from . import structured_data, watch
from .cache import store_versioned, versioned_get_many
from .dependencies import page_tags
from .models import Briefing, Institution
from .profile_page import build_profile_page, with_profile_lists

#: The parts of a profile page, each a template under profiles/profile/.
PARTS = ("head", "top", "body")


def cache_timeout() -> int:
    """Seconds a profile's row and parts stay cached; 0 turns the profile page's caching off."""
    return settings.BTW_FRAGMENT_CACHE_TIMEOUT


@dataclass(frozen=True)
class CachedProfile:
    """What one cache round trip returned for one profile page and reader."""

    #: The profile's row (any status: the view decides who may open it); None on a miss.
    institution: Institution | None
    #: Cache key of each part for this reader; empty when this reader's parts are never cached.
    part_keys: dict[str, str]
    #: The parts found in the cache, by name.
    parts: dict[str, str]
    record_key: str
    version: tuple
    #: The reader's cached followed profiles (`watch.followed_ids`), fetched in the same round trip.
    follows: dict | None = None

    def followed_ids(self, user) -> frozenset[int]:
        """The profiles this reader follows, from the entries fetched with the page when cached."""
        return watch.followed_ids(user, self.follows)

    def remember(self, institution: Institution) -> None:
        """Store the profile's row under the version it was read in, for every reader after."""
        if cache_timeout():
            store_versioned(self.record_key, self.version, institution, cache_timeout())


def variant(reader: Reader, request) -> str:
    """What this reader's parts depend on, as a cache key part (see the module's docstring)."""
    grants = ",".join(str(pk) for pk in granted_object_pks(reader, Briefing)) if reader.is_authenticated else ""
    # The parts are rendered on the bare path (`shared_request`): the query string never reaches them.
    return hashlib.sha256(f"{reader.render_key}\n{grants}\n{request.path}".encode()).hexdigest()[:32]


def site_key() -> str:
    """What the head tags show of the site (its address and name), as a cache key part: a new
    `DJANGO_SITE_URL` never serves heads rendered for the old one from a cache that outlived a restart."""
    return hashlib.sha256(f"{siteurl.base()}\n{siteurl.name()}".encode()).hexdigest()[:16]


def shared_request(request):
    """`request` as a render shared between readers may see it: without its query string."""
    if not request.META.get("QUERY_STRING"):
        return request
    shared = copy.copy(request)
    shared.reader = reader_for_request(request)  # the reader of the request as it came, `as_tier` included
    shared.META = {**request.META, "QUERY_STRING": ""}
    shared.GET = QueryDict()
    return shared


def lookup(slug: str, reader: Reader, request) -> CachedProfile:
    """The profile's row and this reader's parts, with the member's followed profiles, in one round trip."""
    base = f"btw:profile:{slug}"
    record_key = f"{base}:record"
    part_keys = {}
    if not reader.is_staff:
        key = variant(reader, request)
        part_keys = {"head": f"{base}:head:{site_key()}", "top": f"{base}:top:{key}", "body": f"{base}:body:{key}"}
    follow_keys = watch.follow_cache_keys(reader.user.pk) if watch.may_follow(reader) else []
    if not cache_timeout():
        return CachedProfile(None, {}, {}, record_key, 0)
    version, found, follows = versioned_get_many(
        [record_key, *part_keys.values()], plain=follow_keys, tags=page_tags(slug)
    )
    parts = {name: found[key] for name, key in part_keys.items() if key in found}
    return CachedProfile(found.get(record_key), part_keys, parts, record_key, version, follows if follow_keys else None)


def render_parts(cached: CachedProfile, institution: Institution, reader: Reader, request, *, preview) -> dict:
    """This reader's head, header and body HTML: from the cache when all are there, else the page
    object is built (one query for its lists) and the missing parts are rendered and stored."""
    missing = [name for name in PARTS if name not in cached.parts]
    if not missing:
        return _safe(cached.parts)
    page = build_profile_page(with_profile_lists(institution, reader), reader)
    context = {
        "institution": institution,
        "page": page,
        "preview": preview,
        "is_public": institution.is_published(),
    }
    if "head" in missing:
        site_name = siteurl.name()
        context["link_preview"] = structured_data.link_preview(institution, site_name=site_name)
        # Any briefing, open to this reader or not: the page as published has a members-only part.
        context["json_ld"] = structured_data.json_ld(
            institution,
            site_name=site_name,
            has_gated_part=bool(page.briefings),
            identifiers=page.identifiers,
            corrections=page.corrections,
        )
    parts = dict(cached.parts)
    timeout = cache_timeout()
    shared = shared_request(request)
    for name in missing:
        html = render_to_string(f"profiles/profile/{name}.html", context, request=shared)
        parts[name] = html
        if timeout and cached.part_keys:
            store_versioned(cached.part_keys[name], cached.version, html, timeout)
    return _safe(parts)


def _safe(parts: dict[str, str]) -> dict[str, SafeString]:
    """Parts are our own renders (escaped when rendered), to be placed in the page as they are."""
    return {name: mark_safe(html) for name, html in parts.items()}  # noqa: S308 - rendered by us, escaped
