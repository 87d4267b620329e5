"""A profile as readers saw it on a past day ("as of" views), rebuilt from the history tables.

`/profiles/<slug>/?as_of=YYYY-MM-DD` (and the API's `as_of`) show the public layer at the END of that
day in the site's timezone: the profile's fields then, and the evidence, relationships, watchpoints,
timeline, FAQ, links, identifiers and briefings that existed then, each in its state then. The page
is built by the live page's own `build_profile_page` from Institution and child instances made of
history rows (the same `page_*` lists `with_profile_lists` sets), so it renders with the same
section templates; every list comes back in one query (`json_lists.fetch_lists`), whatever the
number of items or revisions.

What the as-of view adds to the live rules, and why:

- **Then and now.** An item shows only when the gate opens it as it was then AND as it is now: a tier
  raised since must not reveal the text that was public then. Both verdicts come from
  `membership.gating.split`; nothing here compares levels. An item locked now is handed to the page
  as its current row, so the page's own `split` shows its title and current tier only.
- **Withdrawn evidence.** Evidence approved then but retracted or deleted since is not listed; the
  page says "retracted on <date>" / "removed on <date>" for it, with no title, claim, quote,
  publisher or address (`AsOfProfile.retracted`).
- **Other profiles** (relationship ends, "Also read" targets) show only when they were published then
  and are published now: an unpublished profile's name is locked text (gating rule 4).
- **Publication.** A profile not published now, not published on that day, or without history by
  then has no as-of view (None → 404).

Sectors are a many-to-many without history: the page shows the profile's current sectors (public tags).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from membership.gating import Reader, reader_for, split

from .graph import FANOUT_CAP
from .json_lists import Rows, fetch_lists
from .models import (
    Briefing,
    Correction,
    EvidenceItem,
    FAQItem,
    Identifier,
    Institution,
    RelatedLink,
    Relationship,
    ReviewState,
    Sector,
    TimelineEvent,
    Watchpoint,
)
from .profile_page import ProfilePage, build_profile_page

#: The query parameter of the pages and the API.
PARAM = "as_of"
#: What a withdrawn source's line says happened to it.
RETRACTED, REMOVED = "retracted", "removed"

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Relationship kinds the profile page lists under "Dependencies" (`graph.dependency_rows`).
_DEPENDENCY_KINDS = (Relationship.Kind.DEPENDS_ON, Relationship.Kind.SUPPLIER)
#: What the page needs of a profile at the other end of a tie or link, then and now.
_OTHER_FIELDS = ("id", "name", "slug", "type", "status", "published_at")
#: What the gate and a locked block need of an item as it is now.
#: The lists of objects as they stood (one history row each); "withdrawn" keeps every row after the day.
_ONE_ROW_PER_OBJECT = (
    "sources", "timeline", "watchpoints", "briefings", "faqs", "identifiers", "links", "relationships", "others_then"
)
_NOW_FIELDS = {
    EvidenceItem: ("id", "review_state", "reviewed_at", "required_tier"),
    Watchpoint: ("id", "kind", "required_tier"),
    Briefing: ("id", "title", "required_tier"),
}


@dataclass
class AsOfProfile:
    """One profile as one reader could read it at `at` (the end of the day asked for)."""

    #: The profile as it stood then, its `page_*` lists set (as `with_profile_lists` sets them).
    institution: Institution
    #: The page object the live page's section templates render.
    page: ProfilePage
    #: (evidence id, date, "retracted" | "removed") of sources this reader saw then that were withdrawn since.
    retracted: list[tuple[int, datetime.date, str]]
    at: datetime.datetime


def parse_as_of(value: str) -> datetime.date:
    """The day of an `as_of` parameter: a calendar date written YYYY-MM-DD, today or earlier.

    Raises ValueError with a message a reader can act on (the pages answer 400 with it, the API too).
    """
    value = (value or "").strip()
    if not _DATE_RE.fullmatch(value):
        raise ValueError("The as_of date must be written YYYY-MM-DD, for example 2026-11-01.")
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise ValueError(
            "The as_of date is not a day of the calendar; write it YYYY-MM-DD, for example 2026-11-01."
        ) from None
    if day > timezone.localdate():
        raise ValueError("The as_of date is in the future: a profile can be read as of today or an earlier day.")
    return day


def end_of_day(day: datetime.date) -> datetime.datetime:
    """The last moment of `day` in the site's timezone: what readers saw "on" a day is its final state."""
    return datetime.datetime.combine(day, datetime.time.max, tzinfo=timezone.get_default_timezone())


