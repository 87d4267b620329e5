"""What each resource of the data layer shows a reader, written once.

Every output of the data layer — the API's lists and details, the change stream (what is visible
now, and so what is a tombstone), the bulk dumps — starts from these querysets. They are the page's
own reads through the gate: published profiles, evidence and relationships `public_for` the reader,
open watchpoints at or below the reader's tier, timeline entries of published profiles.
"""

from __future__ import annotations

from django.db.models import QuerySet

from membership.gating import Reader

from ..models import (
    Briefing,
    EvidenceItem,
    Institution,
    Relationship,
    TimelineEvent,
    Watchpoint,
    published_condition,
)


def institutions(reader: Reader) -> QuerySet:
    return Institution.objects.published().defer("search_vector")


def evidence(reader: Reader) -> QuerySet:
    return EvidenceItem.objects.public_for(reader)


def relationships(reader: Reader) -> QuerySet:
    return Relationship.objects.public_for(reader)


def watchpoints(reader: Reader) -> QuerySet:
    """Open watchpoints (watching or triggered, as the page lists them) open to the reader's tier."""
    return Watchpoint.objects.open().visible_to(reader).filter(published_condition("institution__"))


def timeline(reader: Reader) -> QuerySet:
    return TimelineEvent.objects.filter(published_condition("institution__"))


def briefings(reader: Reader) -> QuerySet:
    """Every briefing of published profiles: open ones are written out whole, the rest as locked
    blocks (title and tier) — `membership.gating.split` decides which, as on the page."""
    return Briefing.objects.filter(published_condition("institution__")).select_related("required_tier")
