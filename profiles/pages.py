"""The read side of the public pages: what one reader sees of a profile, and the directory filters.

Decisions live here so templates only lay things out: which sections have content, which links
and connections are shown, which blocks are open. Tier decisions go through `membership.gating`
(`public_for`, `split`); publication decisions through `Institution.is_published()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from membership.gating import Reader, split
from membership.models import Tier

from . import facets
from .graph import DependencySummary, dependency_summary
from .markdown import split_lines
from .models import Briefing, EvidenceItem, FAQItem, Institution, RelatedLink, Relationship, TimelineEvent, Watchpoint
from .search import clean_query

DIRECTORY_PAGE_SIZE = 20
HOME_RECENT_COUNT = 6

# ---------------------------------------------------------------------------------------------
# Profile page
# ---------------------------------------------------------------------------------------------

#: Reading order of the profile page: (key, heading). The anchor is the key with dashes.
SECTIONS = (
    ("key_points", "Key points"),
    ("what_happened", "What happened"),
    ("also_read", "Also read"),
    ("domain", "Domain of operation"),
    ("timeline", "Timeline"),
    ("at_a_glance", "At a glance"),
    ("what_it_does", "What it does"),
    ("why_it_matters", "Why it matters"),
    ("what_to_watch", "What to watch"),
    ("briefings", "Member briefing"),
    ("public_view", "Public view"),
    ("watchpoints", "Watchpoints"),
    ("dependencies", "Dependencies"),
    ("caveats", "Caveats"),
    ("faq", "FAQ"),
    ("sources", "Sources"),
)

#: Sections laid out around the body (lead and sidebar), so not listed under "On this page".
OUTSIDE_CONTENTS = frozenset({"key_points", "at_a_glance"})

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


def profile_prefetches(reader: Reader) -> list:
    """Everything the profile page lists, one query per list whatever its length."""
    return [
        "sectors",
        Prefetch("related_links", queryset=RelatedLink.objects.select_related("target"), to_attr="page_links"),
        Prefetch("timeline", queryset=TimelineEvent.objects.all(), to_attr="page_timeline"),
        Prefetch(
            "evidence",
            queryset=EvidenceItem.objects.public_for(reader).select_related("required_tier"),
            to_attr="page_sources",
        ),
        Prefetch(
            "watchpoints",
            queryset=Watchpoint.objects.open().select_related("required_tier"),
            to_attr="page_watchpoints",
        ),
        Prefetch("briefings", queryset=Briefing.objects.select_related("required_tier"), to_attr="page_briefings"),
        Prefetch("faqs", queryset=FAQItem.objects.all(), to_attr="page_faqs"),
    ]


@dataclass(frozen=True)
class AlsoRead:
    title: str
    url: str
    external: bool
    not_public: bool = False


@dataclass(frozen=True)
class TimelineEntry:
    event: TimelineEvent
    source: EvidenceItem | None


@dataclass(frozen=True)
class WatchpointEntry:
    """An open watchpoint, with the source of its trigger when the reader may see that source."""

    watchpoint: Watchpoint
    source: EvidenceItem | None
    locked: bool = False


@dataclass(frozen=True)
class Connection:
    """One approved relationship, phrased from the profile's own side."""

    relationship: Relationship
    label: str
    counterpart: Institution
    outgoing: bool
    not_public: bool = False


@dataclass
class ProfilePage:
    institution: Institution
    reader: Reader
    key_points: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    also_read: list[AlsoRead] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    sources: list[EvidenceItem] = field(default_factory=list)
    briefings: list = field(default_factory=list)
    watchpoints: list = field(default_factory=list)
    faqs: list[FAQItem] = field(default_factory=list)
    dependencies: DependencySummary | None = None
    show: dict[str, bool] = field(default_factory=dict)

    @property
    def contents(self) -> list[tuple[str, str]]:
        """The table of contents: the body sections this reader will actually see."""
        return [
            (key.replace("_", "-"), title)
            for key, title in SECTIONS
            if self.show.get(key) and key not in OUTSIDE_CONTENTS
        ]

    @property
    def has_locked_briefings(self) -> bool:
        return any(getattr(b, "locked", False) for b in self.briefings)


def _shown_to(reader: Reader, other: Institution) -> tuple[bool, bool]:
    """(shown, preview-only): a link to another profile appears only while it is published;
    staff previewing with full sight also see links to unpublished ones, marked as such."""
    if other.is_published():
        return True, False
    if reader.sees_everything:
        return True, True
    return False, False


def also_read_links(reader: Reader, links) -> list[AlsoRead]:
    out = []
    for link in links:
        if link.target_id:
            shown, not_public = _shown_to(reader, link.target)
            if shown:
                out.append(AlsoRead(link.display_title, link.target.get_absolute_url(), False, not_public))
        elif link.url:
            out.append(AlsoRead(link.display_title, link.url, True))
    return out


MAP_TABLE_CAP = 300


