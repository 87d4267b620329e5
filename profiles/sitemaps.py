"""The sitemap and robots.txt: published profiles only; private areas disallowed. Every address in
them is on the site's configured address (`siteurl`), never the request's Host or a stale Sites row."""

from django.contrib.sitemaps import Sitemap
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

import siteurl

from .models import Institution


class SiteSitemap(Sitemap):
    """A sitemap whose URLs are on `siteurl`'s scheme and host, whatever the view passes in (Django's
    sitemap view offers the Sites row and the request's scheme)."""

    def get_protocol(self, protocol=None):
        return siteurl.scheme()

    def get_domain(self, site=None):
        return siteurl.domain()


class InstitutionSitemap(SiteSitemap):
    changefreq = "weekly"
    priority = 0.7
    limit = 10_000

    def items(self):
        return Institution.objects.published().only("slug", "public_updated_at", "published_at").order_by("pk")

    def lastmod(self, obj):
        return obj.last_updated


class StaticSitemap(SiteSitemap):
    changefreq = "daily"
    priority = 0.5

    def items(self):
        return ["home", "profiles:directory", "membership:tiers"]

    def location(self, item):
        return reverse(item)


SITEMAPS = {"profiles": InstitutionSitemap, "pages": StaticSitemap}

DISALLOWED = ["/admin/", "/accounts/", "/watchlist/", "/membership/apply/"]


@require_GET
@cache_control(max_age=86400, public=True)
def robots_txt(request):
    lines = ["User-agent: *", *[f"Disallow: {path}" for path in DISALLOWED]]
    lines.append(f"Sitemap: {siteurl.absolute(reverse('sitemap'))}")
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")
