from django.urls import path

from . import views

app_name = "membership"

urlpatterns = [
    path("", views.TiersView.as_view(), name="tiers"),
    path("apply/", views.ApplyView.as_view(), name="apply"),
    path("api-tokens/", views.ApiTokensView.as_view(), name="api_tokens"),
    path("api-tokens/<int:pk>/revoke/", views.RevokeApiTokenView.as_view(), name="revoke_api_token"),
]
