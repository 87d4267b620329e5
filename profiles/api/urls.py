"""`/api/v1/`: one router for the resources, the change stream beside them."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import changes, dump_views, token_scheme, views  # noqa: F401 - token_scheme: the schema's bearer scheme

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
    path("dumps/", dump_views.DumpManifestView.as_view(), name="dump-manifest"),
    path("dumps/<str:stamp>/<str:name>", dump_views.DumpFileView.as_view(), name="dump-file"),
    *router.urls,
]
