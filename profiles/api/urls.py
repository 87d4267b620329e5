"""`/api/v1/`: one router for the resources, the change stream beside them."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import changes, views

app_name = "api"

router = SimpleRouter(trailing_slash=True)
router.register("institutions", views.InstitutionViewSet, basename="institution")
router.register("evidence", views.EvidenceViewSet, basename="evidence")
router.register("relationships", views.RelationshipViewSet, basename="relationship")
router.register("watchpoints", views.WatchpointViewSet, basename="watchpoint")
router.register("timeline", views.TimelineViewSet, basename="timeline")
router.register("sectors", views.SectorViewSet, basename="sector")
router.register("tiers", views.TierViewSet, basename="tier")

urlpatterns = [
    path("changes/", changes.ChangesView.as_view(), name="changes"),
    *router.urls,
]
