"""Cursor pages: stable under inserts (a page never repeats or skips a row because another was added),
in id order, 50 rows by default and at most 200. A page size the API will not serve is a 400, not
a silently smaller page; a cursor the API did not issue is a 404 (DRF's "Invalid cursor")."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination

import siteurl

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def bounded_count(params, name: str, *, default: int, maximum: int) -> int:
    """A query parameter that counts rows (a page size, a change-stream limit): 1 to `maximum`,
    `default` when absent, a 400 naming the parameter otherwise."""
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ValidationError({name: [f"A whole number from 1 to {maximum}."]})
    return int(raw)


class IdCursorPagination(CursorPagination):
    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    page_size_query_param = "page_size"
    ordering = "pk"

    def paginate_queryset(self, queryset, request, view=None):
        page = super().paginate_queryset(queryset, request, view)
        # Links to the next and previous pages are on the site's address, never the request's Host.
        self.base_url = siteurl.absolute(request.get_full_path())
        return page

    def get_page_size(self, request):
        return bounded_count(request.query_params, self.page_size_query_param, default=self.page_size,
                             maximum=self.max_page_size)

    def get_page_size_schema(self):  # drf-spectacular reads the bounds from here
        return {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size}

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = self.get_page_size_schema()
        return parameters
