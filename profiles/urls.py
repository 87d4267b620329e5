from django.urls import path

from . import views, watch_views
from .cache import cache_anonymous_page

app_name = "profiles"

urlpatterns = [
    path("", cache_anonymous_page(views.DirectoryView.as_view()), name="directory"),
    path("<slug:slug>/", cache_anonymous_page(views.InstitutionDetailView.as_view()), name="detail"),
    path("<slug:slug>/map/", cache_anonymous_page(views.InstitutionMapView.as_view()), name="map"),
    path("<slug:slug>/follow/", watch_views.FollowView.as_view(), name="follow"),
]
