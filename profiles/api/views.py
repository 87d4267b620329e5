"""The read API's endpoints: each resource's list and detail, gated like the pages.

Every view reads its rows through its `Resource` (what the reader may see, and what writing them
out loads), answers a conditional request with 304 before running a query (`conditional`), refuses
parameters it does not know, and resolves the citations of a whole page in one query.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from membership.gating import member_reader
from membership.models import Tier

from ..as_of import PARAM as AS_OF
from ..as_of import parse_as_of, profile_as_of
from ..models import Identifier, Sector
from . import as_of as as_of_api
from . import conditional, filters, resources, serializers
from .pagination import IdCursorPagination

#: Parameters every endpoint understands besides its filters.
COMMON_PARAMS = ("cursor", "page_size", "format")


class ReaderMixin:
    """The API's reader: who `member_reader` says the request's user is (a token's owner, a signed-in
    member, or anonymous), resolved once per request; never staff sight."""

    @property
    def reader(self):
        if not hasattr(self, "_reader"):
            self._reader = member_reader(self.request.user)
        return self._reader


class CachingHeadersMixin(ReaderMixin):
    """Responses carry the reader's Cache-Control and Vary, and the view's ETag when it set one
    (`conditional.patch_response`)."""

    etag = None

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        conditional.patch_response(response, self.reader, self.etag)
        return response


class DataLayerViewSet(CachingHeadersMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """A read-only resource: the reader's visible rows, filtered, in cursor pages of stable order."""

    resource: resources.Resource | None = None
    pagination_class = IdCursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = None
    #: Query parameters the endpoint reads besides its filters and the pages'.
    extra_params: tuple[str, ...] = ()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        known = {*COMMON_PARAMS, *self.extra_params}
        if self.filterset_class is not None and self.action == "list":
            known |= set(self.filterset_class.base_filters)
        filters.reject_unknown(request.query_params, known)
        self.etag = conditional.etag_for(request, self.reader)

    def get_queryset(self):
        return self.resource.rows(self.reader)

    def get_serializer_class(self):
        if self.action == "list" and self.resource.list_serializer:
            return self.resource.list_serializer
        return self.resource.serializer

    def get_serializer(self, *args, **kwargs):
        if args:
            objects = args[0] if kwargs.get("many") else [args[0]]
            whole = self.get_serializer_class() is self.resource.serializer
            kwargs["context"] = {**self.get_serializer_context(),
                                 **self.resource.context(self.reader, objects, whole=whole)}
        return super().get_serializer(*args, **kwargs)

    def list(self, request, *args, **kwargs):
        if conditional.matches(request, self.etag):
            return Response(status=304)
        return super().list(request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        if conditional.matches(request, self.etag):
            return Response(status=304)
        return super().retrieve(request, *args, **kwargs)


@extend_schema_view(
    list=extend_schema(summary="Published profiles", description="Filter like the directory, by an identifier "
                       "(`?asn=13335`, `?wikidata=Q95`), or by last public update; cursor pages in id order."),
)
class InstitutionViewSet(DataLayerViewSet):
    resource = resources.INSTITUTIONS
    lookup_field = "slug"
    filterset_class = filters.InstitutionFilter

    @property
    def extra_params(self):
        return (AS_OF,) if self.action == "retrieve" else ()

    @extend_schema(
        summary="One profile, whole (or as it stood on a day)",
        description="Its sections, FAQ, links and member briefings; a briefing above your tier comes as its "
        "title and tier only. With `as_of`, the profile as you could have read it at the end of that day "
        "(its evidence, timeline and open watchpoints included; sources withdrawn since as ids and dates).",
        parameters=[OpenApiParameter(AS_OF, OpenApiTypes.DATE, description="YYYY-MM-DD, today or earlier.")],
        responses={200: PolymorphicProxySerializer(
            "InstitutionDetailOrAsOf", [serializers.InstitutionDetailSerializer, as_of_api.AsOfProfileSerializer],
            resource_type_field_name=None)},
    )
    def retrieve(self, request, *args, **kwargs):
        if AS_OF not in request.query_params:
            return super().retrieve(request, *args, **kwargs)
        try:
            day = parse_as_of(request.query_params[AS_OF])
        except ValueError as error:
            raise ValidationError({AS_OF: [str(error)]}) from None
        if conditional.matches(request, self.etag):
            return Response(status=304)
        snapshot = profile_as_of(self.get_object(), day, self.reader)
        if snapshot is None:
            raise NotFound("This profile was not published on that day.")
        return Response(as_of_api.write(snapshot, self.reader))

    def get_queryset(self):
        if self.action == "retrieve":
            return super().get_queryset()
        # A list writes cards: sectors and identifiers, not the whole profile.
        return self.resource.visible(self.reader).only(*resources.INSTITUTION_CARD_FIELDS).prefetch_related(
            Prefetch("sectors", Sector.objects.only("pk", "slug")), Prefetch("identifiers", Identifier.objects.all())
        )


@extend_schema_view(
    list=extend_schema(summary="Evidence you may read",
                       description="Approved sources of published profiles, at or below your tier."),
    retrieve=extend_schema(summary="One evidence item"),
)
class EvidenceViewSet(DataLayerViewSet):
    resource = resources.EVIDENCE
    filterset_class = filters.EvidenceFilter


@extend_schema_view(
    list=extend_schema(summary="Approved relationships between published profiles"),
    retrieve=extend_schema(summary="One relationship"),
)
class RelationshipViewSet(DataLayerViewSet):
    resource = resources.RELATIONSHIPS
    filterset_class = filters.RelationshipFilter


@extend_schema_view(
    list=extend_schema(summary="Open watchpoints you may read"),
    retrieve=extend_schema(summary="One watchpoint"),
)
class WatchpointViewSet(DataLayerViewSet):
    resource = resources.WATCHPOINTS
    filterset_class = filters.WatchpointFilter


@extend_schema_view(
    list=extend_schema(summary="Timeline events of published profiles"),
    retrieve=extend_schema(summary="One timeline event"),
)
class TimelineViewSet(DataLayerViewSet):
    resource = resources.TIMELINE
    filterset_class = filters.TimelineFilter


@extend_schema_view(list=extend_schema(summary="Sectors"), retrieve=extend_schema(summary="One sector"))
class SectorViewSet(DataLayerViewSet):
    resource = resources.Resource(
        kind="sector",
        visible=lambda reader: Sector.objects.all(),
        serializer=serializers.SectorSerializer,
        loads=lambda queryset, reader: queryset,
    )
    lookup_field = "slug"


@extend_schema_view(list=extend_schema(summary="Membership tiers"), retrieve=extend_schema(summary="One tier"))
class TierViewSet(DataLayerViewSet):
    resource = resources.Resource(
        kind="tier",
        visible=lambda reader: Tier.objects.all(),
        serializer=serializers.TierSerializer,
        loads=lambda queryset, reader: queryset,
    )
    lookup_field = "slug"
