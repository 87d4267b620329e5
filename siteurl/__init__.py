"""The site's one public address and name: every absolute URL anyone outside sees is built here.

Sitemap, feeds, robots.txt, canonical links, `og:url`, JSON-LD and every e-mail take their address
from `settings.SITE_URL` (`DJANGO_SITE_URL`), never from a request's Host header: a render shared
between readers then holds the same address whoever asked first, and a forged Host changes nothing.
The Sites framework's row follows the setting after every `migrate` (`siteurl.apps`).

The lowest layer: it imports no app of this project, and every app may import it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def checked(url: str) -> str:
    """`url` as the site's origin (no trailing slash) when it is one: `http` or `https`, a host with an
    optional port, nothing after it; otherwise ImproperlyConfigured, so a bad address stops start-up
    instead of going out in every link. Settings pass `DJANGO_SITE_URL` through it."""
    parts = urlsplit(url.strip())
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "?" in url
        or "#" in url
    ):
        raise ImproperlyConfigured(
            f"DJANGO_SITE_URL must be the site's origin, http(s)://host[:port] with no path, query or fragment "
            f"(e.g. https://profiles.example.org); got {url!r}."
        )
    return f"{parts.scheme}://{parts.netloc}"


def base() -> str:
    """The site's origin, e.g. `https://profiles.example.org` (no trailing slash)."""
    return settings.SITE_URL.rstrip("/")


def absolute(path: str) -> str:
    """`path` as `reverse()` or `get_absolute_url()` returns it (script prefix included), on the site's address."""
    return base() + (path if path.startswith("/") else "/" + path)


def domain() -> str:
    """The host (and port, when not the default) readers reach the site at."""
    return urlsplit(base()).netloc


def scheme() -> str:
    """`http` or `https`."""
    return urlsplit(base()).scheme


def name() -> str:
    """The site's name (`settings.SITE_NAME`), what e-mails and feeds call it."""
    return settings.SITE_NAME
