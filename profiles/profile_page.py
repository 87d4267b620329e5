"""What one reader sees of one profile: the page's lists, its cache look-up and its sections.

Decisions live here so templates only lay things out: which sections have content, which links
are shown, which blocks are open. Tier decisions go through `membership.gating` (`public_for`,
`split`); publication decisions through `Institution.is_published()`. Everything the page lists
comes in one query (`json_lists.fetch_lists`); the profile's row and the page's fragments come
from the cache in one round trip (`profile_lookup`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from membership.gating import Reader, granted_object_pks, split
from membership.models import Tier

from . import watch
from .cache import store_versioned, versioned_get_many
from .citations import CitationContext
from .graph import TIE_END_FIELDS, TIE_FIELDS, DependencySummary, dependency_rows, summarise_dependencies
from .json_lists import Rows, fetch_lists
from .markdown import split_lines
from .models import (
    Briefing,
    EvidenceItem,
    FAQItem,
    Institution,
    RelatedLink,
    Sector,
    TimelineEvent,
    Watchpoint,
)

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


@dataclass(frozen=True)
class Fragment:
    """One cacheable part of a page: its key (empty: render fresh), and its HTML when cached."""

    key: str = ""
    version: int = 0
    html: str | None = None


@dataclass(frozen=True)
class FragmentKeys:
    """The profile page's cacheable fragments for one reader."""

    head: Fragment = Fragment()
    top: Fragment = Fragment()
    body: Fragment = Fragment()


@dataclass(frozen=True)
class ProfileLookup:
    """What the cache holds for one profile page and reader: the profile's row (None on a miss)
    and the page's fragments for this reader's variant."""

    institution: Institution | None
    fragments: FragmentKeys
    record_key: str
    version: int
    #: The reader's cached followed profiles (`watch.followed_ids`), fetched in the same round trip.
    follows: dict | None = None

    def followed_ids(self, user) -> frozenset[int]:
        """The profiles this reader follows, from the entries fetched with the page when cached."""
        return watch.followed_ids(user, self.follows, use_cache=bool(profile_cache_timeout()))

    def remember(self, institution: Institution) -> None:
        """Store the profile's row under the version it was read in, for every reader after."""
        timeout = profile_cache_timeout()
        if timeout:
            store_versioned(self.record_key, self.version, institution, timeout)


def profile_cache_timeout() -> int:
    """Seconds a profile's row and fragments stay cached; 0 turns the profile page's caching off."""
    return settings.BTW_FRAGMENT_CACHE_TIMEOUT


def profile_lookup(slug: str, reader: Reader, request) -> ProfileLookup:
    """Render a profile once per content version and reader variant, not once per request.

    Everything a cached page needs comes back in one cache round trip: the content version, the
    profile's row (any status: the view decides who may open it) and its three fragments. The
    variant is everything the fragments show differently: the reader's level and state (which
    blocks open, which call to action), the briefings granted to them one by one, and for anonymous
    readers the path (their sign-in links return to it). Staff previews never use fragments.
    A reader who may follow profiles also gets their cached followed profiles in that round trip.
    """
    base = f"btw:profile:{slug}"
    keys = {"record": f"{base}:record"}
    if not reader.is_staff:
        variant = f"{reader.level}:{reader.state}"
        if reader.is_authenticated:
            variant += ":g" + ",".join(str(pk) for pk in granted_object_pks(reader, Briefing))
        else:
            variant += ":" + hashlib.sha256(request.get_full_path().encode()).hexdigest()[:16]
        keys |= {"head": f"{base}:head", "top": f"{base}:top:{variant}", "body": f"{base}:body:{variant}"}
    follow_keys = watch.follow_cache_keys(reader.user.pk) if watch.may_follow(reader.user) else []
    if not profile_cache_timeout():
        version, found, follows = 0, {}, None
    else:
        version, found, follows = versioned_get_many(list(keys.values()), plain=follow_keys)
    fragments = {
        name: Fragment(key, version, found.get(key)) for name, key in keys.items() if name != "record"
    }
    return ProfileLookup(
        found.get(keys["record"]), FragmentKeys(**fragments), keys["record"], version,
        follows if follow_keys else None,
    )


#: What the page shows of another profile it links to ("Also read").
LINK_TARGET_FIELDS = ("id", "name", "slug", "status", "published_at")


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
        sources=Rows(
            EvidenceItem.objects.public_for(reader).filter(institution=institution),
            related={"required_tier": None},
        ),
        watchpoints=Rows(Watchpoint.objects.open().filter(institution=institution), related={"required_tier": None}),
        briefings=Rows(Briefing.objects.filter(institution=institution), related={"required_tier": None}),
        faqs=Rows(FAQItem.objects.filter(institution=institution)),
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
    dependencies: DependencySummary | None = None
    show: dict[str, bool] = field(default_factory=dict)
    #: Numbers the [^ev:ID] citations this reader may see (passed to the markdown filters).
    citations: CitationContext | None = None

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
        dependencies=summarise_dependencies(institution, institution.page_dependencies),
        citations=CitationContext(sources),
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
