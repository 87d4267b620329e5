"""HTTP caching of API responses, like the pages': an ETag answered with 304 before any query, and
Cache-Control that lets shared caches keep only what an anonymous reader gets.

The ETag names what a response is computed from: the content version (`profiles.cache`, moved by
every change readers could see and by a scheduled profile going live), what opens to the reader
(`Reader.render_key`; a reader who may hold object grants adds their id), and the request's path
and query. So a conditional request costs one cache round trip and no query when nothing changed.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.http import parse_etags

from membership.gating import Reader

from ..cache import versioned_get_many


def etag_for(request, reader: Reader) -> str:
    version, _, _ = versioned_get_many([])
    grants = reader.user.pk if reader.is_authenticated and reader.may_hold_grants else ""
    accept = request.META.get("HTTP_ACCEPT", "")
    key = f"{version}|{reader.render_key}|{grants}|{request.get_full_path()}|{accept}"
    return f'W/"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'


def matches(request, etag: str) -> bool:
    """Whether If-None-Match names this ETag (weak comparison, as RFC 9110 asks for GET).

    `*` ("any current representation") is not answered here: before any query it is not known whether
    the object exists or the parameters parse, and a 404 or 400 must not become a 304 (RFC 9110 13.2.1).
    Such a request gets the full answer."""
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    wanted = {tag.removeprefix("W/") for tag in parse_etags(header)}
    return etag.removeprefix("W/") in wanted


def patch_response(response, reader: Reader, etag: str | None) -> None:
    if etag and response.status_code in (200, 304):
        response["ETag"] = etag
    if response.status_code not in (200, 304, 404):
        patch_cache_control(response, no_store=True)  # errors and limits: for this request only
    elif reader.is_authenticated:
        patch_cache_control(response, private=True, max_age=0)
    else:
        patch_cache_control(response, public=True, max_age=settings.BTW_PAGE_SHARED_MAX_AGE)
    patch_vary_headers(response, ["Authorization", "Cookie", "Accept"])