def profile_as_of(institution: Institution, day: datetime.date, reader) -> AsOfProfile | None:
    """The profile as `reader` could have read it at the end of `day`; None when there is nothing
    readers could read (not published now or then, or no history by then): the callers answer 404."""
    reader = reader_for(reader)
    if not institution.is_published():
        return None
    try:
        at = end_of_day(day)
        lists = fetch_lists(**_list_queries(institution.pk, at))
    except OverflowError:  # a day so early its end cannot be written in UTC: nothing existed then
        return None
    if not lists["institution"]:
        return None
    for name in _ONE_ROW_PER_OBJECT:
        lists[name] = _newest_per_object(lists[name])
    then = _instance(Institution, lists["institution"][0])
    if not then.is_published(at):
        return None
    then.slug = institution.slug  # addresses are today's; a published profile's slug does not change
    others = _other_profiles(lists, at)
    sources, retracted = _sources(reader, lists, at)
    then.page_sectors = lists["sectors"]
    then.page_corrections = lists["corrections"]
    then.page_sources = sources
    then.page_timeline = [_instance(TimelineEvent, row) for row in lists["timeline"]]
    then.page_faqs = [_instance(FAQItem, row) for row in lists["faqs"]]
    then.page_identifiers = [_instance(Identifier, row) for row in lists["identifiers"]]
    then.page_links = _links(lists["links"], others)
    then.page_dependencies = _dependencies(then, lists["relationships"], others)
    watchpoints = [row for row in lists["watchpoints"] if row.status != Watchpoint.Status.CLOSED]
    then.page_watchpoints = _gated_then_and_now(reader, Watchpoint, watchpoints, lists["watchpoints_now"])
    then.page_briefings = _gated_then_and_now(reader, Briefing, lists["briefings"], lists["briefings_now"])
    return AsOfProfile(institution=then, page=build_profile_page(then, reader), retracted=retracted, at=at)


# --- the one query --------------------------------------------------------------------------------------


def _history(model):
    return getattr(model, model._meta.simple_history_manager_attribute)


def _as_of(model, at, owner: Q):
    """Each object's latest history row up to `at`, of the objects `owner` selects, unless that row
    records its deletion. The rows are chosen among ALL of an object's rows before `owner` is applied
    again, so an object whose ties or state changed is judged by its latest row, not an older match."""
    history = _history(model)
    ids = history.filter(owner).values("id")
    return history.filter(history_date__lte=at, id__in=ids).latest_of_each().filter(owner).exclude(history_type="-")


def _other_profile_ids(pk: int) -> Q:
    """Every profile this one's ties or "Also read" links ever named (its history included)."""
    ties = _history(Relationship)
    return (
        Q(id__in=ties.filter(source_id=pk).values("target_id"))
        | Q(id__in=ties.filter(target_id=pk).values("source_id"))
        | Q(id__in=_history(RelatedLink).filter(institution_id=pk, target_id__isnull=False).values("target_id"))
    )


def _list_queries(pk: int, at: datetime.datetime) -> dict[str, Rows]:
    own = Q(institution_id=pk)
    tier = {"required_tier": None}
    others = _other_profile_ids(pk)
    ties = (Q(source_id=pk) | Q(target_id=pk)) & Q(kind__in=_DEPENDENCY_KINDS)
    return {
        "institution": Rows(
            _history(Institution).filter(id=pk, history_date__lte=at).order_by("-history_date", "-history_id")[:1]
        ),
        "sectors": Rows(Sector.objects.filter(institutions=pk)),
        # Corrections are never edited: those published by then are the ones readers saw.
        "corrections": Rows(Correction.objects.filter(own, published_at__lte=at), fields=("note", "published_at")),
        "sources": Rows(_as_of(EvidenceItem, at, own).order_by("-source_date", "id"), related=tier),
        "sources_now": Rows(EvidenceItem.objects.filter(own), fields=_NOW_FIELDS[EvidenceItem], related=tier),
        "withdrawn": Rows(
            _history(EvidenceItem)
            .filter(own, Q(history_type="-") | Q(review_state=ReviewState.RETRACTED), history_date__gt=at)
            .order_by("history_date", "history_id"),
            fields=("id", "history_id", "history_date", "history_type", "review_state"),
        ),
        "timeline": Rows(_as_of(TimelineEvent, at, own).order_by("-date", "-id")),
        "watchpoints": Rows(_as_of(Watchpoint, at, own).order_by("order", "id"), related=tier),
        "watchpoints_now": Rows(Watchpoint.objects.filter(own), fields=_NOW_FIELDS[Watchpoint], related=tier),
        "briefings": Rows(_as_of(Briefing, at, own).order_by("order", "id"), related=tier),
        "briefings_now": Rows(Briefing.objects.filter(own), fields=_NOW_FIELDS[Briefing], related=tier),
        "faqs": Rows(_as_of(FAQItem, at, own).order_by("order", "id")),
        "identifiers": Rows(_as_of(Identifier, at, own).order_by("scheme", "value", "id")),
        "links": Rows(_as_of(RelatedLink, at, own).order_by("order", "id")),
        "relationships": Rows(
            _as_of(Relationship, at, Q(source_id=pk) | Q(target_id=pk))
            .filter(ties, review_state=ReviewState.APPROVED)
            .order_by("kind", "id")
        ),
        "others_then": Rows(
            _history(Institution).filter(others, history_date__lte=at).latest_of_each().exclude(history_type="-"),
            fields=(*_OTHER_FIELDS, "history_id"),
        ),
        "others_now": Rows(Institution.objects.filter(others), fields=_OTHER_FIELDS),
    }


