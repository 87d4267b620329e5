from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from btwprofiles.http import favicon
from membership.views import staff_login_redirect
from profiles import feeds
from profiles import views as profile_views
from profiles.api import dump_views
from profiles.api.docs import api_docs
from profiles.cache import by_profile, cache_anonymous_page
from profiles.sitemaps import SITEMAPS, robots_txt

# The admin has no login form of its own: staff sign in through allauth (rate limits, MFA).
# Assigned before `admin.site.urls` is read, which binds `admin.site.login` into its URLs.
admin.site.login = staff_login_redirect

urlpatterns = [
    path("", cache_anonymous_page(profile_views.HomeView.as_view()), name="home"),
    path("profiles/", include("profiles.urls")),
    path("membership/", include("membership.urls")),
    path("watchlist/", include("profiles.watch_urls")),
    path("feeds/profiles/", cache_anonymous_page(feeds.ProfileUpdatesFeed()), name="feed_rss"),
    path("feeds/profiles/atom/", cache_anonymous_page(feeds.ProfileUpdatesAtomFeed()), name="feed_atom"),
    path(
        "feeds/profiles/<slug:slug>/",
        cache_anonymous_page(feeds.InstitutionFeed(), tags=by_profile),
        name="feed_profile",
    ),
    path("feeds/sectors/<slug:slug>/", cache_anonymous_page(feeds.SectorFeed()), name="feed_sector"),
    # Django's sitemap view reads one parameter: the page (`p`) of a long sitemap.
    path("sitemap.xml", cache_anonymous_page(sitemap, params=("p",)), {"sitemaps": SITEMAPS}, name="sitemap"),
    path("robots.txt", robots_txt, name="robots_txt"),
    path("favicon.ico", favicon, name="favicon"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", profile_views.healthz, name="healthz"),
    path("api/v1/", include("profiles.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", api_docs, name="api_docs"),
    path("data/", dump_views.data_page, name="data"),
    path("data/<str:stamp>/<str:name>", dump_views.data_file, name="data_file"),
]

# The admin's look under /admin/, the site's everywhere else (btwprofiles/errors.py).
handler403 = "btwprofiles.errors.permission_denied"
handler404 = "btwprofiles.errors.page_not_found"
handler500 = "btwprofiles.errors.server_error"
