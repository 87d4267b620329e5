"""The read side of the public pages: what one reader sees of a profile, and the directory filters.

Decisions live here so templates only lay things out: which sections have content, which links
and connections are shown, which blocks are open. Tier decisions go through `membership.gating`
(`public_for`, `split`); publication decisions through `Institution.is_published()`.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from btwprofiles.json_lists import Rows, fetch_lists
from membership.gating import Reader, granted_object_pks, split
from membership.models import Tier

from . import facets, search, watch
from .cache import store_versioned, versioned_get_many
from .citations import CitationContext
from .graph import (
    TIE_END_FIELDS,
    TIE_FIELDS,
    DependencySummary,
    Edge,
    Graph,
    Node,
    dependency_rows,
    summarise_dependencies,
)
from .markdown import split_lines
from .models import (
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
    """The profiles matching the text query over public text only (`profiles.search`), unordered:
    full text on PostgreSQL, a substring fallback elsewhere. An empty query leaves the queryset as it
    is. Both the results and the facet counts start from it."""
    return search.matching(queryset, q or "")


def order_results(queryset, q: str | None):
    """Most relevant first when PostgreSQL ranks a query (last update and pk as tie-breakers, so
    pages never overlap); otherwise newest update first."""
    if q and search.is_full_text():
        return queryset.order_by(*search.rank_order(q))
    return queryset.recently_updated()


def directory_results(ordered, filters: dict[str, str]) -> search.Results:
    """The listing for the paginator (`search.Results`): its count and, for a ranked query, the
    order of its first pages cached per content version, query and filters; each page loads just
    its own rows, with their sectors and, for a query, their snippets."""
    q = filters.get("q")
    ranked = bool(q) and search.is_full_text()

    def rows(*, ids=None, span=None):
        if ids is not None:
            # By id, from the published profiles only; the order is the cached one.
            found = {p.pk: p for p in search.with_snippets(_card_rows(ordered.model.objects.published(), ids), q)}
            return [found[pk] for pk in ids if pk in found]
        start, stop = span
        return list(search.with_snippets(_card_rows(ordered, None), q or "")[start:stop])

    return search.Results(ordered.values_list("pk", flat=True), rows, filters, ranked=ranked)


def _card_rows(queryset, ids):
    queryset = queryset.defer("search_vector").for_listing().prefetch_related("sectors")
    return queryset if ids is None else queryset.filter(pk__in=ids).order_by()


def attach_snippets(profiles, q: str | None) -> None:
    """Give each result card its highlighted, escaped snippet of public text (`result_snippet`)."""
    for profile in profiles:
        profile.result_snippet = search.snippet(profile, q) if q else None


#: Query-string order of the directory's filters in canonical URLs.
FILTER_PARAMS = tuple(f.param for f in facets.ALL_FACETS)


def directory_canonical_url(request, filters: dict[str, str], page_number: int) -> str:
    """One URL per listing: known filters in a fixed order, the page when past the first, no text query
    (search result pages are marked noindex instead)."""
    params = [(name, filters[name]) for name in FILTER_PARAMS if name in filters]
    if page_number > 1:
        params.append(("page", page_number))
    url = reverse("profiles:directory") + (f"?{urlencode(params)}" if params else "")
    return request.build_absolute_uri(url)


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


# ---------------------------------------------------------------------------------------------
# Follow control (profile page)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowControl:
    """What the profile page offers for following.

    `state` is "member" (a POST form, follow or unfollow), "registered" (signed in but not a member:
    a link to the tiers) or "anonymous" (a plain sign-in link: the anonymous render carries no form
    and no CSRF token, so a shared cache can serve it to anyone).
    """

    state: str
    following: bool = False


def follow_control(user, institution: Institution, lookup: ProfileLookup) -> FollowControl | None:
    """None while the profile is not public (staff preview): only published profiles can be followed.
    For members, whether they already follow it: their followed profiles come with the page's cache
    look-up (one query when not cached)."""
    if not institution.is_published():
        return None
    if not getattr(user, "is_authenticated", False):
        return FollowControl("anonymous")
    if not watch.may_follow(user):
        return FollowControl("registered")
    return FollowControl("member", institution.pk in lookup.followed_ids(user))


# ---------------------------------------------------------------------------------------------
# Relationship map
# ---------------------------------------------------------------------------------------------

#: Circle radius by hop: the profile itself is drawn largest.
NODE_RADIUS = {0: 30, 1: 17, 2: 11}
#: Room around graph.width × graph.height for the labels of the outer ring.
MAP_MARGIN_X, MAP_MARGIN_Y = 180, 36
#: The drawing is cropped to what is drawn, but never smaller than this (a map of one tie stays calm).
MAP_MIN_WIDTH, MAP_MIN_HEIGHT = 560, 320
MAP_PADDING = 12
LABEL_GAP = 6
#: Rough advance of one label character (13px sans; 16px bold serif for the centre), for cropping.
LABEL_CHAR_WIDTH, CENTER_CHAR_WIDTH = 7.2, 8.6
#: Longest label by hop; longer names are cut with an ellipsis.
LABEL_CHARS = {0: 34, 1: 24, 2: 20}
#: Distance between parallel lines when two institutions are tied more than once.
PARALLEL_GAP = 7
#: Kinds drawn without an arrowhead: the tie reads the same both ways.
SYMMETRIC_KINDS = frozenset({Relationship.Kind.PARTNER})


@dataclass(frozen=True)
class DrawnNode:
    node: Node
    r: float
    label_x: float
    label_y: float
    anchor: str  # SVG text-anchor: start, middle or end

    @property
    def is_center(self) -> bool:
        return self.node.hop == 0

    @property
    def label(self) -> str:
        """The name, cut shorter the further out the node sits (the full name is in its tooltip and the table)."""
        limit = LABEL_CHARS[self.node.hop]
        name = self.node.name
        return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"

    @property
    def label_width(self) -> float:
        return len(self.label) * (CENTER_CHAR_WIDTH if self.is_center else LABEL_CHAR_WIDTH)


@dataclass(frozen=True)
class DrawnEdge:
    edge: Edge
    x1: float
    y1: float
    x2: float
    y2: float
    arrow: bool


@dataclass
class MapDrawing:
    """The graph as SVG geometry plus its text equivalents; the template only prints numbers and words."""

    graph: Graph
    nodes: list[DrawnNode]
    edges: list[DrawnEdge]
    # The SVG's viewBox in the layout's coordinates (graph.width × graph.height plus room for labels),
    # cropped to what is drawn; width and height are also its intrinsic size, so it is drawn 1:1.
    min_x: int
    min_y: int
    width: int
    height: int
    summary: str
    more_direct: str = ""  # "and N more direct relationships not drawn"
    more_indirect: str = ""  # the same for ties two steps away

    @property
    def kinds(self):
        return self.graph.kinds

    @property
    def view_box(self) -> str:
        return f"{self.min_x} {self.min_y} {self.width} {self.height}"

    @property
    def more_lines(self) -> list[str]:
        return [line for line in (self.more_direct, self.more_indirect) if line]


def _label(node: Node, r: float) -> tuple[float, float, str]:
    """Labels sit outside the drawing's centre: beside nodes on the left and right, above or below
    nodes at the top and bottom of the inner ring, so neighbouring names rarely collide. The outer
    ring's labels always point away from the middle, as its nodes come in pairs."""
    if node.hop == 0:
        return node.x, node.y + r + 18, "middle"
    dx, dy = math.cos(node.angle), math.sin(node.angle)
    side = 0.35 if node.hop == 1 else 0.08
    if dx > side:
        return node.x + r + LABEL_GAP, node.y + 4, "start"
    if dx < -side:
        return node.x - r - LABEL_GAP, node.y + 4, "end"
    if dy > 0:
        return node.x, node.y + r + 14, "middle"
    return node.x, node.y - r - LABEL_GAP, "middle"


