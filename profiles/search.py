"""Full-text search over public text only.

PostgreSQL: a stored, weighted `search_vector` (GIN-indexed) built from public fields and the
titles of approved *public* evidence — briefings and members-only evidence are never indexed —
queried with `websearch_to_tsquery`, ranked, with highlighted snippets. SQLite: a plain
substring fallback with the same interface, so `make run` works on a bare laptop.

The vector is written by the database, in bulk (`refresh_search_index`: one UPDATE per few
thousand profiles, so seed_scale indexes 100,000 profiles in the same pass that loads them), from
an ORM expression (`index_vector`) that takes "public evidence" from the model's queryset and the
gate rather than restating it in SQL. A saved profile is re-indexed by a post_save receiver
(`institution_saved`, connected in `ProfilesConfig.ready`); changes of its sectors and evidence by
the admin and the review workflow, which call `refresh_search_index` themselves.

At 100,000 profiles ranking is the cost (every match's vector is read; migration 0010 keeps the
vectors in the table row so that read is cheap). The directory therefore ranks a query once per
content version and filter set: `Results` caches the count and the ids of the first pages in
order, `cached_listing` keys them (and the facet counts) by everything that changes them, and
snippets are made for the 20 rows of a page only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from django.conf import settings
from django.contrib.postgres.aggregates import StringAgg
from django.contrib.postgres.search import (
    CombinedSearchVector,
    SearchHeadline,
    SearchQuery,
    SearchRank,
    SearchVector,
)
from django.db import connection
from django.db.models import F, OrderBy, OuterRef, Q, QuerySet, Subquery
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .cache import retire, store_versioned, versioned_get_many
from .citations import strip_citations
from .dependencies import LISTS, page_tags
from .models import EvidenceItem, Institution, Sector

MAX_QUERY_LENGTH = 200
MAX_TERMS = 8
CONFIG = "english"
_MARK_START, _MARK_END = "\x02", "\x03"  # sentinels: the snippet is escaped first, then marked up

#: Public fields, by weight. Changing this list changes what readers can find — public text only.
WEIGHTED_FIELDS = {
    "A": ["name"],
    "B": ["dek", "headline", "what_it_does", "why_it_matters", "public_role"],
    "C": ["key_points", "operating_surface", "domain_summary"],
}
SNIPPET_FIELD = "dek"

#: Profiles whose vectors one UPDATE rebuilds: bulk loads (seed_scale) refresh thousands at a time.
REFRESH_BATCH = 5000


def _joined_texts(queryset: QuerySet, group: str, field: str) -> Subquery:
    """The `field` texts of the rows of `queryset` that belong to the outer profile, joined by
    spaces: one correlated subquery (string_agg) per profile, evaluated inside the UPDATE."""
    return Subquery(queryset.order_by().values(group).annotate(texts=StringAgg(field, " ")).values("texts"))


def index_vector() -> CombinedSearchVector:
    """The stored vector of a profile, as an expression over its row: its public fields by weight,
    its sector names beside the B fields, and, weighted D, the titles of the evidence every reader
    may see. Which evidence that is, the model and the gate decide
    (`EvidenceItem.objects.open_to_everyone()`): this module restates no rule of its own."""
    sectors = _joined_texts(Sector.objects.filter(institutions=OuterRef("pk")), "institutions", "name")
    evidence = _joined_texts(
        EvidenceItem.objects.open_to_everyone().filter(institution=OuterRef("pk")), "institution", "title"
    )
    return (
        SearchVector(*WEIGHTED_FIELDS["A"], config=CONFIG, weight="A")
        + SearchVector(*WEIGHTED_FIELDS["B"], sectors, config=CONFIG, weight="B")
        + SearchVector(*WEIGHTED_FIELDS["C"], config=CONFIG, weight="C")
        + SearchVector(evidence, config=CONFIG, weight="D")
    )


def is_full_text() -> bool:
    return connection.vendor == "postgresql"


def refresh_search_index(ids: Iterable[int]) -> None:
    """Rebuild the stored vector of these institutions (PostgreSQL only; elsewhere a no-op).

    In bulk: one UPDATE per REFRESH_BATCH profiles, every vector computed by the database.

    What search finds is something readers see, and cached listings (below) hold search results,
    so the lists are retired once more after the update. The save signals bump it too, but
    before this update: outside a transaction, a listing computed in between would otherwise be
    kept under the new version with the old vectors.
    """
    ids = sorted({i for i in ids if i})
    if not ids or not is_full_text():
        return
    vector = index_vector()
    for start in range(0, len(ids), REFRESH_BATCH):
        Institution.objects.filter(pk__in=ids[start : start + REFRESH_BATCH]).update(search_vector=vector)
    retire([LISTS])


#: Saving these fields changes what a profile's vector holds (a save naming none of them does not).
INDEXED_FIELDS = frozenset(field for fields in WEIGHTED_FIELDS.values() for field in fields)


def institution_saved(sender, instance, update_fields=None, **kwargs) -> None:
    """post_save receiver of `Institution` (connected in `ProfilesConfig.ready`): a saved profile's
    own text is indexed at once. Sectors and reviewed evidence change the vector too; the admin's
    save and the review workflow refresh it for those explicitly."""
    if update_fields is not None and not INDEXED_FIELDS.intersection(update_fields):
        return
    refresh_search_index([instance.pk])


def clean_query(q: str | None) -> str:
    """Trim, drop control characters and cap the length: any input is a valid (maybe empty) query."""
    q = "".join(ch for ch in (q or "") if ch.isprintable())
    return " ".join(q.split())[:MAX_QUERY_LENGTH]


def _terms(q: str) -> list[str]:
    return [t for t in re.split(r"[\s\"']+", q) if t and t not in {"OR", "or", "-"}][:MAX_TERMS]


def _query(q: str) -> SearchQuery:
    return SearchQuery(q, search_type="websearch", config=CONFIG)


def matching(queryset: QuerySet, q: str) -> QuerySet:
    """Only the rows matching `q` (unordered, unannotated): the base of both results and facet counts."""
    q = clean_query(q)
    if not q:
        return queryset
    if is_full_text():
        return queryset.filter(search_vector=_query(q))
    condition = Q()
    for term in _terms(q):
        term_q = Q()
        for field in [f for fields in WEIGHTED_FIELDS.values() for f in fields]:
            term_q |= Q(**{f"{field}__icontains": term})
        condition &= term_q
    return queryset.filter(condition)


def rank_order(q: str) -> list[OrderBy]:
    """Most relevant first (name matches outweigh the rest: weight A), then newest update; the pk
    makes the order total, so pages never overlap."""
    return [
        SearchRank(F("search_vector"), _query(clean_query(q))).desc(),
        F("public_updated_at").desc(),
        F("pk").desc(),
    ]


def with_snippets(queryset: QuerySet, q: str) -> QuerySet:
    """Rows gain `search_snippet_raw` (PostgreSQL: a headline of the public dek, unescaped, with
    sentinels). Apply it to one page of rows: ts_headline re-parses the text of every row it sees."""
    q = clean_query(q)
    if not q or not is_full_text():
        return queryset
    return queryset.annotate(
        search_snippet_raw=SearchHeadline(
            SNIPPET_FIELD, _query(q), config=CONFIG, start_sel=_MARK_START, stop_sel=_MARK_END, max_words=35
        )
    )


def snippet(institution, q: str) -> SafeString:
    """A highlighted, escaped snippet of public text for a search result."""
    text = getattr(institution, SNIPPET_FIELD, "") or ""
    raw = getattr(institution, "search_snippet_raw", None)
    raw = _fallback_snippet(text, _terms(clean_query(q))) if raw is None else _headline_excerpt(text, raw)
    html = escape(strip_citations(raw)).replace(_MARK_START, "<mark>").replace(_MARK_END, "</mark>")
    return mark_safe(html)  # noqa: S308 - escaped above; only our own <mark> tags are added


ELLIPSIS = "…"


def _excerpt(text: str, start: int, stop: int, body: str) -> str:
    """`body`, the words of `text[start:stop]`, with an ellipsis on each side where text was left out."""
    before = ELLIPSIS if text[:start].strip() else ""
    after = ELLIPSIS if text[stop:].strip() else ""
    return before + body + after


def _headline_excerpt(text: str, headline: str) -> str:
    """PostgreSQL's headline (whole words: `ts_headline` cuts between them) with an ellipsis where it
    leaves part of the text out."""
    plain = headline.replace(_MARK_START, "").replace(_MARK_END, "").strip()
    at = text.find(plain) if plain else -1
    if at < 0:
        return headline
    return _excerpt(text, at, at + len(plain), headline.strip())


def _fallback_snippet(text: str, terms: list[str], width: int = 220) -> str:
    """About `width` characters of `text` around the first term found (else its opening), cut
    between words, never inside one, with an ellipsis where cut; the terms marked with sentinels.
    A single word longer than `width` is the only thing ever cut inside."""
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE) if terms else None
    match = pattern.search(text) if pattern else None
    anchor = match.start() if match else 0
    start = _word_start(text, max(0, anchor - width // 3), latest=anchor)
    stop = _word_end(text, start + width, earliest=max(start, match.end() if match else 0))
    excerpt = text[start:stop].strip()
    if pattern:
        excerpt = pattern.sub(lambda m: f"{_MARK_START}{m.group(0)}{_MARK_END}", excerpt)
    return _excerpt(text, start, stop, excerpt)


def _word_start(text: str, at: int, *, latest: int) -> int:
    """The start of the first whole word at or after `at`; if that is past `latest` (a long word
    holding the match), the start of the word holding `latest`."""
    if at == 0 or text[at - 1].isspace():
        return at
    gap = re.compile(r"\s+").search(text, at, latest + 1)
    if gap:
        return gap.end()
    while latest > 0 and not text[latest - 1].isspace():
        latest -= 1
    return latest


def _word_end(text: str, at: int, *, earliest: int) -> int:
    """The end of the last whole word ending at or before `at`, not before `earliest` (the match's
    end); a single word longer than the whole width is cut at `at`."""
    if at >= len(text) or text[at].isspace() or text[at - 1].isspace():
        return min(at, len(text))
    cut = max((m.start() for m in re.finditer(r"\s", text[earliest:at])), default=None)
    return at if cut is None else earliest + cut


# ---------------------------------------------------------------------------------------------
# Cached listings: what the directory computes once per content version, query and filters
# ---------------------------------------------------------------------------------------------

#: Result ids kept per cached text query: the first 50 pages. Later pages run the ranked query.
RESULTS_CAP = 1000


def listing_key(kind: str, filters: dict[str, str]) -> str:
    """The cache key of one listing computation: its kind and every input that changes the result
    (the filters, the text query among them). The content version is stored with the entry."""
    raw = json.dumps(sorted(filters.items()), ensure_ascii=False)
    return f"btw:{kind}:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


def cached_listing(kind: str, filters: dict[str, str], compute, *, timeout: int):
    """`compute()`, cached per `kind` and `filters` under the content version (`profiles.cache`:
    any change readers can see bumps it, a scheduled profile going live included), read with the
    version in one round trip. A timeout of 0 turns the cache off."""
    if not timeout:
        return compute()
    key = listing_key(kind, filters)
    version, found, _ = versioned_get_many([key], tags=page_tags())
    if key in found:
        return found[key]
    value = compute()
    store_versioned(key, version, value, timeout)
    return value


@dataclass(frozen=True)
class ResultWindow:
    """How many results a listing has and, for a ranked text query, the ids of the first ones in
    order (up to RESULTS_CAP; `ids` is None when only the count is kept)."""

    count: int
    ids: tuple[int, ...] | None = None


class Results:
    """A directory listing in the shape Django's Paginator wants: `count()` and slicing.

    `ids` is the filtered, ordered queryset of ids; `rows` loads the cards' rows (fields,
    prefetches, snippets) for a list of ids or a slice. A ranked text query comes with its `window`
    (`profiles.query_pass`: the count and the first RESULTS_CAP ids in order, read in the pass that
    counts its facets and cached with them), so a page within them loads 20 rows by id and never
    ranks again; later pages rank with OFFSET. Without a text query the order comes from an index
    and a page costs little: only the count is cached (`count`, when given, says how to get it: the
    directory sums its tallies), each page is a LIMIT/OFFSET query.
    """

    ordered = True  # for the Paginator's check: the order is always total

    def __init__(self, ids: QuerySet, rows, filters: dict[str, str], *, count=None, window: ResultWindow | None = None):
        self.ids, self.rows, self.filters = ids, rows, filters
        self._count = count or ids.count  # how an unranked listing is counted
        if window is not None:
            self.window = window

    @cached_property
    def window(self) -> ResultWindow:
        # Cached as a plain count: nothing of this module's classes is pickled.
        count = cached_listing("count", self.filters, self._count, timeout=settings.BTW_SEARCH_RESULTS_TIMEOUT)
        return ResultWindow(count)

    def count(self) -> int:
        return self.window.count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        start, stop, _step = index.indices(self.count())
        if stop <= start:
            return []
        ids = self.window.ids
        if ids is not None and (stop <= len(ids) or len(ids) == self.count()):
            return self.rows(ids=list(ids[start:stop]))
        return self.rows(span=(start, stop))
