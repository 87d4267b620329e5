"""Pagination that stays fast on million-row tables."""

from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections

#: Below this many rows an exact COUNT is cheap enough to run on every page load.
ESTIMATE_ABOVE = 50_000


class EstimatedCountPaginator(Paginator):
    """Exact counts for filtered lists; PostgreSQL's planner estimate for a whole large table.

    An unfiltered admin changelist of a million evidence items would otherwise run a full-table
    COUNT on every load. The estimate (pg_class.reltuples, kept by autovacuum/ANALYZE) is only
    used when it is large, so small tables and every filtered or scoped list stay exact.
    """

    @cached_property
    def count(self):
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is not None and not query.where and not query.distinct:
            estimate = _estimated_rows(queryset)
            if estimate is not None and estimate > ESTIMATE_ABOVE:
                return estimate
        return super().count


def _estimated_rows(queryset):
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        table = queryset.model._meta.db_table
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] and row[0] > 0 else None
