"""The directory and the home page's listing: filters, search results, cards and the filter form.

The view (`views.DirectoryView`) asks this module which filters a query string means, which
profiles match and in what order, what each page of results loads (its rows, sectors and snippets)
and how the filter form reads (each option with its count of results).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

import siteurl

from . import facets, query_pass, search
from .search import clean_query

DIRECTORY_PAGE_SIZE = 20
HOME_RECENT_COUNT = 6


def directory_filters(params, sectors) -> dict[str, str]:
    """The filters to apply from a query string: well-formed, known values only; the rest is ignored."""
    filters = facets.parse_filters(params)
    if "sector" in filters and filters["sector"] not in {s.slug for s in sectors}:
        del filters["sector"]
    q = clean_query(params.get("q"))  # printable characters only (PostgreSQL refuses NUL), capped
    if q:
        filters["q"] = q
    return filters


def search_directory(queryset, q: str | None):
    """The profiles matching the text query over public text only (`profiles.search`), unordered:
    full text on PostgreSQL, a substring fallback elsewhere. An empty query leaves the queryset as it
    is. Both the results and the facet counts start from it."""
    return search.matching(queryset, q or "")


def order_results(queryset, q: str | None):
    """Most relevant first when PostgreSQL ranks a query (last update and pk as tie-breakers, so
    pages never overlap); otherwise newest update first."""
    if q and search.is_full_text():
        return queryset.order_by(*search.rank_order(q))
    return queryset.recently_updated()


def ranked_listing(filters: dict[str, str], sectors) -> query_pass.QueryListing | None:
    """A text query's listing where PostgreSQL ranks it: its count, the order of its first pages and
    its facet counts, read in one pass over the matches (`profiles.query_pass`) and cached per content
    version, query and filters. None without a ranked query."""
    q = filters.get("q")
    if not (q and search.is_full_text()):
        return None

    def compute():
        found = query_pass.query_listing(q, filters, sectors, now=timezone.now(), cap=search.RESULTS_CAP)
        return found.count, found.ids, found.counts  # a tuple: no class of this module is pickled

    count, ids, counts = search.cached_listing("query", filters, compute, timeout=settings.BTW_SEARCH_RESULTS_TIMEOUT)
    return query_pass.QueryListing(count, ids, counts)


def directory_results(ordered, filters: dict[str, str], listing=None) -> search.Results:
    """The listing for the paginator (`search.Results`): its count and, for a ranked query, the
    order of its first pages (`listing`, from `ranked_listing`); each page loads just its own rows,
    with their sectors and, for a query, their snippets."""
    q = filters.get("q")

    def rows(*, ids=None, span=None):
        if ids is not None:
            # By id, from the published profiles only; the order is the cached one.
            found = {p.pk: p for p in search.with_snippets(_card_rows(ordered.model.objects.published(), ids), q)}
            return [found[pk] for pk in ids if pk in found]
        start, stop = span
        return list(search.with_snippets(_card_rows(ordered, None), q or "")[start:stop])

    ids = ordered.values_list("pk", flat=True)
    if listing is not None:
        return search.Results(ids, rows, filters, window=search.ResultWindow(listing.count, listing.ids))
    # Without a text query the count is the tallies' (`profiles.tallies`), not a count of the profiles.
    count = None if q else functools.partial(facets.listing_count, filters)
    return search.Results(ids, rows, filters, count=count)


def _card_rows(queryset, ids):
    queryset = queryset.defer("search_vector").for_listing()
    return queryset if ids is None else queryset.filter(pk__in=ids).order_by()


def attach_snippets(profiles, q: str | None) -> None:
    """Give each result card its highlighted, escaped snippet of public text (`result_snippet`)."""
    for profile in profiles:
        profile.result_snippet = search.snippet(profile, q) if q else None


def attach_sectors(profiles, sectors) -> None:
    """Give each card its sectors (`card_sectors`, in the order of `sectors`, every sector) from the
    profile's own set of them (`Institution.sector_ids`, kept equal to the relation by
    `profiles.sector_sets`): the page has every sector already, for its filter form, so a page of
    cards costs no query for theirs (a prefetch cost a query and about 2 ms of the cold directory)."""
    for profile in profiles:
        held = profile.sector_ids
        profile.card_sectors = [sector for sector in sectors if str(sector.pk) in held]


#: Query-string order of the directory's filters in canonical URLs.
FILTER_PARAMS = tuple(f.param for f in facets.ALL_FACETS)


def directory_canonical_url(filters: dict[str, str], page_number: int) -> str:
    """One URL per listing, on the site's address: known filters in a fixed order, the page when past
    the first, no text query (search result pages are marked noindex instead)."""
    params = [(name, filters[name]) for name in FILTER_PARAMS if name in filters]
    if page_number > 1:
        params.append(("page", page_number))
    url = reverse("profiles:directory") + (f"?{urlencode(params)}" if params else "")
    return siteurl.absolute(url)


LABELS = {"region": "Base region"}
ANY_LABELS = {"region": "Any region"}


@dataclass(frozen=True)
class FilterChoice:
    value: str
    label: str
    selected: bool


@dataclass(frozen=True)
class FilterField:
    """One labelled <select> of the directory's filter form."""

    name: str
    label: str
    any_label: str
    choices: list[FilterChoice]


def _offered(count: int, selected: bool) -> bool:
    """An option is offered when choosing it gives results, or when it is the current choice (kept,
    with its "(0)", so the reader sees why nothing matches and can undo it)."""
    return count > 0 or selected


def filter_fields(filters: dict[str, str], counts: dict, sectors) -> list[FilterField]:
    """Each facet as a select, its options labelled with how many results they would give; options
    that would give none are left out, except the current choice."""
    fields = []
    for facet in facets.ENUM_FACETS:
        choices = [
            FilterChoice(o.value, f"{o.label} ({o.count})", o.selected)
            for o in counts.get(facet.param, [])
            if _offered(o.count, o.selected)
        ]
        any_label = ANY_LABELS.get(facet.param, f"Any {facet.label.lower()}")
        fields.append(FilterField(facet.param, LABELS.get(facet.param, facet.label), any_label, choices))
    sector_hits = {o.value: o.count for o in counts.get(facets.SECTOR_FACET.param, [])}
    sector_choices = [
        FilterChoice(s.slug, f"{s.name} ({sector_hits.get(s.slug, 0)})", filters.get("sector") == s.slug)
        for s in sectors
        if _offered(sector_hits.get(s.slug, 0), filters.get("sector") == s.slug)
    ]
    fields.append(FilterField("sector", "Sector", "Any sector", sector_choices))
    return fields
