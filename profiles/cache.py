"""Shared cache of anonymous public renders, invalidated by one content version key.

Only requests that cannot depend on the reader are served from here: anonymous, no session
or messages cookie, GET/HEAD, no staff preview switch. Responses that set a cookie (a CSRF
token, a session) are never stored. Any change readers could see — a save or delete of a
profile model, a moderation decision, a scheduled profile's publication time passing — bumps
the version, so every process sharing the cache (Redis in production) stops serving the old
renders at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from functools import wraps

from django.core.cache import cache
from django.http import HttpResponse
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers

VERSION_KEY = "btw:content-version"
SCHEDULE_KEY = "btw:next-publication:{version}"
PAGE_KEY = "btw:page:{version}:{digest}"
PAGE_TIMEOUT = 60 * 60
SHARED_MAX_AGE = 60  # seconds a downstream shared cache may keep an anonymous public page
BYPASS_PARAMS = ("as_tier",)
_NO_SCHEDULE = 0.0


def content_version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, secrets.randbits(62))
        version = cache.get(VERSION_KEY)
    return int(version)


def bump_content_version(**_signal_kwargs) -> None:
    """Invalidate every cached public render (signal receiver and plain function)."""
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # key missing or evicted: any fresh value differs from what pages were stored under
        cache.set(VERSION_KEY, secrets.randbits(62), timeout=None)


def _current_version() -> int:
    """The version, bumped first if a scheduled profile has come due since it was set."""
    version = content_version()
    key = SCHEDULE_KEY.format(version=version)
    due = cache.get(key)
    if due is None:
        from .models import Institution

        upcoming = (
            Institution.objects.filter(status=Institution.Status.PUBLISHED, published_at__gt=timezone.now())
            .order_by("published_at")
            .values_list("published_at", flat=True)
            .first()
        )
        due = upcoming.timestamp() if upcoming else _NO_SCHEDULE
        cache.set(key, due, timeout=PAGE_TIMEOUT)
    if due and time.time() >= due:
        bump_content_version()
        version = content_version()
    return version


def _is_shareable(request) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    from django.conf import settings

    if settings.SESSION_COOKIE_NAME in request.COOKIES or "messages" in request.COOKIES:
        return False
    if any(param in request.GET for param in BYPASS_PARAMS):
        return False
    return not request.user.is_authenticated


def _key(request, version: int) -> str:
    digest = hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()[:32]
    return PAGE_KEY.format(version=version, digest=digest)


def cache_anonymous_page(view):
    """Serve anonymous public renders from the shared cache; everyone else gets a fresh render."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not _is_shareable(request):
            return view(request, *args, **kwargs)
        key = _key(request, _current_version())
        hit = cache.get(key)
        if hit is not None:
            status, content_type, content = hit
            response = HttpResponse(content, content_type=content_type, status=status)
            response["X-Page-Cache"] = "hit"
        else:
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and callable(response.render):
                response = response.render()
            if response.status_code == 200 and not response.cookies and not response.streaming:
                cache.set(key, (response.status_code, response["Content-Type"], response.content), PAGE_TIMEOUT)
                response["X-Page-Cache"] = "miss"
            else:
                return response
        patch_cache_control(response, public=True, max_age=SHARED_MAX_AGE)
        patch_vary_headers(response, ["Cookie"])
        return response

    return wrapped
