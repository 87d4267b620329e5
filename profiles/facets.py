"""Directory filters and facet counts.

Filters come from the URL (`type`, `region`, `criticality`, `horizon`, `sector`); unknown or
malformed values are ignored rather than failing. Each facet's counts apply every *other*
active filter and the text query, so a reader sees how many results each choice would give.
All enumerated facets are counted in one aggregate query, sectors in a second. Without a text
query the counts are sums over `ListingTally` rows (`profiles.tallies`), not counts of profiles.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Count, IntegerField, Q, QuerySet, Sum, TextField, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from membership.prepared import PreparedQuery, now_slot

from . import search
from .models import Institution, ListingTally
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
    """Without a text query `base` is every published profile, and the counts are sums over the
    tallies (`profiles.tallies`: listed profiles) less the scheduled profiles counted directly;
    with one, the matches are counted."""
    if filters.get("q"):
        if not search.is_full_text():
            return _counts(_Profiles(base), filters)
        # `base` is what the prepared source rebuilds: the published profiles matching the query now.
        unranked = {k: v for k, v in filters.items() if k != "q"}
        return _prepared_counts("matches", unranked, now=timezone.now(), q=filters["q"])
    listed = _prepared_counts("tallies", filters)
    if _scheduled() is None:
        return listed
    scheduled = _prepared_counts("scheduled", filters, now=timezone.now())
    return {param: _less(options, scheduled.get(param, [])) for param, options in listed.items()}


def listing_count(filters: dict[str, str]) -> int:
    """How many published profiles the directory lists for these filters (no text query): the
    tallies' sum less the scheduled profiles."""
    scheduled = _scheduled()
    return _Tallies().total(filters) - (_Profiles(scheduled).total(filters) if scheduled is not None else 0)


def _scheduled() -> QuerySet | None:
    """The scheduled profiles, or None when there are none (one look through an index)."""
    scheduled = Institution.objects.scheduled()
    return scheduled if scheduled.exists() else None


def _less(options: list[Option], minus: list[Option]) -> list[Option]:
    taken = {o.value: o.count for o in minus}
    return [Option(o.value, o.label, o.count - taken.get(o.value, 0), o.selected) for o in options]


class _Profiles:
    """Counting profiles themselves (a queryset of them)."""

    def __init__(self, base: QuerySet):
        self.base = base.order_by()

    def rows(self, sector: str | None) -> QuerySet:
        return self.base.filter(in_sector(sector)) if sector else self.base

    @staticmethod
    def measure(condition: Q):
        return Count("pk", filter=condition)

    def sector_hits(self, enum_filters: dict[str, str]) -> QuerySet:
        # Each profile is in a sector at most once (unique through rows): count through rows per sector.
        members = self.base.filter(_condition(enum_filters)).values("pk")
        return Institution.sectors.through.objects.filter(institution__in=members).values_list(
            "sector__slug", "sector__name"
        ).annotate(hits=Count("*"))

    def total(self, filters: dict[str, str]) -> int:
        return apply_filters(self.base, filters).count()


class _Tallies:
    """Summing tallies: rows with no sector count each listed profile once, a sector's rows its members."""

    @staticmethod
    def rows(sector: str | None) -> QuerySet:
        return ListingTally.objects.filter(sector__slug=sector) if sector else ListingTally.objects.filter(sector=None)

    @staticmethod
    def measure(condition: Q):
        return Coalesce(Sum("profiles", filter=condition), 0)

    @staticmethod
    def sector_hits(enum_filters: dict[str, str]) -> QuerySet:
        rows = ListingTally.objects.exclude(sector=None).filter(_condition(enum_filters))
        return rows.values_list("sector__slug", "sector__name").annotate(hits=Sum("profiles"))

    def total(self, filters: dict[str, str]) -> int:
        enum_filters = {k: v for k, v in filters.items() if k != SECTOR_FACET.param}
        rows = self.rows(filters.get(SECTOR_FACET.param)).filter(_condition(enum_filters))
        return rows.aggregate(n=self.measure(Q()))["n"]


