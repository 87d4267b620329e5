from django.urls import path

from . import views, watch_views

app_name = "profiles"

urlpatterns = [
    path("", views.DirectoryView.as_view(), name="directory"),
    path("<slug:slug>/", views.InstitutionDetailView.as_view(), name="detail"),
    path("<slug:slug>/map/", views.InstitutionMapView.as_view(), name="map"),
    path("<slug:slug>/follow/", watch_views.FollowView.as_view(), name="follow"),
]
