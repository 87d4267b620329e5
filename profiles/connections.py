"""A profile's approved relationships as a list, each phrased from the profile's own side.

The relationship map shows them as a table beside (or, while staff preview, instead of) the drawing
(`map_drawing`): the same ties in words, with links, and every direct tie when the drawing had to
leave some out, a page of `TIES_PER_PAGE` at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, Q, Value, When, Window

from membership.gating import Reader

from .models import Institution, Relationship
from .profile_page import shown_to

#: How a relationship reads from the *target's* side ("X depends on us" → "Depended on by X").
INCOMING_LABELS = {
    Relationship.Kind.PARTNER: "Partner of",
    Relationship.Kind.SUPPLIER: "Supplied by",
    Relationship.Kind.CUSTOMER: "Supplier to",
    Relationship.Kind.OWNER: "Owned by",
    Relationship.Kind.INVESTOR: "Backed by",
    Relationship.Kind.DEPENDS_ON: "Depended on by",
    Relationship.Kind.MEMBER_OF: "Has as member",
}


@dataclass(frozen=True)
class Connection:
    """One approved relationship, phrased from the profile's own side."""

    relationship: Relationship
    label: str
    counterpart: Institution
    outgoing: bool
    not_public: bool = False


#: Ties per page of the map's table: a hub's (1,277 at 400,000 profiles) go over several pages.
TIES_PER_PAGE = 100
#: What a row of the table shows of a tie and of its ends (the publication rule reads status and time).
TABLE_TIE_FIELDS = ("id", "kind", "description", "since", "source", "target", "review_state")
TABLE_END_FIELDS = ("id", "name", "slug", "status", "published_at")


@dataclass(frozen=True)
class TiePage:
    """One page of a profile's ties: the page (for the page links) and its rows, outgoing first."""

    page: Page
    outgoing: list[Connection]
    incoming: list[Connection]


def page_number(value) -> int:
    """A page number from the query string: anything but a positive whole number is the first page."""
    return int(value) if isinstance(value, str) and value.isdigit() and 0 < int(value) < 10**6 else 1


def connections_for(reader: Reader, institution: Institution, *, number: int = 1) -> TiePage:
    """Approved relationships in both directions whose other end the reader may see, a page at a time
    (`TIES_PER_PAGE`): its own ties first, then those pointing at it. The page's rows carry the count
    of all of them (a window count: no second query); past the last page, the last page is shown."""
    per_page = TIES_PER_PAGE
    ties = (
        Relationship.objects.public_for(reader)
        .filter(Q(source=institution) | Q(target=institution))
        .select_related("source", "target")
        # A hub's table is long: load what a row shows, not two whole profiles each.
        .only(*TABLE_TIE_FIELDS, *(f"{end}__{name}" for end in ("source", "target") for name in TABLE_END_FIELDS))
        .annotate(incoming=Case(When(source=institution, then=Value(0)), default=Value(1)))
        .order_by("incoming", "kind", "pk")
    )
    counted = ties.annotate(matched=Window(Count("pk")))
    rows = list(counted[(number - 1) * per_page : number * per_page])
    if not rows and number > 1:  # an address past the end (ties were removed): the last page
        number = max(1, math.ceil(ties.count() / per_page))
        rows = list(counted[(number - 1) * per_page : number * per_page])
    paginator = Paginator(range(rows[0].matched if rows else 0), per_page)
    outgoing, incoming = [], []
    for rel in rows:
        is_outgoing = rel.source_id == institution.pk
        counterpart = rel.target if is_outgoing else rel.source
        shown, not_public = shown_to(reader, counterpart)
        if not shown:
            continue
        label = rel.get_kind_display() if is_outgoing else INCOMING_LABELS.get(rel.kind, rel.get_kind_display())
        (outgoing if is_outgoing else incoming).append(Connection(rel, label, counterpart, is_outgoing, not_public))
    for side in (outgoing, incoming):
        side.sort(key=lambda c: (c.label, c.counterpart.name))
    return TiePage(Page(range(len(rows)), number, paginator), outgoing, incoming)
