"""HTTP for every response: the Permissions-Policy header and /favicon.ico.

Compression and revalidation are Django's (GZipMiddleware, ConditionalGetMiddleware, see MIDDLEWARE in
settings); the page cache stores each anonymous page gzipped once with its ETag (profiles/cache.py).
"""

import functools

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import Http404, HttpResponse

#: Powerful features no page here uses, denied to the page and to anything it embeds. Only features
#: Chromium knows: an unknown one (FLoC's retired `interest-cohort`) is logged as a console error on
#: every page, which Lighthouse counts against best practices; `browsing-topics` is its successor.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "serial",
        "usb",
    )
)

FAVICON_MAX_AGE = 24 * 60 * 60


class PermissionsPolicyMiddleware:
    """Adds `Permissions-Policy` to every response (static files, redirects and 304s included) that
    has none; placed right after SecurityMiddleware, before whitenoise answers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


@functools.cache
def _favicon() -> bytes:
    """static/favicon.ico: from the collected files in production, from the source tree otherwise."""
    if staticfiles_storage.exists("favicon.ico"):
        with staticfiles_storage.open("favicon.ico") as icon:
            return icon.read()
    found = finders.find("favicon.ico")
    if not found:
        raise Http404("No favicon")
    with open(found, "rb") as icon:
        return icon.read()


def favicon(request):
    """/favicon.ico, where browsers and crawlers look whatever the page links: the icon itself (200),
    not a redirect; base.html links the hashed static copies."""
    response = HttpResponse(_favicon(), content_type="image/x-icon")
    response["Cache-Control"] = f"public, max-age={FAVICON_MAX_AGE}"
    return response
