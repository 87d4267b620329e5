from django.contrib import admin
from django.urls import include, path

from profiles import views as profile_views

urlpatterns = [
    path("", profile_views.HomeView.as_view(), name="home"),
    path("profiles/", include("profiles.urls")),
    path("membership/", include("membership.urls")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("healthz", profile_views.healthz, name="healthz"),
]

handler404 = "profiles.views.page_not_found"
handler500 = "profiles.views.server_error"
