"""Builders for whole profile pages: every section filled, `n` rows in every list.

Rows are bulk-inserted (no per-row history) so a 200-row page builds in well under a second.
"""

import datetime

from django.utils import timezone

from membership.models import Tier
from profiles import sector_sets, tallies
from profiles.models import (
    Briefing,
    EvidenceItem,
    FAQItem,
    Institution,
    RelatedLink,
    Relationship,
    Sector,
    TimelineEvent,
    Watchpoint,
)

from .factories import InstitutionFactory, tier

FULL_TEXT_FIELDS = {
    "key_points": "- First key point with **emphasis**.\n- Second key point.",
    "headline": "Two companies agreed to co-design data-centre hardware.",
    "body": "The agreement covers racks, cabling and power.\n\n## Three aims\n\n- Design\n- Sourcing\n- Production",
    "domain_summary": "Tracked because sources tie it to compute supply chains.",
    "public_role": "A manufacturing and design partnership.",
    "operating_surface": "Market and North America.",
    "what_it_does": "Builds the physical layer of AI data centres.",
    "why_it_matters": "It could shorten the supply chain of AI compute.",
    "what_to_watch": "Purchase commitments and site announcements.",
    "public_view": "The public layer covers role, context and evidence.",
    "caveats": "Unverified claims are left out.\nNo purchase obligation exists yet.",
}


def full_profile(n: int = 1, **overrides) -> Institution:
    """A published profile with every section filled and `n` rows in each list."""
    circle, alliance = tier(Tier.STRATEGIC_CIRCLE_SLUG), tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    institution = InstitutionFactory(**{**FULL_TEXT_FIELDS, **overrides})
    sectors = Sector.objects.bulk_create(
        [Sector(name=f"{institution.slug} sector {k}", slug=f"{institution.slug}-s{k}") for k in range(n)]
    )
    institution.sectors.add(*sectors)
    evidence_tiers = [None, circle, alliance]
    EvidenceItem.objects.bulk_create(
        [
            EvidenceItem(
                institution=institution,
                url=f"https://news.example.org/{institution.slug}/{k}",
                publisher=f"Publisher {k}",
                title=f"Source title {k}",
                source_date=datetime.date(2025, 1, 1) + datetime.timedelta(days=k),
                claim="Supports the key points.",
                required_tier=evidence_tiers[k % 3],
                review_state=EvidenceItem.Review.APPROVED if k % 4 else EvidenceItem.Review.SUBMITTED,
            )
            for k in range(max(n, 4))
        ]
    )
    evidence = list(institution.evidence.all())
    TimelineEvent.objects.bulk_create(
        [
            TimelineEvent(
                institution=institution,
                date=datetime.date(2025, 6, 1) - datetime.timedelta(days=k),
                title=f"Timeline event {k}",
                text="Something *happened*.",
                evidence=evidence[k % len(evidence)],
            )
            for k in range(n)
        ]
    )
    Watchpoint.objects.bulk_create(
        [
            Watchpoint(institution=institution, text=f"Watch item {k}.", order=k, required_tier=evidence_tiers[k % 3])
            for k in range(n)
        ]
    )
    Briefing.objects.bulk_create(
        [
            Briefing(
                institution=institution,
                title=f"Briefing {k}",
                body=f"Briefing body {k}.",
                source_notes=f"Briefing notes {k}.",
                required_tier=circle if k % 2 == 0 else alliance,
                order=k,
            )
            for k in range(max(n, 2))
        ]
    )
    FAQItem.objects.bulk_create(
        [FAQItem(institution=institution, question=f"Question {k}?", answer="An *answer*.", order=k) for k in range(n)]
    )
    others = _neighbours(institution, n)
    RelatedLink.objects.bulk_create(
        [RelatedLink(institution=institution, title=f"Also read {k}", url=f"https://x.example.org/{k}", order=k)
         for k in range(n)]
        + [RelatedLink(institution=institution, target=other, order=n + k) for k, other in enumerate(others[:n])]
    )
    Relationship.objects.bulk_create(
        [
            Relationship(
                source=institution if k % 2 else other,
                target=other if k % 2 else institution,
                kind=Relationship.Kind.DEPENDS_ON,
                review_state=Relationship.Review.APPROVED,
            )
            for k, other in enumerate(others)
        ]
    )
    return institution


def _neighbours(institution: Institution, n: int) -> list[Institution]:
    published_at = timezone.now() - datetime.timedelta(days=3)
    return Institution.objects.bulk_create(
        [
            Institution(
                name=f"{institution.name} neighbour {k}",
                slug=f"{institution.slug}-n{k}",
                dek="A neighbour in the dependency map.",
                status=Institution.Status.PUBLISHED,
                published_at=published_at,
                public_updated_at=published_at,
            )
            for k in range(n)
        ]
    )


def published_profiles(n: int) -> list[Institution]:
    """`n` published profiles with a sector each, updated at distinct times."""
    now = timezone.now()
    sector = Sector.objects.create(name="Cloud", slug="cloud")
    created = Institution.objects.bulk_create(
        [
            Institution(
                name=f"Listed {k}",
                slug=f"listed-{k}",
                dek=f"Listed institution {k}.",
                status=Institution.Status.PUBLISHED,
                published_at=now - datetime.timedelta(days=2),
                public_updated_at=now - datetime.timedelta(minutes=k),
            )
            for k in range(n)
        ]
    )
    through = Institution.sectors.through
    through.objects.bulk_create([through(institution_id=i.pk, sector_id=sector.pk) for i in created])
    tallies.rebuild()  # bulk rows send no signals: the directory's counts are rebuilt, as seed_scale does
    sector_sets.refresh(i.pk for i in created)  # and each profile's copy of its sectors
    return created
