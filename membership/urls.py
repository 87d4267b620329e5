from django.urls import path

from . import views

app_name = "membership"

urlpatterns = [
    path("", views.TiersView.as_view(), name="tiers"),
    path("apply/", views.ApplyView.as_view(), name="apply"),
]