# --- history rows as the page's objects -------------------------------------------------------------------


def _instance(model, row):
    """The object a history row records, as an unsaved instance of `model` (never saved: it is the
    past), with the foreign keys `fetch_lists` attached to the row attached to it too. Built from the
    row's own fields: simple-history's `.instance` would query for the fields it does not record."""
    if not hasattr(row, "history_id"):
        return row  # a live row (sectors)
    loaded = [f.attname for f in type(row).tracked_fields if f.attname not in row.get_deferred_fields()]
    obj = model(**{name: getattr(row, name) for name in loaded})
    for field in model._meta.concrete_fields:
        if field.is_relation and type(row)._meta.get_field(field.name).is_cached(row):
            field.set_cached_value(obj, getattr(row, field.name))
    return obj


def _newest_per_object(rows) -> list:
    """`latest_of_each` keeps every row of an object saved twice in the same instant; keep the last one."""
    newest = {}
    for row in rows:
        if row.id not in newest or row.history_id > newest[row.id].history_id:
            newest[row.id] = row
    return [row for row in rows if newest[row.id] is row]


def _locked_ids(reader: Reader, objects) -> set[int]:
    """The items of `objects` the gate closes to this reader (only the verdict is used: no title read)."""
    return {block.pk for block in split(reader, objects, title_attr=None) if getattr(block, "locked", False)}


def _gated_then_and_now(reader: Reader, model, then_rows, now_rows) -> list:
    """The items as they were then; an item the gate closes to this reader NOW is given as its current
    row instead, which the page's own `split` turns into a locked block (title and current tier)."""
    then = [_instance(model, row) for row in then_rows]
    now = {obj.pk: obj for obj in now_rows}
    locked_now = _locked_ids(reader, now.values())
    return [now[obj.pk] if obj.pk in locked_now else obj for obj in then]


def _sources(reader: Reader, lists, at) -> tuple[list[EvidenceItem], list[tuple[int, datetime.date, str]]]:
    """The sources this reader could read then and may read now, and the withdrawn ones' lines."""
    then = [_instance(EvidenceItem, row) for row in lists["sources"]]
    then = [item for item in then if item.review_state == ReviewState.APPROVED]
    now = {item.pk: item for item in lists["sources_now"]}
    closed = _locked_ids(reader, then) | _locked_ids(reader, now.values())
    withdrawn: dict[int, dict[str, datetime.datetime]] = {}
    for row in lists["withdrawn"]:  # oldest first: the first retraction after `at` is the one that counts
        how = REMOVED if row.history_type == "-" else RETRACTED
        withdrawn.setdefault(row.id, {}).setdefault(how, row.history_date)
    sources, retracted = [], []
    for item in then:
        if item.pk in closed:
            continue
        current = now.get(item.pk)
        if current is None:
            when = withdrawn.get(item.pk, {}).get(REMOVED, at)
            retracted.append((item.pk, timezone.localdate(when), REMOVED))
        elif current.review_state != ReviewState.APPROVED and RETRACTED in withdrawn.get(item.pk, {}):
            retracted.append((item.pk, timezone.localdate(withdrawn[item.pk][RETRACTED]), RETRACTED))
        else:
            sources.append(item)
    return sources, retracted


def _other_profiles(lists, at) -> dict[int, Institution]:
    """Profiles named by ties and links that readers could open then AND can open now, as they were
    then (their name then) at today's address."""
    now = {other.pk: other for other in lists["others_now"] if other.is_published()}
    out = {}
    for row in lists["others_then"]:
        other = _instance(Institution, row)
        if other.pk in now and other.is_published(at):
            other.slug = now[other.pk].slug
            out[other.pk] = other
    return out


def _links(rows, others: dict[int, Institution]) -> list[RelatedLink]:
    """ "Also read" as it was: external links, and links to profiles readers could open then and now."""
    links = []
    for link in (_instance(RelatedLink, row) for row in rows):
        if link.target_id is None:
            links.append(link)
        elif link.target_id in others:
            link.target = others[link.target_id]
            links.append(link)
    return links


def _dependencies(then: Institution, rows, others: dict[int, Institution]) -> list[Relationship]:
    """Approved dependency ties then, to profiles readers could open then and now (capped as live)."""
    ends = {**others, then.pk: then}
    ties = []
    for tie in (_instance(Relationship, row) for row in rows):
        if tie.source_id in ends and tie.target_id in ends:
            tie.source, tie.target = ends[tie.source_id], ends[tie.target_id]
            ties.append(tie)
    return ties[: FANOUT_CAP * 2]


