"""What changed on profiles, as a reader at a given tier may see it.

One stream feeds the RSS/Atom feeds (an anonymous reader), the watchlist and digests (a member)
and a profile's changelog (`profiles.changelog`): new profiles, newly approved evidence, timeline
events and corrections. Visibility comes from the gate (`public_for(reader)`), never from the caller.

An update's `description` is the analyst's Markdown as written, citations included; it carries
the `citations` this reader may see (the same gate as the page: approved, in tier, of that
profile), so every output renders it with `profiles.markdown` — HTML in feeds and e-mail HTML,
`to_plain_text` where text is wanted — and a citation the reader may not see vanishes.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field, replace

from django.db.models import QuerySet

from membership.gating import reader_for

from . import corrections
from .citations import CitationContext, cited_ids
from .models import Correction, EvidenceItem, Institution, Relationship, TimelineEvent, Watchpoint


@dataclass(frozen=True)
class Update:
    kind: str  # a key of KIND_LABELS
    institution: Institution
    title: str
    description: str
    link: str
    at: datetime.datetime
    key: str  # stable id for feed GUIDs and digests
    #: The evidence cited in `description` that the reader may see; None: every citation hidden.
    citations: CitationContext | None = field(default=None, compare=False)
    #: The evidence the change is about or rests on (an approved source, an event's or watchpoint's
    #: source, a relationship's evidence), by id: whoever shows it asks the gate for it again.
    evidence_id: int | None = field(default=None, compare=False)

    @property
    def kind_label(self):
        return KIND_LABELS[self.kind]


KIND_LABELS = {
    "profile": "New profile",
    "evidence": "New source",
    "timeline": "Timeline",
    "watchpoint": "Watchpoint",
    "relationship": "Relationship",
    "correction": "Correction",
}


def _as_datetime(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(12, 0), tzinfo=datetime.UTC)


def updates_for(
    reader, institutions: QuerySet, *, since=None, limit: int = 50, watch_kinds: bool = False
) -> list[Update]:
    """Newest first, at most `limit`; `institutions` must already be `published()`.

    `watch_kinds` adds what followers care about beyond the feeds: watchpoints added or
    triggered, and newly approved relationships.
    """
    reader = reader_for(reader)
    profiles = institutions.only("pk", "name", "slug", "dek", "published_at")
    if since:
        profiles = profiles.filter(published_at__gt=since)
    evidence = (
        EvidenceItem.objects.public_for(reader)
        .filter(institution__in=institutions, reviewed_at__isnull=False)
        .select_related("institution")
        .order_by("-reviewed_at")
    )
    timeline = (
        TimelineEvent.objects.filter(institution__in=institutions, kind=TimelineEvent.Kind.EVENT)
        .select_related("institution")
        .order_by("-date", "-pk")
    )
    fixes = Correction.objects.filter(institution__in=institutions).select_related("institution")
    if since:
        evidence = evidence.filter(reviewed_at__gt=since)
        timeline = timeline.filter(created_at__gt=since)
        fixes = fixes.filter(published_at__gt=since)
    items = [
        Update("profile", p, p.name, p.dek, p.get_absolute_url(), p.published_at, f"profile-{p.pk}")
        for p in profiles.order_by("-published_at")[:limit]
    ]
    items += [
        Update(
            "evidence",
            e.institution,
            f"{e.institution.name}: {e.title}",
            f"{e.publisher}. {e.claim}",
            e.get_absolute_url(),
            e.reviewed_at,
            f"evidence-{e.pk}",
            evidence_id=e.pk,
        )
        for e in evidence[:limit]
    ]
    items += [
        Update(
            "timeline",
            t.institution,
            f"{t.institution.name}: {t.title}",
            t.text,
            t.get_absolute_url(),
            _as_datetime(t.date),
            f"timeline-{t.pk}",
            evidence_id=t.evidence_id,
        )
        for t in timeline[:limit]
    ]
    # A correction's note is plain text (`models.corrections`): escaped, it renders as written.
    items += [
        Update("correction", c.institution, c.institution.name, corrections.as_markdown(c.note),
               c.get_absolute_url(), c.published_at, f"correction-{c.pk}")
        for c in fixes[:limit]
    ]
    if watch_kinds:
        items += _watch_updates(reader, institutions, since=since, limit=limit)
    items.sort(key=lambda u: u.at, reverse=True)
    return _with_citations(reader, items[:limit])


def _with_citations(reader, items: list[Update]) -> list[Update]:
    """Each update with the citations its reader may see: one query for them all, none without any."""
    cited = {pk for item in items for pk in cited_ids(item.description)}
    if not cited:
        return items
    visible = EvidenceItem.objects.public_for(reader).filter(pk__in=cited).only("pk", "institution_id")
    by_institution: dict[int, list[EvidenceItem]] = {}
    for evidence in visible:
        by_institution.setdefault(evidence.institution_id, []).append(evidence)
    return [
        replace(item, citations=CitationContext(by_institution.get(item.institution.pk, ())))
        for item in items
    ]


def _watch_updates(reader, institutions, *, since, limit) -> list[Update]:
    watchpoints = (
        Watchpoint.objects.visible_to(reader)
        .filter(institution__in=institutions)
        .select_related("institution")
        .order_by("-created_at")
    )
    triggered = watchpoints.filter(status=Watchpoint.Status.TRIGGERED).order_by("-status_changed_at")
    relationships = (
        Relationship.objects.public_for(reader)
        .filter(source__in=institutions, reviewed_at__isnull=False)
        .select_related("source", "target")
        .order_by("-reviewed_at")
    )
    if since:
        watchpoints = watchpoints.filter(created_at__gt=since)
        triggered = triggered.filter(status_changed_at__gt=since)
        relationships = relationships.filter(reviewed_at__gt=since)
    items = [
        Update("watchpoint", w.institution, f"{w.institution.name}: new watchpoint", w.text,
               w.get_absolute_url(), w.created_at, f"watchpoint-{w.pk}", evidence_id=w.evidence_id)
        for w in watchpoints[:limit]
    ]
    items += [
        Update("watchpoint", w.institution, f"{w.institution.name}: watchpoint triggered",
               f"{w.text} {w.status_note}".strip(), w.get_absolute_url(), w.status_changed_at,
               f"watchpoint-{w.pk}-triggered", evidence_id=w.evidence_id)
        for w in triggered[:limit]
        if w.status_changed_at
    ]
    items += [
        Update("relationship", r.source, str(r), r.description, r.get_absolute_url(), r.reviewed_at,
               f"relationship-{r.pk}", evidence_id=r.evidence_id)
        for r in relationships[:limit]
    ]
    return items
