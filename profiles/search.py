"""Full-text search over public text only.

PostgreSQL: a stored, weighted `search_vector` (GIN-indexed) built from public fields and the
titles of approved *public* evidence — briefings and members-only evidence are never indexed —
queried with `websearch_to_tsquery`, ranked, with highlighted snippets. SQLite: a plain
substring fallback with the same interface, so `make run` works on a bare laptop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .citations import strip_citations

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

_REFRESH_SQL = """
UPDATE profiles_institution AS i SET search_vector =
    setweight(to_tsvector('{config}', {a}), 'A')
 || setweight(to_tsvector('{config}', {b} || ' ' || coalesce((
        SELECT string_agg(s.name, ' ') FROM profiles_sector s
        JOIN profiles_institution_sectors x ON x.sector_id = s.id WHERE x.institution_id = i.id), '')), 'B')
 || setweight(to_tsvector('{config}', {c}), 'C')
 || setweight(to_tsvector('{config}', coalesce((
        SELECT string_agg(e.title, ' ') FROM profiles_evidenceitem e
        WHERE e.institution_id = i.id AND e.review_state = 'approved' AND e.required_tier_id IS NULL), '')), 'D')
WHERE i.id = ANY(%s)
"""


def _concat(fields):
    return " || ' ' || ".join(f"coalesce(i.{f}, '')" for f in fields)


REFRESH_SQL = _REFRESH_SQL.format(
    config=CONFIG, a=_concat(WEIGHTED_FIELDS["A"]), b=_concat(WEIGHTED_FIELDS["B"]), c=_concat(WEIGHTED_FIELDS["C"])
)


def is_full_text() -> bool:
    return connection.vendor == "postgresql"


def refresh_search_index(ids: Iterable[int]) -> None:
    """Rebuild the stored vector of these institutions (PostgreSQL only; elsewhere a no-op)."""
    ids = [i for i in ids if i]
    if not ids or not is_full_text():
        return
    with connection.cursor() as cursor:
        cursor.execute(REFRESH_SQL, [ids])


def clean_query(q: str | None) -> str:
    """Trim, drop control characters and cap the length: any input is a valid (maybe empty) query."""
    q = "".join(ch for ch in (q or "") if ch.isprintable())
    return " ".join(q.split())[:MAX_QUERY_LENGTH]


def _terms(q: str) -> list[str]:
    return [t for t in re.split(r"[\s\"']+", q) if t and t not in {"OR", "or", "-"}][:MAX_TERMS]


def search(queryset: QuerySet, q: str) -> QuerySet:
    """Filter and rank `queryset` by `q`; rows gain `search_snippet_raw` (unescaped, with sentinels)."""
    q = clean_query(q)
    if not q:
        return queryset
    if is_full_text():
        query = SearchQuery(q, search_type="websearch", config=CONFIG)
        return (
            queryset.filter(search_vector=query)
            .annotate(
                search_rank=SearchRank(F("search_vector"), query),
                search_snippet_raw=SearchHeadline(
                    SNIPPET_FIELD, query, config=CONFIG, start_sel=_MARK_START, stop_sel=_MARK_END, max_words=35
                ),
            )
            .order_by("-search_rank", "-public_updated_at", "-pk")
        )
    condition = Q()
    for term in _terms(q):
        term_q = Q()
        for field in [f for fields in WEIGHTED_FIELDS.values() for f in fields]:
            term_q |= Q(**{f"{field}__icontains": term})
        condition &= term_q
    return queryset.filter(condition)


def snippet(institution, q: str) -> SafeString:
    """A highlighted, escaped snippet of public text for a search result."""
    raw = getattr(institution, "search_snippet_raw", None)
    if raw is None:
        raw = _fallback_snippet(getattr(institution, SNIPPET_FIELD, "") or "", _terms(clean_query(q)))
    html = escape(strip_citations(raw)).replace(_MARK_START, "<mark>").replace(_MARK_END, "</mark>")
    return mark_safe(html)  # noqa: S308 - escaped above; only our own <mark> tags are added


def _fallback_snippet(text: str, terms: list[str], width: int = 220) -> str:
    if not terms:
        return text[:width]
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
    match = pattern.search(text)
    start = max(0, (match.start() if match else 0) - width // 3)
    excerpt = text[start : start + width]
    excerpt = pattern.sub(lambda m: f"{_MARK_START}{m.group(0)}{_MARK_END}", excerpt)
    return ("…" if start else "") + excerpt + ("…" if start + width < len(text) else "")