def _extent(d: DrawnNode) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a node and its label, the label's width estimated from its length."""
    n = d.node
    label_width = d.label_width
    left = {"start": d.label_x, "end": d.label_x - label_width}.get(d.anchor, d.label_x - label_width / 2)
    return (
        min(n.x - d.r, left),
        min(n.y - d.r, d.label_y - 14),
        max(n.x + d.r, left + label_width),
        max(n.y + d.r, d.label_y + 5),
    )


def _frame(graph: Graph, nodes: list[DrawnNode]) -> tuple[int, int, int, int]:
    """The viewBox: everything drawn plus padding, at least the minimum size, inside the layout's frame."""
    extents = [_extent(d) for d in nodes]
    left = min(e[0] for e in extents) - MAP_PADDING
    top = min(e[1] for e in extents) - MAP_PADDING
    right = max(e[2] for e in extents) + MAP_PADDING
    bottom = max(e[3] for e in extents) + MAP_PADDING
    grow_x = max(MAP_MIN_WIDTH - (right - left), 0) / 2
    grow_y = max(MAP_MIN_HEIGHT - (bottom - top), 0) / 2
    left = max(left - grow_x, -MAP_MARGIN_X)
    top = max(top - grow_y, -MAP_MARGIN_Y)
    right = min(right + grow_x, graph.width + MAP_MARGIN_X)
    bottom = min(bottom + grow_y, graph.height + MAP_MARGIN_Y)
    return math.floor(left), math.floor(top), math.ceil(right - left), math.ceil(bottom - top)


