"""A profile's public changelog (`/profiles/<slug>/changes/`): what its reader could see change,
newest first, each change with the evidence behind it.

It reads the same update stream as the feeds, the watchlist and the digests (`updates.updates_for`,
with the watch kinds: new sources, timeline events, watchpoints, relationships, corrections), plus
the profile's "Public profile updated" timeline entries, whose text says which sections were
revised. Everything goes through the gate for this reader: an entry's text cites only the evidence
they may see, and the sources listed under it (the source the change is about or rests on, and the
ones its text cites) are read again through `EvidenceItem.objects.public_for(reader)` — so a
members-only source, or one retracted since, is never named, whatever the entry says.

Pages hold `PAGE_SIZE` entries. Entries come from several lists merged by date, so page `n` takes
the newest `n × PAGE_SIZE + 1` of each list (the one extra tells whether a next page exists): a
fixed number of queries per page, whatever the number of changes.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.http import Http404
from django.utils.safestring import SafeString

import siteurl
from membership.gating import Reader

from .citations import CitationContext, cited_ids
from .markdown import render_markdown
from .models import EvidenceItem, Institution, TimelineEvent
from .updates import KIND_LABELS, Update, updates_for

PAGE_SIZE = 50
#: Past this page the merge would read too many rows for one request; nobody pages that far by hand.
MAX_PAGE = 200
#: The kind of a "Public profile updated" entry (its label, beside the update stream's `KIND_LABELS`).
REVISION = "revision"
REVISION_LABEL = "Profile revised"
#: What the page shows of each source (the gate itself reads its tier and review state).
SOURCE_FIELDS = ("pk", "institution_id", "title", "publisher", "url")


@dataclass(frozen=True)
class Entry:
    """One change as the changelog lists it."""

    kind: str
    kind_label: str
    #: What changed, or the kind's label when the kind says it all (a new profile, a correction).
    title: str
    html: SafeString
    at: datetime.datetime
    #: Where on the profile page the change is (its anchor), absolute on the site's address.
    link: str
    #: The evidence behind the change that this reader may see.
    sources: tuple[EvidenceItem, ...]
    #: Whether `at` is a day rather than a moment (timeline entries are dated, not timed).
    dated_only: bool = False


@dataclass(frozen=True)
class ChangelogPage:
    institution: Institution
    entries: list[Entry]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def page_number(raw: str | None) -> int:
    """`?page=` as a page number; anything else (not a number, 0, negative, absurdly far) is a 404."""
    if raw is None or raw == "":
        return 1
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise Http404("No such page of changes.")
    return int(raw)


@dataclass(frozen=True)
class _Raw:
    kind: str
    title: str
    text: str
    at: datetime.datetime
    link: str
    evidence_id: int | None
    dated_only: bool = False


def _from_update(update: Update) -> _Raw:
    # The page is about one profile: a title that only names it ("Ohio Rack Works: Site chosen") loses it.
    title = update.title.removeprefix(f"{update.institution.name}: ")
    if title == update.institution.name:
        title = ""  # a new profile, a correction: the kind says it
    return _Raw(
        update.kind, title, update.description, update.at, update.link, update.evidence_id,
        dated_only=update.kind == "timeline",
    )


def _revisions(institution: Institution, limit: int) -> list[_Raw]:
    """The profile's "Public profile updated" entries: written only when readers' view changed."""
    rows = TimelineEvent.objects.filter(institution=institution, kind=TimelineEvent.Kind.PROFILE_UPDATE).order_by(
        "-date", "-pk"
    )[:limit]
    out = []
    for row in rows:
        row.institution = institution  # in hand already: its address costs no query per row
        out.append(_Raw(REVISION, row.title, row.text, _noon(row.date), row.get_absolute_url(), None, dated_only=True))
    return out


def _noon(day: datetime.date) -> datetime.datetime:
    """A dated entry's place among timed ones: the middle of its day (as the update stream places events)."""
    return datetime.datetime.combine(day, datetime.time(12, 0), tzinfo=datetime.UTC)


def changelog_page(reader: Reader, institution: Institution, *, number: int = 1) -> ChangelogPage:
    """Page `number` of a published profile's changelog for this reader; Http404 past the last page."""
    take = number * PAGE_SIZE + 1
    published = Institution.objects.published().filter(pk=institution.pk)
    raw = [_from_update(u) for u in updates_for(reader, published, limit=take, watch_kinds=True)]
    raw += _revisions(institution, take)
    raw.sort(key=lambda r: r.at, reverse=True)
    window = raw[(number - 1) * PAGE_SIZE : number * PAGE_SIZE + 1]
    if number > 1 and not window:
        raise Http404("No such page of changes.")
    has_next, window = len(window) > PAGE_SIZE, window[:PAGE_SIZE]
    return ChangelogPage(institution, _with_sources(reader, institution, window), number, has_next)


def _with_sources(reader: Reader, institution: Institution, rows: list[_Raw]) -> list[Entry]:
    """Each change rendered, with the sources behind it this reader may see: one query for them all."""
    wanted = {pk for row in rows for pk in _evidence_ids(row)}
    visible = {}
    if wanted:
        visible = {e.pk: e for e in EvidenceItem.objects.public_for(reader).filter(pk__in=wanted).only(*SOURCE_FIELDS)}
    page_url = siteurl.absolute(institution.get_absolute_url())
    entries = []
    for row in rows:
        sources = tuple(visible[pk] for pk in _evidence_ids(row) if pk in visible)
        # A citation is numbered only when it names this profile's evidence the reader may see.
        citations = CitationContext(s for s in sources if s.institution_id == institution.pk)
        label = REVISION_LABEL if row.kind == REVISION else KIND_LABELS[row.kind]
        entries.append(
            Entry(
                kind=row.kind,
                kind_label=label,
                title=row.title or label,
                html=render_markdown(row.text, citations, base_url=page_url),
                at=row.at,
                link=siteurl.absolute(row.link),
                sources=sources,
                dated_only=row.dated_only,
            )
        )
    return entries


def _evidence_ids(row: _Raw) -> list[int]:
    """The source the change is about or rests on, then those its text cites, each once."""
    ids = [row.evidence_id] if row.evidence_id else []
    return list(dict.fromkeys([*ids, *cited_ids(row.text)]))