def connections_for(reader: Reader, institution: Institution, *, cap: int = MAP_TABLE_CAP) -> list[Connection]:
    """Approved relationships in both directions (at most `cap`), whose other end the reader may see."""
    relationships = (
        Relationship.objects.public_for(reader)
        .filter(Q(source=institution) | Q(target=institution))
        .select_related("source", "target")
        .order_by("kind", "pk")[:cap]
    )
    out = []
    for rel in relationships:
        outgoing = rel.source_id == institution.pk
        counterpart = rel.target if outgoing else rel.source
        shown, not_public = _shown_to(reader, counterpart)
        if not shown:
            continue
        label = rel.get_kind_display() if outgoing else INCOMING_LABELS.get(rel.kind, rel.get_kind_display())
        out.append(Connection(rel, label, counterpart, outgoing, not_public))
    out.sort(key=lambda c: (not c.outgoing, c.label, c.counterpart.name))
    return out


def build_profile_page(institution: Institution, reader: Reader) -> ProfilePage:
    """Assemble the page from an institution fetched with `profile_prefetches(reader)`."""
    sources = list(institution.page_sources)
    visible_sources = {item.pk: item for item in sources}
    page = ProfilePage(
        institution=institution,
        reader=reader,
        key_points=split_lines(institution.key_points),
        caveats=split_lines(institution.caveats),
        also_read=also_read_links(reader, institution.page_links),
        # Timeline entries and watchpoints cite evidence only when it is among this reader's sources.
        timeline=[TimelineEntry(e, visible_sources.get(e.evidence_id)) for e in institution.page_timeline],
        sources=sources,
        briefings=split(reader, institution.page_briefings),
        watchpoints=[
            w if getattr(w, "locked", False) else WatchpointEntry(w, visible_sources.get(w.evidence_id))
            for w in split(reader, institution.page_watchpoints)
        ],
        faqs=list(institution.page_faqs),
        dependencies=dependency_summary(institution),
    )
    i = institution
    page.show = {
        "key_points": bool(page.key_points),
        "what_happened": bool(i.headline.strip() or i.body.strip()),
        "also_read": bool(page.also_read),
        "domain": bool(i.domain_summary.strip() or i.public_role.strip() or i.operating_surface.strip()),
        "timeline": bool(page.timeline),
        "at_a_glance": True,
        "what_it_does": bool(i.what_it_does.strip()),
        # Criticality and horizon always carry an assessment, so this section always has content.
        "why_it_matters": True,
        "what_to_watch": bool(i.what_to_watch.strip()),
        "briefings": bool(page.briefings),
        "public_view": bool(i.public_view.strip()),
        "watchpoints": bool(page.watchpoints),
        "dependencies": bool(page.dependencies.depends_on or page.dependencies.depended_on_by),
        "caveats": bool(page.caveats),
        "faq": bool(page.faqs),
        "sources": bool(page.sources),
    }
    return page


@dataclass(frozen=True)
class TierSwitch:
    slug: str
    name: str
    current: bool


@dataclass(frozen=True)
class StaffPreview:
    """What staff see above a profile: whether it is public, and the "view as tier" switch."""

    is_public: bool
    status_label: str
    scheduled_for: object
    viewing_as: Tier | None
    tiers: list[TierSwitch]
    edit_url: str | None


def staff_preview(institution: Institution, reader: Reader) -> StaffPreview | None:
    if not reader.is_staff:
        return None
    now = timezone.now()
    if institution.is_published(now):
        label = "Published"
    elif institution.is_scheduled(now):
        label = "Scheduled"
    else:
        label = institution.get_status_display()
    current = reader.viewing_as.slug if reader.viewing_as else None
    try:
        edit_url = reverse("admin:profiles_institution_change", args=[institution.pk])
    except NoReverseMatch:
        edit_url = None
    return StaffPreview(
        is_public=institution.is_published(now),
        status_label=label,
        scheduled_for=institution.published_at if institution.is_scheduled(now) else None,
        viewing_as=reader.viewing_as,
        tiers=[TierSwitch(t.slug, t.name, t.slug == current) for t in Tier.objects.all()],
        edit_url=edit_url,
    )


# ---------------------------------------------------------------------------------------------
# Directory
# ---------------------------------------------------------------------------------------------


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
    """The text query. A plain substring match for now; full-text search replaces it here."""
    if not q:
        return queryset
    return queryset.filter(Q(name__icontains=q) | Q(dek__icontains=q))


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


def filter_fields(filters: dict[str, str], counts: dict, sectors) -> list[FilterField]:
    """Each facet as a select, its options labelled with how many results they would give."""
    fields = []
    for facet in facets.ENUM_FACETS:
        choices = [
            FilterChoice(o.value, f"{o.label} ({o.count})", o.selected) for o in counts.get(facet.param, [])
        ]
        any_label = ANY_LABELS.get(facet.param, f"Any {facet.label.lower()}")
        fields.append(FilterField(facet.param, LABELS.get(facet.param, facet.label), any_label, choices))
    sector_hits = {o.value: o.count for o in counts.get(facets.SECTOR_FACET.param, [])}
    sector_choices = [
        FilterChoice(s.slug, f"{s.name} ({sector_hits.get(s.slug, 0)})", filters.get("sector") == s.slug)
        for s in sectors
    ]
    fields.append(FilterField("sector", "Sector", "Any sector", sector_choices))
    return fields
