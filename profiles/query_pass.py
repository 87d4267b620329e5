"""A ranked text query's whole listing from one pass over its matches (PostgreSQL).

The directory needs three things of a text query: how many profiles match it and the filters, the
first `search.RESULTS_CAP` of them in rank order, and every facet's counts, each applying the other
filters (`profiles.facets`). Asked one by one, each was a pass over every matching row: at 100,013
profiles a query matching one in ten ("fibre": 9,700 rows on 8,300 heap pages) paid 22–28 ms for the
ranked ids, 17–18 ms for the enumerated facets and 24–27 ms for the sectors, each about 2 µs of
database CPU per matching row. Here one aggregate reads each match once: its rank, its facets and its
sectors (the row's own list, `profiles.sector_sets`) — figures in the README.

The aggregate is compiled once per filter set and process (`membership.prepared`) and run with the
query and the moment; the conditions are the facets' own (`facets.enum_conditions`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.contrib.postgres.aggregates import ArrayAgg
from django.contrib.postgres.fields import ArrayField
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import BigIntegerField, Count, Func, Q, TextField

from membership.prepared import PreparedQuery, now_slot

from . import facets, search, sector_sets
from .models import Institution


@dataclass(frozen=True)
class QueryListing:
    """What the directory shows of one text query and filter set."""

    count: int
    ids: tuple[int, ...]
    counts: dict[str, list[facets.Option]]


class _Head(Func):
    """The first `length` elements of an array (PostgreSQL slices are 1-based and inclusive)."""

    template = "(%(expressions)s)[1:%(length)d]"

    def __init__(self, expression, length: int):
        super().__init__(expression, length=length, output_field=ArrayField(BigIntegerField()))


def _listing(now, q: str, filters: dict[str, str], sectors: tuple[tuple[int, str, str], ...], cap: int):
    """The one-row query: `_count`, `_ids` (the first `cap` in rank order), a column per enumerated
    option and one per sector (`_sector_<id>`), over the published profiles matching `q` at `now`."""
    matched = search.matching(Institution.objects.published(at=now), q).order_by()
    enum_filters = facets.enum_filters(filters)
    by_slug = {slug: pk for pk, slug, _name in sectors}
    selected_sector = filters.get(facets.SECTOR_FACET.param)
    # The sector filter as a test of the row's own list: the rows read are every match, unnarrowed.
    narrowing = sector_sets.holds(by_slug[selected_sector]) if selected_sector else Q()
    listed = facets.condition(enum_filters) & narrowing
    aggregates = {
        name: Count("pk", filter=condition)
        for name, condition in facets.enum_conditions(enum_filters, narrowing).items()
    }
    for pk, _slug, _name in sectors:
        aggregates[f"_sector_{pk}"] = Count("pk", filter=facets.condition(enum_filters) & sector_sets.holds(pk))
    aggregates["_count"] = Count("pk", filter=listed)
    order = search.rank_order(q)
    aggregates["_ids"] = _Head(ArrayAgg("pk", filter=listed, order_by=order, default=[]), cap)
    return facets.one_row(matched, aggregates)


#: Stands for the text query while the SQL is compiled (`membership.prepared`).
_QUERY_SENTINEL = "btwpreparedlisting"


@functools.lru_cache(maxsize=512)
def _prepared(filter_items: tuple, sectors: tuple, cap: int) -> PreparedQuery:
    filters = dict(filter_items)
    return PreparedQuery(
        lambda now, q: _listing(now, q, filters, sectors, cap),
        now=now_slot(),
        q=(TextField, _QUERY_SENTINEL),
    )


def query_listing(q: str, filters: dict[str, str], sectors, *, now, cap: int) -> QueryListing:
    """The listing of the published profiles matching `q` at `now` under `filters`: its count, its
    first `cap` ids in rank order and the facets' options with counts (`sectors`: every sector, in
    the order the filter form lists them)."""
    sectors = tuple((s.pk, s.slug, s.name) for s in sectors)
    unranked = tuple(sorted((k, v) for k, v in filters.items() if k != "q"))
    prepared = _prepared(unranked, sectors, cap)
    connection = connections[DEFAULT_DB_ALIAS]
    [row] = prepared.rows(connection, now=now, q=search.clean_query(q))
    found = dict(zip(prepared.compiled(connection).columns, row, strict=True))
    hits = [(slug, name, found.pop(f"_sector_{pk}")) for pk, slug, name in sectors]
    count, ids = found.pop("_count"), tuple(found.pop("_ids") or ())
    return QueryListing(count, ids, facets.options(filters, found, [hit for hit in hits if hit[2]]))
