from django.urls import path

from . import changelog_views, directory, views, watch_views
from .cache import by_profile, cache_anonymous_page

app_name = "profiles"

#: What the directory reads from its query string (its filters, the text query, the page): its page-cache key.
DIRECTORY_PARAMS = (*directory.FILTER_PARAMS, "q", views.DirectoryView.page_kwarg)

urlpatterns = [
    path("", cache_anonymous_page(views.DirectoryView.as_view(), params=DIRECTORY_PARAMS), name="directory"),
    path("<slug:slug>/", cache_anonymous_page(views.InstitutionDetailView.as_view(), tags=by_profile), name="detail"),
    path(
        "<slug:slug>/map/",
        cache_anonymous_page(views.InstitutionMapView.as_view(), params=("page",), tags=by_profile),
        name="map",
    ),
    path(
        "<slug:slug>/changes/",
        cache_anonymous_page(changelog_views.changes_page, params=("page",), tags=by_profile),
        name="changes",
    ),
    path("<slug:slug>/follow/", watch_views.FollowView.as_view(), name="follow"),
    path("<slug:slug>/follow/sign-in/", watch_views.FollowSignInView.as_view(), name="follow_sign_in"),
]
