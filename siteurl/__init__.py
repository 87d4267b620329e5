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
    return urlsplit(base()).scheme


def name() -> str:
    return settings.SITE_NAME