def _enum_counts(source, filters: dict[str, str]) -> QuerySet:
    """The enumerated facets' counts as a query of one row, a column per option (`<param>__<value>`),
    from profiles or tallies alike: one aggregate, the sector filter narrowing them all (a WHERE
    clause, not one subquery per count), each option applying every other filter."""
    enum_filters = {k: v for k, v in filters.items() if k in {f.param for f in ENUM_FACETS}}
    aggregates = {}
    for facet in ENUM_FACETS:
        others = _condition(enum_filters, skip=facet.param)
        for value, _label in facet.choices:
            aggregates[f"{facet.param}__{value}"] = source.measure(others & Q(**{facet.field: value}))
    # Grouped by a constant: no GROUP BY, one row however many (or few) rows it reads.
    rows = source.rows(filters.get(SECTOR_FACET.param)).annotate(_all=Value(1, IntegerField()))
    return rows.values("_all").annotate(**aggregates).values(*aggregates)


def _sector_counts(source, filters: dict[str, str]) -> QuerySet:
    """Rows of (slug, name, count) per sector, applying the enumerated filters, in the form's order."""
    enum_filters = {k: v for k, v in filters.items() if k in {f.param for f in ENUM_FACETS}}
    return source.sector_hits(enum_filters).order_by("sector__name")


def _counts(source, filters: dict[str, str]) -> dict[str, list[Option]]:
    """Every facet's options with counts: the enumerated facets in one aggregate, the sectors in a second query."""
    return _options(filters, list(_enum_counts(source, filters))[0], _sector_counts(source, filters))


def _options(filters: dict[str, str], counts: dict[str, int], sector_rows) -> dict[str, list[Option]]:
    out = {
        facet.param: [
            Option(value, label, counts[f"{facet.param}__{value}"], filters.get(facet.param) == value)
            for value, label in facet.choices
        ]
        for facet in ENUM_FACETS
    }
    out[SECTOR_FACET.param] = [
        Option(slug, name, hits, filters.get(SECTOR_FACET.param) == slug) for slug, name, hits in sector_rows
    ]
    return out


#: Where the directory's counts without a text query come from: the tallies, and the scheduled
#: profiles they count that readers do not see yet (a moment, `now`, says which those are).
_PREPARED_SOURCES = {
    "tallies": (lambda: _Tallies(), {}),
    "scheduled": (lambda now: _Profiles(Institution.objects.scheduled(at=now)), {"now": now_slot()}),
    # PostgreSQL's full text: the query is one parameter (the substring fallback makes one per term).
    "matches": (
        lambda now, q: _Profiles(search.matching(Institution.objects.published(at=now), q)),
        {"now": now_slot(), "q": (TextField, "btwpreparedquery")},
    ),
}


@functools.lru_cache(maxsize=512)
def _prepared(kind: str, filter_items: tuple) -> tuple[PreparedQuery, PreparedQuery]:
    """The two counting queries of one source and filter set, compiled once per process
    (`membership.prepared`): building them with the ORM cost twice what running them does (at
    400,013 profiles, the directory's counts took 21 ms, 8 of them in the database)."""
    filters = dict(filter_items)
    source, slots = _PREPARED_SOURCES[kind]
    return (
        PreparedQuery(lambda **values: _enum_counts(source(**values), filters), **slots),
        PreparedQuery(lambda **values: _sector_counts(source(**values), filters), **slots),
    )


def _prepared_counts(kind: str, filters: dict[str, str], **values) -> dict[str, list[Option]]:
    enum, sectors = _prepared(kind, tuple(sorted(filters.items())))
    connection = connections[DEFAULT_DB_ALIAS]
    [row] = enum.rows(connection, **values)
    counts = dict(zip(enum.compiled(connection).columns, row, strict=True))
    return _options(filters, counts, sectors.rows(connection, **values))
