"""Directory filters and facet counts.

Filters come from the URL (`type`, `region`, `criticality`, `horizon`, `sector`); unknown or
malformed values are ignored rather than failing. Each facet's counts apply every *other*
active filter and the text query, so a reader sees how many results each choice would give.
All enumerated facets are counted in one aggregate query, sectors in a second.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet

from .cache import content_version
from .models import Institution, Sector


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
COUNTS_TIMEOUT = 60 * 60
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


def apply_filters(queryset: QuerySet, filters: dict[str, str]) -> QuerySet:
    if SECTOR_FACET.param in filters:
        queryset = queryset.filter(sectors__slug=filters[SECTOR_FACET.param])
    return queryset.filter(_condition({k: v for k, v in filters.items() if k != SECTOR_FACET.param}))


def facet_counts(base: QuerySet, filters: dict[str, str]) -> dict[str, list[Option]]:
    """Options with counts for every facet; `base` is the published, text-searched queryset.

    `filters` may also hold the text query (`q`): it is part of the cache key. Counts are cached
    under the content version (profiles.cache), so they are computed once per query and filter
    set until something readers can see changes.
    """
    timeout = getattr(settings, "BTW_FACET_COUNTS_TIMEOUT", COUNTS_TIMEOUT)
    if not timeout:
        return _facet_counts(base, filters)
    key = counts_cache_key(filters)
    cached = cache.get(key)
    if cached is not None:
        return cached
    counts = _facet_counts(base, filters)
    cache.set(key, counts, timeout)
    return counts


def counts_cache_key(filters: dict[str, str]) -> str:
    raw = json.dumps(sorted(filters.items()), ensure_ascii=False)
    return f"btw:facets:{content_version()}:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


def _facet_counts(base: QuerySet, filters: dict[str, str]) -> dict[str, list[Option]]:
    base = base.order_by()
    sector_q = Q(sectors__slug=filters["sector"]) if "sector" in filters else Q()
    pks_with_sector = base.filter(sector_q).values("pk") if "sector" in filters else None
    aggregates = {}
    for facet in ENUM_FACETS:
        others = _condition({k: v for k, v in filters.items() if k != SECTOR_FACET.param}, skip=facet.param)
        if pks_with_sector is not None:
            others &= Q(pk__in=pks_with_sector)
        for value, _label in facet.choices:
            aggregates[f"{facet.param}__{value}"] = Count("pk", filter=others & Q(**{facet.field: value}))
    counts = base.aggregate(**aggregates)
    out = {
        facet.param: [
            Option(value, label, counts[f"{facet.param}__{value}"], filters.get(facet.param) == value)
            for value, label in facet.choices
        ]
        for facet in ENUM_FACETS
    }
    sector_base = base.filter(_condition({k: v for k, v in filters.items() if k != SECTOR_FACET.param}))
    sector_rows = (
        Sector.objects.filter(institutions__in=sector_base.values("pk"))
        .annotate(hits=Count("institutions", distinct=True))
        .order_by("name")
        .values_list("slug", "name", "hits")
    )
    out[SECTOR_FACET.param] = [
        Option(slug, name, hits, filters.get(SECTOR_FACET.param) == slug) for slug, name, hits in sector_rows
    ]
    return out
