"""Each profile's sector ids in its own row (`Institution.sector_ids`): derived data, never edited.

A text query's facets are counted in one pass over its matches (`profiles.query_pass`). Which
sectors a matching profile is in was the one thing that pass could not read from the row it was
reading anyway: through the relation it cost a second pass over the matches, or a look-up per
match as dear. So the row carries the ids of its sectors, and a sector's count tests them; the
directory's cards read them too (`directory.attach_sectors`), instead of a query per page.

They are kept as a set: the keys of a JSON object, `{"3": true, "7": true}` (`as_set`). A sector's
test is then a key look-up (PostgreSQL `?`, SQLite `json_type`), where an array's containment
(`@>`) parsed both sides per row: for "fibre" at 100,013 profiles (9,571 matches, 10 sectors) the
sectors' counts took 4.7 ms instead of 10.8 (in SQL, interleaved runs; README.md, "Benchmarks").

How they stay equal to the relation (tests/test_sector_sets.py):
- every change of the relation, from either side, writes the lists of the profiles it touched
  (`m2m_changed`: add, remove, clear; a sector's members are read before it clears them);
- a deleted sector takes its rows of the relation with it without `m2m_changed`: its members are
  read before the delete and written after it;
- bulk loads that write the relation's rows themselves (`seed_scale`) write the lists with them;
  `refresh()` writes any profiles' lists from the relation, as the migration that added them did.
The lists are written with `update()`: no signal, no history row, no change to `updated_at`; the
relation's own change already moved what shows it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import connection
from django.db.models import Aggregate, JSONField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce

from .models import Institution, Sector

#: Profiles one UPDATE writes.
BATCH = 5000


def as_set(sector_ids: Iterable[int]) -> dict[str, bool]:
    """The stored form of a profile's sectors: their ids as the keys of an object."""
    return {str(pk): True for pk in sorted(sector_ids)}


class _KeySet(Aggregate):
    """`as_set` in SQL (PostgreSQL): the ids aggregated as the keys of one object."""

    function = "JSONB_OBJECT_AGG"
    template = "%(function)s((%(expressions)s)::text, true)"
    output_field = JSONField()


def refresh(ids: Iterable[int], *, model=Institution) -> None:
    """Write these profiles' sector lists from the relation (`model`: a migration's historical one)."""
    ids = sorted({pk for pk in ids if pk})
    through = model.sectors.through
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        if connection.vendor == "postgresql":
            members = (
                through.objects.filter(institution=OuterRef("pk"))
                .order_by()
                .values("institution")
                .annotate(ids=_KeySet("sector_id"))
                .values("ids")
            )
            none = Value({}, output_field=JSONField())
            model.objects.filter(pk__in=batch).update(sector_ids=Coalesce(Subquery(members), none))
            continue
        found = defaultdict(list)
        for institution, sector in through.objects.filter(institution__in=batch).values_list(
            "institution_id", "sector_id"
        ):
            found[institution].append(sector)
        for pk in batch:
            model.objects.filter(pk=pk).update(sector_ids=as_set(found.get(pk, ())))


def holds(sector_pk: int) -> Q:
    """The profile is in this sector, read from its own set (PostgreSQL: `sector_ids ? 'pk'`): for a
    pass that reads the row anyway; a filter on its own is `facets.in_sector`, through the relation."""
    return Q(sector_ids__has_key=str(sector_pk))


# Receivers (connected in ProfilesConfig.ready) ----------------------------------------------------

#: The steps of `m2m_changed` after the relation's rows were written.
CHANGED = ("post_add", "post_remove", "post_clear")
_MEMBERS = "_sector_set_members"


def _remember_members(sector: Sector) -> None:
    setattr(sector, _MEMBERS, list(sector.institutions.values_list("pk", flat=True)))


def touched_profiles(instance, action: str, reverse: bool, pk_set) -> list[int]:
    """The profiles an `m2m_changed` of the relation moved, at a step in CHANGED (none at the
    others): the profile itself from its side; from a sector's, `pk_set`, or after a clear its
    members as `sectors_changed` read them before it. Every receiver of the relation asks this."""
    if action not in CHANGED:
        return []
    if not reverse:
        return [instance.pk]
    return list(getattr(instance, _MEMBERS, ()) if action == "post_clear" else pk_set or ())


def sectors_changed(sender, instance, action, reverse, pk_set, **_kwargs) -> None:
    """m2m_changed of profiles' sectors, from a profile (`profile.sectors.add`) or from a sector
    (`sector.institutions.add`). Connected before every other receiver of the relation: a sector's
    members are read here, once, before a clear takes them (`touched_profiles`)."""
    if reverse and action == "pre_clear":
        _remember_members(instance)
    refresh(touched_profiles(instance, action, reverse, pk_set))


def before_sector_delete(sender, instance: Sector, **_kwargs) -> None:
    _remember_members(instance)


def after_sector_delete(sender, instance: Sector, **_kwargs) -> None:
    refresh(getattr(instance, _MEMBERS, ()))
