"""The API's query parameters: django-filter sets built from the directory's own facets
(`profiles.facets`), text search (`profiles.search`) and identifiers (`Institution.objects.with_identifier`),
so a filter means the same thing on the page and in the API.

A value that does not parse is a 400 naming the parameter; so is a parameter the endpoint does not
know (`reject_unknown`): a typo must not silently return everything.
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ValidationError

from .. import facets, search
from ..models import EvidenceItem, Identifier, Institution, Relationship, TimelineEvent, Watchpoint


def reject_unknown(params, known) -> None:
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValidationError({name: ["Unknown parameter."] for name in unknown})


def _identifier_filter(scheme: str, label: str) -> django_filters.CharFilter:
    def apply(queryset, name, value):
        try:
            return queryset.with_identifier(scheme, value)
        except DjangoValidationError as error:
            raise ValidationError({name: error.messages}) from None

    return django_filters.CharFilter(method=apply, label=f"{label} (exact, as written on the profile)")


def _enum_filters() -> dict:
    return {
        facet.param: django_filters.ChoiceFilter(field_name=facet.field, choices=facet.choices, label=facet.label)
        for facet in facets.ENUM_FACETS
    }


def _identifier_filters() -> dict:
    return {scheme.value: _identifier_filter(scheme.value, scheme.label) for scheme in Identifier.Scheme}


class _InstitutionFilter(django_filters.FilterSet):
    sector = django_filters.CharFilter(method="in_sector", label="Sector slug")
    q = django_filters.CharFilter(method="matching", label="Full-text query over public text")
    updated_since = django_filters.IsoDateTimeFilter(
        field_name="public_updated_at", lookup_expr="gte", label="Updated at or after (ISO 8601)"
    )

    class Meta:
        model = Institution
        fields = []

    def in_sector(self, queryset, name, value):
        return queryset.filter(facets.in_sector(value))

    def matching(self, queryset, name, value):
        return search.matching(queryset, value)


InstitutionFilter = type(
    "InstitutionFilter",
    (_InstitutionFilter,),
    {
        "__doc__": "Profiles by facet (as the directory), sector slug, text, identifier and last public update.",
        "__module__": __name__,
        **_enum_filters(),
        **_identifier_filters(),
    },
)


class _OfInstitution(django_filters.FilterSet):
    institution = django_filters.CharFilter(field_name="institution__slug", label="Profile slug")


class EvidenceFilter(_OfInstitution):
    kind = django_filters.ChoiceFilter(choices=EvidenceItem.Kind.choices)
    updated_since = django_filters.IsoDateTimeFilter(field_name="reviewed_at", lookup_expr="gte",
                                                     label="Approved at or after (ISO 8601)")

    class Meta:
        model = EvidenceItem
        fields = []


class RelationshipFilter(django_filters.FilterSet):
    institution = django_filters.CharFilter(method="either_end", label="Profile slug (either end)")
    kind = django_filters.ChoiceFilter(choices=Relationship.Kind.choices)

    class Meta:
        model = Relationship
        fields = []

    def either_end(self, queryset, name, value):
        return queryset.filter(source__slug=value) | queryset.filter(target__slug=value)


class WatchpointFilter(_OfInstitution):
    kind = django_filters.ChoiceFilter(choices=Watchpoint.Kind.choices)
    status = django_filters.ChoiceFilter(choices=Watchpoint.Status.choices)

    class Meta:
        model = Watchpoint
        fields = []


class TimelineFilter(_OfInstitution):
    after = django_filters.DateFilter(field_name="date", lookup_expr="gte", label="On or after (YYYY-MM-DD)")
    before = django_filters.DateFilter(field_name="date", lookup_expr="lte", label="On or before (YYYY-MM-DD)")

    class Meta:
        model = TimelineEvent
        fields = []
