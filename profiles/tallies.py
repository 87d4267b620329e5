"""The directory's counts without counting profiles: `ListingTally` rows, kept exact by every change.

The unfiltered directory shows how many profiles it lists and, for every facet value, how many a
choice would give. Counted from the profiles, that read the whole published set three times: at
400,000 profiles 800 ms for the first reader after any change (bench/read_bench.py). The tallies
hold those counts per combination of the four enumerated facets (a few thousand rows at most), so
the same answers are sums over them (`profiles.facets`); text queries still count their matches.

How they stay exact:
- **Which profiles count** is the publication rule itself. A tally counts *listed* profiles, those
  `published_condition` or `scheduled_condition` admits (published, whatever the time); readers'
  counts subtract the scheduled ones, counted live (`Institution.objects.scheduled()`: a handful
  of rows through an index). A publication time passing therefore needs no maintenance.
- **Recomputed, never adjusted**: a combination's rows are counted again from the profiles (its
  everyone row and one row per sector), in the transaction of the change, under a lock on that
  combination (PostgreSQL: a transaction-level advisory lock; SQLite has one writer anyway), so two
  edits in one combination are counted one after the other and the second sees the first.
- **What a change touches**: a saved profile's combination as the database held it before the save
  (read with the row locked, `pre_save`) and after it; a deleted profile's; a profile's when its
  sectors change, from either side of the relation. A deleted sector takes its rows with it.
- **Bulk loads** that bypass signals (`seed_scale`) call `rebuild()`, as can an operator after
  writing rows by hand (`manage.py rebuild_listing_tallies`); `migrate` builds them when missing.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from . import sector_sets
from .models import Institution, ListingTally, published_condition, scheduled_condition

#: The facet fields a tally is keyed by: the profile's own field names.
COMBINATION = ("type", "base_region", "criticality", "time_horizon")
#: What decides a profile's tally: its combination and whether it is listed.
STATE = (*COMBINATION, "status", "published_at")
#: A save naming none of these (update_fields) cannot move a profile between tallies.
WATCHED = frozenset(STATE)
#: The advisory-lock namespace of the tallies (the first key of PostgreSQL's two-key form).
_LOCK_SPACE = 7_301


def listed():
    """The profiles tallies count: published, or published with a time still to come."""
    now = timezone.now()
    return Institution.objects.filter(published_condition(at=now) | scheduled_condition(at=now))


def _lock(combination: tuple) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_LOCK_SPACE, "/".join(combination)])


def _counted(profiles) -> list[ListingTally]:
    """The tally rows of these listed profiles: per combination, an everyone row and one per sector."""
    totals = profiles.values_list(*COMBINATION).annotate(hits=Count("pk")).order_by()
    per_sector = (
        Institution.sectors.through.objects.filter(institution__in=profiles.values("pk"))
        .values_list(*(f"institution__{name}" for name in COMBINATION), "sector")
        .annotate(hits=Count("*"))
        .order_by()
    )
    rows = [ListingTally(**dict(zip(COMBINATION, key, strict=True)), profiles=hits) for *key, hits in totals]
    rows += [
        ListingTally(**dict(zip(COMBINATION, key, strict=True)), sector_id=sector, profiles=hits)
        for *key, sector, hits in per_sector
    ]
    return rows


def recompute(combinations) -> None:
    """Count these combinations' rows again from the profiles (locks taken in a fixed order)."""
    for combination in sorted(set(combinations)):
        where = dict(zip(COMBINATION, combination, strict=True))
        with transaction.atomic():
            _lock(combination)
            rows = _counted(listed().filter(**where))
            ListingTally.objects.filter(**where).delete()
            ListingTally.objects.bulk_create(rows)


def rebuild() -> int:
    """Every tally counted again in one pass (after a bulk load); returns how many rows there are.
    Edits in flight finish first and edits meanwhile wait (PostgreSQL: a table lock)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                table = connection.ops.quote_name(ListingTally._meta.db_table)
                cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        rows = _counted(listed())
        ListingTally.objects.all().delete()
        ListingTally.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def build_if_missing(using: str = "default", **_signal_kwargs) -> None:
    """post_migrate receiver: a database migrated to the tallies (or restored without them) gets
    them built once, from the profiles it holds, with the models as they are now."""
    if connection.alias == using and not ListingTally.objects.exists() and listed().exists():
        rebuild()


# Receivers (connected in ProfilesConfig.ready) ----------------------------------------------------

_UNWATCHED = object()


def _state(instance) -> tuple:
    return tuple(getattr(instance, name) for name in STATE)


def _combination(state: tuple) -> tuple:
    return state[: len(COMBINATION)]


def before_save(sender, instance, update_fields=None, **_kwargs) -> None:
    """pre_save of a profile: its facets and publication state as the database holds them, the row
    locked inside a transaction so no other edit moves it between this read and the save."""
    if update_fields is not None and not WATCHED.intersection(update_fields):
        instance._tally_before = _UNWATCHED
        return
    instance._tally_before = None
    if instance.pk is not None and not instance._state.adding:
        rows = Institution.objects.filter(pk=instance.pk)
        if connection.in_atomic_block:
            rows = rows.select_for_update()
        instance._tally_before = rows.values_list(*STATE).first()


def after_save(sender, instance, **_kwargs) -> None:
    before = getattr(instance, "_tally_before", None)
    if before is _UNWATCHED:
        return
    after = _state(instance)
    if before != after:
        recompute([_combination(after), *([_combination(before)] if before else [])])


def after_delete(sender, instance, **_kwargs) -> None:
    recompute([_combination(_state(instance))])


def sectors_changed(sender, instance, action, reverse, pk_set, **_kwargs) -> None:
    """m2m_changed of profiles' sectors, from either side: the combinations of the profiles it moved
    (`sector_sets.touched_profiles`; from a profile's side, its own, read from the instance)."""
    members = sector_sets.touched_profiles(instance, action, reverse, pk_set)
    if not members:
        return
    if not reverse:
        recompute([_combination(_state(instance))])
        return
    recompute(Institution.objects.filter(pk__in=members).values_list(*COMBINATION).distinct())
