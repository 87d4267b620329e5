from django.urls import path

from . import watch_views

app_name = "watch"

urlpatterns = [
    path("", watch_views.WatchlistView.as_view(), name="list"),
    path("digests/", watch_views.DigestSettingsView.as_view(), name="settings"),
    path("unsubscribe/<str:token>/", watch_views.UnsubscribeView.as_view(), name="unsubscribe"),
]
