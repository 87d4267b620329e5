"""What one reader sees of one profile: the page object — its sections, lists and open blocks.

Decisions live here so templates only lay things out: which sections have content, which links
are shown, which blocks are open. Tier decisions go through `membership.gating` (`public_for`,
`split`); publication decisions through `Institution.is_published()`. Everything the page lists
comes in one query (`json_lists.fetch_lists`). Caching the rendered page is `profile_parts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from membership.gating import Reader, split
from membership.models import Tier

from .citations import CitationContext
from .graph import TIE_END_FIELDS, TIE_FIELDS, DependencySummary, dependency_rows, summarise_dependencies
from .json_lists import Rows, fetch_lists
from .markdown import split_lines
from .models import (
    Briefing,
    Correction,
    EvidenceItem,
    FAQItem,
    Identifier,
    Institution,
    RelatedLink,
    ReviewState,
    Sector,
    TimelineEvent,
    Watchpoint,
)
from .structured_data import GATED_SECTION_CLASS


@dataclass(frozen=True)
class Section:
    """One section of the profile page: its anchor, the title it has under "On this page", and how
    its card is headed. Its content is the template `profiles/profile/sections/<key>.html`."""

    key: str
    title: str
    heading: str = ""
    kicker: str = ""
    css_class: str = ""

    @property
    def anchor(self) -> str:
        return self.key.replace("_", "-")

    @property
    def card_heading(self) -> str:
        return self.heading or self.title

    @property
    def template(self) -> str:
        return f"profiles/profile/sections/{self.key}.html"


#: Reading order of the profile page.
SECTIONS = (
    Section("key_points", "Key points"),
    Section("what_happened", "What happened"),
    Section("also_read", "Also read", css_class="also-read"),
    Section("domain", "Domain of operation"),
    Section("timeline", "Timeline"),
    Section("at_a_glance", "At a glance"),
    Section("what_it_does", "What it does"),
    Section("why_it_matters", "Why it matters"),
    Section("what_to_watch", "What to watch"),
    Section(
        "briefings",
        "Member briefing",
        heading="Deeper profile context",
        kicker="Member briefing",
        css_class=f"briefings {GATED_SECTION_CLASS}",
    ),
    Section("public_view", "Public view"),
    Section("watchpoints", "Watchpoints"),
    Section("dependencies", "Dependencies"),
    Section("caveats", "Caveats"),
    Section("faq", "FAQ"),
    Section("sources", "Sources"),
)

#: Sections laid out around the main column (the lead and the sidebar), so not listed under "On this page".
OUTSIDE_CONTENTS = frozenset({"key_points", "at_a_glance"})



#: What the page shows of another profile it links to ("Also read").
LINK_TARGET_FIELDS = ("id", "name", "slug", "status", "published_at")


def sources_for(reader: Reader):
    """The evidence a reader's page lists: what `public_for` opens to them; staff reading with full
    sight ("Staff (everything)") also see the items waiting for review, so an analyst sees how a
    source will look before it is approved (the page marks them "pending review"). Staff parts are
    never cached (`profile_parts.lookup`), and a "view as tier" preview reads as that tier: no reader
    render ever holds a pending item."""
    if reader.sees_everything:
        return EvidenceItem.objects.previewed().visible_to(reader)
    return EvidenceItem.objects.public_for(reader)


def with_profile_lists(institution: Institution, reader: Reader) -> Institution:
    """Everything the profile page lists, as `page_*` attributes, in one query whatever the lengths.

    Each list is the queryset a prefetch would run (the reader's sources through the gate, open
    watchpoints, ...); `json_lists.fetch_lists` sends them to the database as one SELECT.
    """
    at = timezone.now()
    lists = fetch_lists(
        sectors=Rows(Sector.objects.filter(institutions=institution)),
        links=Rows(
            RelatedLink.objects.filter(institution=institution),
            related={"target": LINK_TARGET_FIELDS},
        ),
        timeline=Rows(TimelineEvent.objects.filter(institution=institution)),
        sources=Rows(sources_for(reader).filter(institution=institution), related={"required_tier": None}),
        watchpoints=Rows(Watchpoint.objects.open().filter(institution=institution), related={"required_tier": None}),
        briefings=Rows(Briefing.objects.filter(institution=institution), related={"required_tier": None}),
        faqs=Rows(FAQItem.objects.filter(institution=institution)),
        identifiers=Rows(Identifier.objects.filter(institution=institution), fields=("scheme", "value")),
        corrections=Rows(Correction.objects.filter(institution=institution), fields=("note", "published_at")),
        dependencies=Rows(
            dependency_rows(institution, at=at),
            fields=TIE_FIELDS,
            related={"source": TIE_END_FIELDS, "target": TIE_END_FIELDS},
        ),
    )
    for name, rows in lists.items():
        setattr(institution, f"page_{name}", rows)
    return institution


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


@dataclass
class ProfilePage:
    institution: Institution
    reader: Reader
    key_points: list[str] = field(default_factory=list)
    sectors: list[Sector] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    also_read: list[AlsoRead] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    sources: list[EvidenceItem] = field(default_factory=list)
    briefings: list = field(default_factory=list)
    watchpoints: list = field(default_factory=list)
    faqs: list[FAQItem] = field(default_factory=list)
    #: Ids in other datasets, under "At a glance": public facts, shown to every reader.
    identifiers: list[Identifier] = field(default_factory=list)
    #: "Correction, 3 December 2026: …", newest first: public notes, the same for every reader.
    corrections: list[Correction] = field(default_factory=list)
    dependencies: DependencySummary | None = None
    show: dict[str, bool] = field(default_factory=dict)
    #: Numbers the [^ev:ID] citations this reader may see (passed to the markdown filters).
    citations: CitationContext | None = None
    #: Sources listed while still waiting for review (staff preview with full sight only: `sources_for`).
    pending_ids: frozenset[int] = frozenset()

    @property
    def main_sections(self) -> list[Section]:
        """The cards of the main column this reader will see, in reading order (also "On this page")."""
        return [s for s in SECTIONS if self.show.get(s.key) and s.key not in OUTSIDE_CONTENTS]

    @property
    def has_locked_briefings(self) -> bool:
        return any(getattr(b, "locked", False) for b in self.briefings)


def shown_to(reader: Reader, other: Institution) -> tuple[bool, bool]:
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
            shown, not_public = shown_to(reader, link.target)
            if shown:
                out.append(AlsoRead(link.display_title, link.target.get_absolute_url(), False, not_public))
        elif link.url:
            out.append(AlsoRead(link.display_title, link.url, True))
    return out


def _open(blocks) -> list:
    """The blocks of a `split` list this reader may read (locked ones show only their title)."""
    return [b for b in blocks if not getattr(b, "locked", False)]


#: The Markdown each section renders from the page object, in the order its template renders it.
_SECTION_TEXTS = {
    "key_points": lambda page: page.key_points,
    "what_happened": lambda page: [page.institution.body],
    "domain": lambda page: [
        page.institution.domain_summary,
        page.institution.public_role,
        page.institution.operating_surface,
    ],
    "timeline": lambda page: [entry.event.text for entry in page.timeline],
    "what_it_does": lambda page: [page.institution.what_it_does],
    "why_it_matters": lambda page: [page.institution.why_it_matters],
    "what_to_watch": lambda page: [page.institution.what_to_watch],
    "briefings": lambda page: [text for b in _open(page.briefings) for text in (b.body, b.source_notes)],
    "public_view": lambda page: [page.institution.public_view],
    "watchpoints": lambda page: [
        text
        for entry in _open(page.watchpoints)
        for text in (
            entry.watchpoint.text,
            entry.watchpoint.status_note if entry.watchpoint.status == Watchpoint.Status.TRIGGERED else "",
        )
    ],
    "caveats": lambda page: page.caveats,
    "faq": lambda page: [faq.answer for faq in page.faqs],
}


def reading_texts(page: ProfilePage) -> list[tuple[str, str]]:
    """(section key, Markdown) of every text this reader's page renders, in reading order: the
    sections shown, in `SECTIONS` order, each text as its template renders it. Locked briefings
    and watchpoints contribute nothing, so what they cite is never numbered for this reader."""
    return [
        (section.key, text)
        for section in SECTIONS
        if page.show.get(section.key) and section.key in _SECTION_TEXTS
        for text in _SECTION_TEXTS[section.key](page)
        if text
    ]


def build_profile_page(institution: Institution, reader: Reader) -> ProfilePage:
    """Assemble the page from an institution whose lists `with_profile_lists(institution, reader)` loaded."""
    sources = list(institution.page_sources)
    visible_sources = {item.pk: item for item in sources}
    page = ProfilePage(
        institution=institution,
        reader=reader,
        key_points=split_lines(institution.key_points),
        caveats=split_lines(institution.caveats),
        sectors=institution.page_sectors,
        also_read=also_read_links(reader, institution.page_links),
        # Timeline entries and watchpoints cite evidence only when it is among this reader's sources.
        timeline=[TimelineEntry(e, visible_sources.get(e.evidence_id)) for e in institution.page_timeline],
        sources=sources,
        briefings=split(reader, institution.page_briefings),
        watchpoints=[
            w if getattr(w, "locked", False) else WatchpointEntry(w, visible_sources.get(w.evidence_id))
            for w in split(reader, institution.page_watchpoints)
        ],
        faqs=institution.page_faqs,
        identifiers=sorted(institution.page_identifiers, key=lambda identifier: identifier.display_order),
        corrections=getattr(institution, "page_corrections", []),
        dependencies=summarise_dependencies(institution, institution.page_dependencies),
        citations=CitationContext(sources),
        pending_ids=frozenset(item.pk for item in sources if item.review_state != ReviewState.APPROVED),
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
    # A source's number is the order of its first citation in reading order, and the Sources list
    # follows it: cited sources by number, then the uncited ones in their own order.
    page.citations.number_texts(text for _, text in reading_texts(page))
    page.sources = page.citations.in_citation_order(page.sources)
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
