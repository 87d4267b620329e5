"""The gate: the one place that decides who may read tiered content.

Every view, feed, search and export asks this module; none decides visibility itself.
The gate is generic: an object names its required tier (a nullable FK to `Tier`, null
meaning public) and optionally a guardian object permission that opens it to one reader.

Model hooks the gate reads (all optional, class attributes):

- ``gate_tier_field``: name of the FK to `Tier` (default ``"required_tier"``; ``None``: always public).
- ``gate_object_permission``: codename of a guardian permission that opens one object to one
  user or group (e.g. ``"view_briefing"``); ``None``: tiers only.
- ``gate_title_attr``: attribute whose value a *locked* block may show. Default ``"title"``;
  ``None`` when every field of the object is gated, so its locked block gets a generic title.

Who is reading (`Reader`, `reader_for`, `reader_for_request`, the reader row) lives in
`membership.readers`, the guardian tables behind object permissions in `membership.grants`, and
`PreparedQuery` in `membership.prepared`; their names are importable from here too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.db import connections, models, router
from django.db.models import Exists, OuterRef, Q

from .grants import grant_rows, object_permission_rows, permission_gated_models
from .models import Tier
from .prepared import PreparedQuery, user_pk_slot
from .readers import (
    READER_COLUMNS,
    READER_ROW,
    STAFF_LEVEL,
    USER_AND_READER_ROW,
    Reader,
    forget_reader,
    has_staff_sight,
    load_reader_row,
    member_reader,
    reader_for,
    reader_for_request,
    reader_users,
)

__all__ = [
    "READER_COLUMNS",
    "READER_ROW",
    "STAFF_LEVEL",
    "USER_AND_READER_ROW",
    "GatedQuerySet",
    "LockedBlock",
    "PreparedQuery",
    "Reader",
    "can_view",
    "forget_reader",
    "grant_rows",
    "granted_object_pks",
    "granted_q",
    "has_staff_sight",
    "load_reader_row",
    "member_reader",
    "object_permission_rows",
    "permission_gated_models",
    "reader_for",
    "reader_for_request",
    "reader_users",
    "required_level",
    "required_tier",
    "split",
    "visible_q",
]

_DEFAULT = object()


def _tier_field(obj_or_model) -> str | None:
    return getattr(obj_or_model, "gate_tier_field", "required_tier")


def required_tier(obj) -> Tier | None:
    tier_field = _tier_field(obj)
    return getattr(obj, tier_field, None) if tier_field else None


def required_level(obj, tier_field: str | None = _DEFAULT) -> int:
    if tier_field is _DEFAULT:
        tier_field = _tier_field(obj)
    tier = getattr(obj, tier_field, None) if tier_field else None
    return tier.level if tier is not None else Tier.PUBLIC_LEVEL


def _grants_apply(reader: Reader) -> bool:
    """Per-object grants count for signed-in, active readers, never in a staff tier preview."""
    return reader.is_authenticated and not reader.is_previewing and bool(getattr(reader.user, "is_active", False))


def _holds_object_permission(reader: Reader, obj) -> bool:
    # Object-level grants only (not the global model permissions analysts hold for the admin, nor
    # superuser status: a superuser without staff sight holds only the grants made to them).
    # Readers with staff sight never get here, and a staff preview skips grants altogether.
    return obj.pk in granted_object_pks(reader, type(obj))


def can_view(user_or_reader, obj) -> bool:
    """Rule 2: level at or above the block's tier, or an object permission on that block."""
    reader = reader_for(user_or_reader)
    if reader.sees_everything:
        return True
    if reader.level >= required_level(obj):
        return True
    return _holds_object_permission(reader, obj)


@dataclass(frozen=True)
class LockedBlock:
    """What a template may know of a block the reader cannot open: never its text."""

    pk: int
    title: str
    tier: Tier
    locked: bool = True
    kind: str = ""


def _locked_title(obj, title_attr) -> str:
    attr = getattr(type(obj), "gate_title_attr", "title") if title_attr is _DEFAULT else title_attr
    if attr:
        return str(getattr(obj, attr, "") or "")
    return f"Members-only {obj._meta.verbose_name}"


