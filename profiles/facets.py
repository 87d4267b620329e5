"""Directory filters and facet counts.

Filters come from the URL (`type`, `region`, `criticality`, `horizon`, `sector`); unknown or
malformed values are ignored rather than failing. Each facet's counts apply every *other*
active filter and the text query, so a reader sees how many results each choice would give.
All enumerated facets are counted in one aggregate query, sectors in a second.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from .models import Institution
from .search import cached_listing


@dataclass(frozen=True)
class Facet:
    param: str
    field: str
    label: str
    choices: tuple[tuple[str, str], ...] = ()


ENUM_FACETS = (
    Facet("type", "type", "Type", tuple(Institution.Type.choices)),
    Facet("region", "base_region", "Base", tuple(Institution.Region.choices)),
    Facet("criticality", "criticality", "Criticality", tuple(Institution.Criticality.choices)),
    Facet("horizon", "time_horizon", "Time horizon", tuple(Institution.Horizon.choices)),
)
SECTOR_FACET = Facet("sector", "sectors__slug", "Sector")
ALL_FACETS = (*ENUM_FACETS, SECTOR_FACET)


@dataclass(frozen=True)
class Option:
    value: str
    label: str
    count: int
    selected: bool


def parse_filters(params) -> dict[str, str]:
    """Keep only well-formed values: an enum's own values, or a slug-shaped sector."""
    filters = {}
    for facet in ENUM_FACETS:
        value = params.get(facet.param, "")
        if value in dict(facet.choices):
            filters[facet.param] = value
    sector = params.get(SECTOR_FACET.param, "")
    if sector and len(sector) <= 80 and sector.replace("-", "").isalnum():
        filters[SECTOR_FACET.param] = sector
    return filters


def _condition(filters: dict[str, str], *, skip: str | None = None) -> Q:
    condition = Q()
    for facet in ALL_FACETS:
        if facet.param in filters and facet.param != skip:
            condition &= Q(**{facet.field: filters[facet.param]})
    return condition


def in_sector(slug: str) -> Q:
    """Profiles in this sector, as a semi-join (`pk IN (…)`): one row per profile whatever else is
    joined, and PostgreSQL hashes the sector's members once rather than joining row by row."""
    members = Institution.sectors.through.objects.filter(sector__slug=slug).values("institution_id")
    return Q(pk__in=members)


def apply_filters(queryset: QuerySet, filters: dict[str, str]) -> QuerySet:
    if SECTOR_FACET.param in filters:
        queryset = queryset.filter(in_sector(filters[SECTOR_FACET.param]))
    return queryset.filter(_condition({k: v for k, v in filters.items() if k != SECTOR_FACET.param}))


def facet_counts(base: QuerySet, filters: dict[str, str]) -> dict[str, list[Option]]:
    """Options with counts for every facet; `base` is the published, text-searched queryset.

    `filters` may also hold the text query (`q`): it is part of the cache key. Counts are cached
    under the content version (profiles.cache) until the next scheduled profile goes live
    (`search.cached_listing`), so they are computed once per query and filter set until something
    readers can see changes.
    """
    return cached_listing(
        "facets", filters, lambda: _facet_counts(base, filters), timeout=settings.BTW_FACET_COUNTS_TIMEOUT
    )


def _facet_counts(base: QuerySet, filters: dict[str, str]) -> dict[str, list[Option]]:
    base = base.order_by()
    enum_filters = {k: v for k, v in filters.items() if k != SECTOR_FACET.param}
    # The sector filter narrows every enumerated facet alike: a WHERE clause, not one subquery per count.
    enum_base = base.filter(in_sector(filters[SECTOR_FACET.param])) if SECTOR_FACET.param in filters else base
    aggregates = {}
    for facet in ENUM_FACETS:
        others = _condition(enum_filters, skip=facet.param)
        for value, _label in facet.choices:
            aggregates[f"{facet.param}__{value}"] = Count("pk", filter=others & Q(**{facet.field: value}))
    counts = enum_base.aggregate(**aggregates)
    out = {
        facet.param: [
            Option(value, label, counts[f"{facet.param}__{value}"], filters.get(facet.param) == value)
            for value, label in facet.choices
        ]
        for facet in ENUM_FACETS
    }
    # Each profile is in a sector at most once (unique through rows): count through rows per sector.
    sector_base = base.filter(_condition(enum_filters))
    sector_rows = (
        Institution.sectors.through.objects.filter(institution__in=sector_base.values("pk"))
        .values_list("sector__slug", "sector__name")
        .annotate(hits=Count("*"))
        .order_by("sector__name")
    )
    out[SECTOR_FACET.param] = [
        Option(slug, name, hits, filters.get(SECTOR_FACET.param) == slug) for slug, name, hits in sector_rows
    ]
    return out
