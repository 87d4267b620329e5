"""A profile's approved relationships as a list, each phrased from the profile's own side.

The relationship map shows them as a table beside (or, while staff preview, instead of) the drawing
(`map_drawing`): the same ties in words, with links, and every direct tie when the drawing had to
leave some out.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

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


MAP_TABLE_CAP = 300
#: What a row of the table shows of a tie and of its ends (the publication rule reads status and time).
TABLE_TIE_FIELDS = ("id", "kind", "description", "since", "source", "target", "review_state")
TABLE_END_FIELDS = ("id", "name", "slug", "status", "published_at")


def connections_for(reader: Reader, institution: Institution, *, cap: int = MAP_TABLE_CAP) -> list[Connection]:
    """Approved relationships in both directions (at most `cap`), whose other end the reader may see."""
    relationships = (
        Relationship.objects.public_for(reader)
        .filter(Q(source=institution) | Q(target=institution))
        .select_related("source", "target")
        # A hub's table is hundreds of rows: load what a row shows, not two whole profiles each
        # (a 1,277-tie hub's map: 82 → see bench/read_bench.py).
        .only(*TABLE_TIE_FIELDS, *(f"{end}__{name}" for end in ("source", "target") for name in TABLE_END_FIELDS))
        .order_by("kind", "pk")[:cap]
    )
    out = []
    for rel in relationships:
        outgoing = rel.source_id == institution.pk
        counterpart = rel.target if outgoing else rel.source
        shown, not_public = shown_to(reader, counterpart)
        if not shown:
            continue
        label = rel.get_kind_display() if outgoing else INCOMING_LABELS.get(rel.kind, rel.get_kind_display())
        out.append(Connection(rel, label, counterpart, outgoing, not_public))
    out.sort(key=lambda c: (not c.outgoing, c.label, c.counterpart.name))
    return out
