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

The whole page is kept too, per variant (`SHELL`): the parts laid out by the page's templates, with
holes for the three things that are per request — the CSRF token of its forms, the follow control
and messages (`fill`; a request with messages is rendered in full and never kept). A signed-in
reader's page then costs one cache round trip and no template work: 3.0 → 1.6 ms of CPU in-process,
3.3 → 2.1 ms per request in gunicorn (bench/serve_bench.py, member page; the follow control included).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.http import QueryDict
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

import siteurl
from membership.gating import Reader, granted_object_pks, reader_for_request

from . import structured_data, watch
from .cache import entries_of, store_versioned, versioned_get_many
from .dependencies import page_tags
from .models import Briefing, Institution
from .profile_page import build_profile_page, with_profile_lists

#: The parts of a profile page, each a template under profiles/profile/.
PARTS = ("head", "top", "body")
#: The whole page, parts and layout, with holes for what is per request: cached per reader variant.
SHELL = "page"
#: The holes of a cached page, filled on every request (`fill`): the CSRF token of the page's forms and
#: the follow control. A NUL never comes out of the database (PostgreSQL refuses it in text), so no
#: profile text can forge a hole; were one forged, it would show this reader their own token or control.
CSRF_HOLE = "\x00btw-csrf\x00"
FOLLOW_HOLE = "\x00btw-follow\x00"


def cache_timeout() -> int:
    """Seconds a profile's row and parts stay cached; 0 turns the profile page's caching off."""
    return settings.BTW_FRAGMENT_CACHE_TIMEOUT


@dataclass(frozen=True)
class CachedProfile:
    """What one cache round trip returned for one profile page and reader."""

    #: The profile's row (any status: the view decides who may open it); None on a miss.
    institution: Institution | None
    #: Cache key of each part and of the whole page for this reader; empty when never cached.
    part_keys: dict[str, str]
    #: The parts found in the cache, by name (fetched only when the whole page was not).
    parts: dict[str, str]
    record_key: str
    version: tuple
    #: The reader's cached followed profiles (`watch.followed_ids`), fetched in the same round trip.
    follows: dict | None = None
    #: This reader variant's whole page with its holes (`fill`), when cached.
    shell: str | None = None

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
    """The profile's row and this reader's whole page (else the parts it is made of), with the
    member's followed profiles: one cache round trip when the page is cached, two when it is not."""
    base = f"btw:profile:{slug}"
    record_key = f"{base}:record"
    part_keys = {}
    if not reader.is_staff:
        key = variant(reader, request)
        site = site_key()
        part_keys = {
            "head": f"{base}:head:{site}",
            "top": f"{base}:top:{key}",
            "body": f"{base}:body:{key}",
            SHELL: f"{base}:{SHELL}:{key}:{site}",
        }
    follow_keys = watch.follow_cache_keys(reader.user.pk) if watch.may_follow(reader) else []
    if not cache_timeout():
        return CachedProfile(None, {}, {}, record_key, 0)
    first = [record_key, part_keys[SHELL]] if part_keys else [record_key]
    version, found, follows = versioned_get_many(first, plain=follow_keys, tags=page_tags(slug))
    shell = found.get(part_keys[SHELL]) if part_keys else None
    parts = {}
    if part_keys and shell is None:
        found_parts = entries_of([part_keys[name] for name in PARTS], version)
        parts = {name: found_parts[part_keys[name]] for name in PARTS if part_keys[name] in found_parts}
    follows = follows if follow_keys else None
    return CachedProfile(found.get(record_key), part_keys, parts, record_key, version, follows, shell)


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


def pending_messages(request) -> bool:
    """Whether the request carries messages to show (they are never part of a cached page)."""
    return bool(len(messages.get_messages(request)))


def fill(shell: str, request, follow_html: str) -> str:
    """A page with its holes filled for this request: their follow control, then the reader's CSRF
    token in every form (asked for only when the page has one, so a page without a form sets no
    CSRF cookie)."""
    html = shell.replace(FOLLOW_HOLE, follow_html)
    return html.replace(CSRF_HOLE, get_token(request)) if CSRF_HOLE in html else html


def render_page(cached: CachedProfile, template: str, context: dict, request) -> str:
    """The page with its holes, rendered from `context` (which fills the parts), and kept for this
    reader variant when it may be: not for staff, and not with messages on it (shown once)."""
    context = {**context, "csrf_token": CSRF_HOLE, "follow_html": mark_safe(FOLLOW_HOLE)}  # noqa: S308 - our own hole
    keep = SHELL in cached.part_keys and cache_timeout() and not pending_messages(request)
    shell = render_to_string(template, context, request=shared_request(request))
    if keep:
        store_versioned(cached.part_keys[SHELL], cached.version, shell, cache_timeout())
    return shell