def _edge_geometry(edge: Edge, offset: float) -> tuple[float, float, float, float]:
    """A line from circle edge to circle edge (room left for the arrowhead), shifted sideways by `offset`."""
    s, t = edge.source, edge.target
    dx, dy = t.x - s.x, t.y - s.y
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    nx, ny = -uy, ux
    rs, rt = NODE_RADIUS[s.hop], NODE_RADIUS[t.hop] + 2
    if length <= rs + rt:
        rs = rt = 0
    return (
        round(s.x + ux * rs + nx * offset, 1),
        round(s.y + uy * rs + ny * offset, 1),
        round(t.x - ux * rt + nx * offset, 1),
        round(t.y - uy * rt + ny * offset, 1),
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def map_summary(graph: Graph) -> str:
    """The map in one sentence, for screen readers (the SVG's accessible name) and as its caption."""
    others = len(graph.nodes) - 1
    counts = Counter(e.kind_label.lower() for e in graph.edges)
    kinds = ", ".join(f"{label} ({n})" for label, n in sorted(counts.items()))
    return (
        f"{graph.center.name} and {_plural(others, 'connected institution')}, linked by "
        f"{_plural(len(graph.edges), 'approved relationship')} up to two steps away: {kinds}."
    )


def map_more_lines(graph: Graph) -> tuple[str, str]:
    """The "and N more" lines for the relationships the fan-out cap left out of the drawing."""
    direct, indirect = graph.more.get(1, 0), graph.more.get(2, 0)
    return (
        f"and {direct} more direct relationship{'' if direct == 1 else 's'} not drawn" if direct else "",
        f"and {indirect} more relationship{'' if indirect == 1 else 's'} two steps away not drawn" if indirect else "",
    )


def map_drawing(graph: Graph) -> MapDrawing:
    """Turn `graph.neighbourhood()` into what the template draws: circles, labels and edge lines."""
    nodes = []
    for node in graph.nodes:
        r = NODE_RADIUS[node.hop]
        label_x, label_y, anchor = _label(node, r)
        nodes.append(DrawnNode(node, r, round(label_x, 1), round(label_y, 1), anchor))
    # Centre node last, so it is painted over the lines and labels of its neighbours.
    nodes.sort(key=lambda d: d.is_center)
    # Two institutions tied more than once get parallel lines, spread around the straight one.
    by_pair: dict[tuple[int, int], list[Edge]] = {}
    for edge in graph.edges:
        by_pair.setdefault(tuple(sorted((edge.source.pk, edge.target.pk))), []).append(edge)
    offsets = {}
    for pair, same in by_pair.items():
        for k, edge in enumerate(same):
            offset = (k - (len(same) - 1) / 2) * PARALLEL_GAP
            offsets[id(edge)] = offset if edge.source.pk == pair[0] else -offset  # the normal flips with direction
    edges = [
        DrawnEdge(edge, *_edge_geometry(edge, offsets[id(edge)]), arrow=edge.kind not in SYMMETRIC_KINDS)
        for edge in graph.edges
    ]
    return MapDrawing(graph, nodes, edges, *_frame(graph, nodes), map_summary(graph), *map_more_lines(graph))
