"""The sitemap and robots.txt: published profiles only; private areas disallowed."""

from django.contrib.sitemaps import Sitemap
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from .models import Institution


class InstitutionSitemap(Sitemap):
    changefreq = "weekly"
    priority = 0.7
    limit = 10_000

    def items(self):
        return Institution.objects.published().only("slug", "public_updated_at", "published_at").order_by("pk")

    def lastmod(self, obj):
        return obj.last_updated


class StaticSitemap(Sitemap):
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
    lines.append(f"Sitemap: {request.build_absolute_uri(reverse('sitemap'))}")
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain")
