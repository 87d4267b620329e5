"""Who may call the read API, and how often: bearer-token authentication and per-reader rate limits.

Wired into settings.REST_FRAMEWORK (DEFAULT_AUTHENTICATION_CLASSES, DEFAULT_THROTTLE_CLASSES). A token
authenticates its owner; what they then read is `readers.member_reader(owner)` — their memberships'
level read afresh on every request, never staff sight — so a lapsed membership or a revoked token
counts from the very next request.
"""

from __future__ import annotations

import math
import time

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.throttling import BaseThrottle

from . import tokens
from .models import ApiToken


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer btw_<prefix>_<secret>` → (owner, ApiToken).

    No Authorization header, or another scheme, is no answer (None): the next class (the session) or
    anonymity decides. A bearer token that opens nothing is a 401 with its reason, never anonymity:
    a client whose token stopped working must be told, not silently served the public tier.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: send “Authorization: Bearer <token>”, with one token."
            )
        try:
            text = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Malformed API token: it must be plain ASCII.") from None
        try:
            token = tokens.authenticate(text)
        except tokens.InvalidToken as error:
            raise exceptions.AuthenticationFailed(str(error)) from None
        tokens.touch(token)
        return token.owner, token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


# --- rate limits -----------------------------------------------------------------------------------------

#: Period names a rate may use ("600/min", "60/m", "5000/hour", "10/s"), by their first letter.
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DISABLED = {"", "0", "off", "none"}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """`"600/min"` → (600, 60); None when the limit is off ("0", "off", empty)."""
    text = (rate or "").strip().lower()
    if text in DISABLED:
        return None
    count, _, period = text.partition("/")
    if not count.isdigit() or not period or period[0] not in PERIODS:
        raise ImproperlyConfigured(f"API rate {rate!r}: expected <requests>/<s|min|hour|day>, or 0/off.")
    if int(count) == 0:
        return None
    return int(count), PERIODS[period[0]]


def client_ip(request) -> str:
    """The client's address as allauth's sign-in rate limits see it: REMOTE_ADDR, unless
    ALLAUTH_TRUSTED_PROXY_COUNT / ALLAUTH_TRUSTED_CLIENT_IP_HEADER say which proxy header to trust.
    Never DRF's own guess, which believes any X-Forwarded-For a client sends."""
    try:
        return get_adapter(request).get_client_ip(request)
    except PermissionDenied:  # no address at all: such clients share one counter
        return "unknown"


class ReaderRateThrottle(BaseThrottle):
    """A fixed-window counter per token (token requests), per user (session requests) or per client IP
    (anonymous), in the default cache: shared by every process through Redis when REDIS_URL is set.

    Rates: settings.BTW_API_RATE_TOKEN for tokens and signed-in sessions, BTW_API_RATE_ANONYMOUS for
    everyone else. `cache.add` starts a window's counter and `cache.incr` counts — both single atomic
    operations in Redis. A cache that cannot count (Redis away) lets the request through: the API
    stays up, unthrottled, rather than failing every reader.
    """

    def allow_request(self, request, view):
        self._wait = None
        ident, rate = self.ident_and_rate(request)
        parsed = parse_rate(rate)
        if parsed is None:
            return True
        limit, period = parsed
        now = time.time()
        window = int(now // period)
        key = f"api-rate:{ident}:{period}:{window}"
        count = self._count(key, timeout=period)
        if count is None or count <= limit:
            return True
        self._wait = (window + 1) * period - now
        return False

    def wait(self):
        return math.ceil(self._wait) if self._wait is not None else None

    def ident_and_rate(self, request) -> tuple[str, str]:
        if isinstance(request.auth, ApiToken):
            return f"token:{request.auth.pk}", settings.BTW_API_RATE_TOKEN
        user = request.user
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}", settings.BTW_API_RATE_TOKEN
        return f"ip:{client_ip(request)}", settings.BTW_API_RATE_ANONYMOUS

    @staticmethod
    def _count(key: str, *, timeout: int) -> int | None:
        """This request's number in its window, or None when the cache could not count it."""
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key)
        except ValueError:  # expired or evicted between add and incr (or no cache): start it again
            if cache.add(key, 1, timeout=timeout):
                return 1
        try:
            return cache.incr(key)  # another process started it first
        except ValueError:
            return None
