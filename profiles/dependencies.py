"""Which cached renders a change retires: dependency tags, named once for the page cache, the
fragments and a CDN's surrogate keys.

A cached render (a whole anonymous page, a fragment of one) is stored under the versions of the tags
it depends on, and served only while each is current (`profiles.cache.versioned_get_many`). Three
kinds of tag:

- `site`: everything. Moved by what any page may show — a tier, a sector, a scheduled profile going
  out, a model this module does not know (so an oversight costs hit ratio, never correctness).
- `lists`: the pages that list profiles or their updates — home, directory and its searches and
  facets, the feeds, the sitemap. Moved by every change of profile content: a list shows names,
  dates and updates of any profile.
- `p:<slug>`: one profile's own pages (page, map, changelog, feed) and fragments.

A change of profile content moves `lists` and the `p:` tags of every profile whose pages show what
changed, found from the database as it is when the change is made (so a page rendered before it is
retired, and one rendered after shows it):

- a profile's own row and sections → itself; its name, slug and publication also show on the
  profiles within two hops of it (relationships of any state: the maps draw two hops) and on those
  whose "also read" links point to it;
- a relationship → both ends and their neighbours (the edge is drawn on the maps of both);
- an evidence item → its profile, and the ends of relationships that cite it.

A fan-out larger than `MAX_PROFILE_TAGS` (a hub's two-hop neighbourhood) moves `site` instead:
bounded work per edit, still correct — a query is never cut short to fit (`_bounded`). Every change
also moves the global content version that the API's ETags read (`profiles.cache`), which knows
nothing of tags.
"""

from __future__ import annotations

from django.db.models import Q

from .models import (
    Briefing,
    Correction,
    EvidenceItem,
    FAQItem,
    Identifier,
    Institution,
    RelatedLink,
    Relationship,
    TimelineEvent,
    Watchpoint,
)

SITE = "site"
LISTS = "lists"
#: Past this many profiles to retire for one change, retire everything instead.
MAX_PROFILE_TAGS = 500
#: Models whose rows belong to one profile, named by `institution`: a change shows on its pages only.
PROFILE_SECTIONS = (Watchpoint, TimelineEvent, FAQItem, Briefing, Identifier, Correction, RelatedLink)


def profile_tag(slug: str) -> str:
    return f"p:{slug}"


def page_tags(slug: str | None = None) -> tuple[str, ...]:
    """The tags a render depends on: one profile's pages, or the lists."""
    return (SITE, profile_tag(slug)) if slug else (SITE, LISTS)


class _TooWide(Exception):
    """A fan-out past MAX_PROFILE_TAGS: the change retires everything instead."""


def _bounded(rows, limit: int) -> list:
    """At most `limit` rows of a query, or _TooWide when there are more: a list cut short would leave
    pages that show the change unretired."""
    found = list(rows[: limit + 1])
    if len(found) > limit:
        raise _TooWide
    return found


def _slugs(ids) -> set[str]:
    ids = {pk for pk in ids if pk}
    if not ids:
        return set()
    return set(Institution.objects.filter(pk__in=ids).values_list("slug", flat=True))


def _slug_of(instance, field: str = "institution") -> set[str]:
    """The slug of the profile a row names, without a query when the row holds the profile already."""
    cached = instance._state.fields_cache.get(field)
    if cached is not None:
        return {cached.slug}
    return _slugs([getattr(instance, f"{field}_id")])


def neighbours(ids: set[int], hops: int = 1) -> set[int]:
    """Profiles within `hops` relationships of `ids` (whatever the relationships' review state), `ids`
    included; stops early past MAX_PROFILE_TAGS."""
    found = set(ids)
    frontier = set(ids)
    for _ in range(hops):
        if not frontier or len(found) > MAX_PROFILE_TAGS:
            break
        ends = Relationship.objects.filter(Q(source_id__in=frontier) | Q(target_id__in=frontier)).values_list(
            "source_id", "target_id"
        )
        reached = {pk for pair in _bounded(ends, MAX_PROFILE_TAGS * 2) for pk in pair}
        frontier = reached - found
        found |= reached
    return found


def _profiles_showing(ids: set[int], hops: int) -> set[int]:
    shown = neighbours(ids, hops)
    linking = RelatedLink.objects.filter(target_id__in=ids).values_list("institution_id", flat=True)
    return shown | set(_bounded(linking, MAX_PROFILE_TAGS))


def tags_for(instance, *, created: bool = False, update_fields=None, deleted: bool = False) -> set[str] | None:
    """The tags a saved or deleted row retires; None for a model this module does not know, or a
    change it cannot place (the caller then retires everything: so does a deleted profile, whose
    links from other profiles are cut by the database without a signal)."""
    try:
        slugs = _profiles_to_retire(instance, created=created, update_fields=update_fields, deleted=deleted)
    except _TooWide:
        return {SITE}
    if slugs is None:
        return None
    if len(slugs) > MAX_PROFILE_TAGS:
        return {SITE}
    return {LISTS, *map(profile_tag, slugs)}


def _profiles_to_retire(instance, *, created, update_fields, deleted) -> set[str] | None:
    """The slugs of the profiles whose pages show the row (see `tags_for`)."""
    model = type(instance)._meta.concrete_model
    if model is Institution and deleted:
        return None
    if model is Institution:
        ids = _profiles_showing({instance.pk}, hops=2)
        slugs = _slugs(ids - {instance.pk}) | {instance.slug}
        if not created and (update_fields is None or "slug" in update_fields):
            previous = getattr(instance, "_slug_as_loaded", None)
            if previous is None:
                return None  # loaded without its slug: a rename's old address is unknown
            slugs.add(previous)
        instance._slug_as_loaded = instance.slug  # the next save of this object renames from here
    elif model is Relationship:
        slugs = _slugs(neighbours({instance.source_id, instance.target_id}, hops=1))
    elif model is EvidenceItem:
        slugs = _slug_of(instance)
        if not created:
            ends = Relationship.objects.filter(evidence_id=instance.pk).values_list("source_id", "target_id")
            slugs |= _slugs({pk for pair in _bounded(ends, MAX_PROFILE_TAGS) for pk in pair})
    elif model in PROFILE_SECTIONS:
        slugs = _slug_of(instance)
    else:
        return None
    return slugs