def _load_tiers(objects) -> None:
    """Attach each object's required tier in one query, so a loop over blocks costs nothing."""
    missing = {}
    for obj in objects:
        tier_field = _tier_field(obj)
        if not tier_field:
            continue
        fk = obj._meta.get_field(tier_field)
        if not fk.is_cached(obj) and getattr(obj, fk.attname) is not None:
            missing.setdefault(getattr(obj, fk.attname), []).append((obj, fk))
    if missing:
        for pk, tier in Tier.objects.in_bulk(list(missing)).items():
            for obj, fk in missing[pk]:
                fk.set_cached_value(obj, tier)


def split(user_or_reader, objects, *, title_attr=_DEFAULT):
    """Pair each object with its verdict: the object itself when open, a `LockedBlock` when not.

    A locked block's title comes from `title_attr` (default: the model's `gate_title_attr`,
    else `"title"`); pass `title_attr=None` for objects whose every field is members-only
    (an evidence item's title is part of what is gated) to get a generic title instead.
    Tiers for the whole list are fetched in one go before the loop; the reader's grants once per
    reader and model (`granted_object_pks`): pass the request's reader (`request.reader`) to share them.
    """
    reader = reader_for(user_or_reader)
    objects = list(objects)
    _load_tiers(objects)
    if reader.sees_everything:
        return objects
    out = []
    for obj in objects:
        if not can_view(reader, obj):
            out.append(
                LockedBlock(
                    pk=obj.pk,
                    title=_locked_title(obj, title_attr),
                    tier=required_tier(obj),
                    kind=obj._meta.model_name,
                )
            )
        else:
            out.append(obj)
    return out


def visible_q(reader: Reader, tier_field: str = "required_tier") -> Q:
    """The level rule as a filter (object permissions are added by `GatedQuerySet`)."""
    reader = reader_for(reader)
    if reader.sees_everything or not tier_field:
        return Q()
    return Q(**{f"{tier_field}__isnull": True}) | Q(**{f"{tier_field}__level__lte": reader.level})


def granted_q(model, reader: Reader) -> Q:
    """Rows this reader holds the model's object permission on (`grant_rows`), as a filter; only for
    active readers outside a staff preview: the same rule `can_view` applies."""
    if not getattr(model, "gate_object_permission", None) or not _grants_apply(reader):
        return Q(pk__in=[])
    by_user, by_group = grant_rows(model, reader.user)
    return Q(Exists(by_user.filter(content_object=OuterRef("pk")))) | Q(
        Exists(by_group.filter(content_object=OuterRef("pk")))
    )


def granted_object_pks(reader: Reader, model) -> tuple:
    """Every row of `model` this reader holds its object permission on (user or group grant), sorted.

    The grants `granted_q` filters by, read once per reader (a reader lives one request) and model:
    one query serves the cache keys of rendered pages and every `split` and `can_view`.
    """
    permission = getattr(model, "gate_object_permission", None)
    if not permission or not _grants_apply(reader) or not reader.may_hold_grants:
        return ()
    key = ("granted", model._meta.label)
    if key not in reader._perm_cache:
        connection = connections[router.db_for_read(model)]
        rows = _granted_pks_query(model).rows(connection, user_pk=reader.user.pk)
        reader._perm_cache[key] = tuple(sorted(row[0] for row in rows))
    return reader._perm_cache[key]


@functools.cache
def _granted_pks_query(model) -> PreparedQuery:
    """`grant_rows` of one user as the keys of the objects they open: asked on every page of a reader
    who holds grants, so compiled once per process (`PreparedQuery`)."""

    def build(user_pk):
        by_user, by_group = grant_rows(model, user_pk)
        return by_user.values_list("content_object_id").union(by_group.values_list("content_object_id"))

    return PreparedQuery(build, user_pk=user_pk_slot())


class GatedQuerySet(models.QuerySet):
    """Queryset base for tiered models; subclasses keep their own named reads."""

    def visible_to(self, user_or_reader):
        reader = reader_for(user_or_reader)
        if reader.sees_everything:
            return self.all()
        condition = visible_q(reader, _tier_field(self.model))
        if getattr(self.model, "gate_object_permission", None) and _grants_apply(reader):
            condition |= granted_q(self.model, reader)
        return self.filter(condition)
