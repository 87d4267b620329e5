"""The gate: the one place that decides who may read tiered content.

Every view, feed, search and export asks this module; none decides visibility itself.
The gate is generic: an object names its required tier (a nullable FK to `Tier`, null
meaning public) and optionally a guardian object permission that opens it to one reader.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import cached_property

from django.db import models
from django.db.models import Exists, Max, OuterRef, Q

from .models import Application, Membership, Tier

STAFF_LEVEL = 10_000  # above every tier: staff read everything unless previewing "as a tier"


@dataclass
class Reader:
    """Who is reading, resolved once per request: their level and membership state."""

    user: object
    level: int = 0
    is_staff: bool = False
    email_verified: bool = False
    application_pending: bool = False
    viewing_as: Tier | None = None
    _perm_cache: dict = field(default_factory=dict, repr=False)

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))

    @property
    def sees_everything(self) -> bool:
        return self.is_staff and self.viewing_as is None

    @property
    def state(self) -> str:
        """The reader's standing, used to choose a locked block's call to action."""
        if not self.is_authenticated:
            return "anonymous"
        if self.sees_everything:
            return "staff"
        if not self.email_verified and self.level == 0:
            return "unverified"
        if self.application_pending:
            return "pending"
        if self.level >= 2:
            return "alliance"
        if self.level >= 1:
            return "member"
        return "registered"

    @cached_property
    def guardian_checker(self):
        from guardian.core import ObjectPermissionChecker

        return ObjectPermissionChecker(self.user)


def _resolve(user) -> Reader:
    if not getattr(user, "is_authenticated", False):
        return Reader(user=user)
    if user.is_staff:
        return Reader(user=user, level=STAFF_LEVEL, is_staff=True, email_verified=True)
    from allauth.account.models import EmailAddress

    row = (
        type(user)
        ._default_manager.filter(pk=user.pk)
        .annotate(
            gate_level=Max(
                "memberships__tier__level",
                filter=Q(memberships__in=Membership.objects.active()),
            ),
            gate_verified=Exists(EmailAddress.objects.filter(user=OuterRef("pk"), verified=True)),
            gate_pending=Exists(Application.objects.pending().filter(user=OuterRef("pk"))),
        )
        .values("gate_level", "gate_verified", "gate_pending")
        .first()
    ) or {}
    return Reader(
        user=user,
        level=row.get("gate_level") or 0,
        email_verified=bool(row.get("gate_verified")),
        application_pending=bool(row.get("gate_pending")),
    )


def reader_for(user_or_reader) -> Reader:
    """Return the Reader for a user (cached on the user object for the request)."""
    if isinstance(user_or_reader, Reader):
        return user_or_reader
    user = user_or_reader
    cached = getattr(user, "_btw_reader", None)
    if cached is None:
        cached = _resolve(user)
        with contextlib.suppress(AttributeError):  # exotic user objects may refuse attributes
            user._btw_reader = cached
    return cached


def reader_for_request(request) -> Reader:
    """The request's reader, honouring a staff member's "view as tier" preview switch."""
    cached = getattr(request, "_btw_reader", None)
    if cached is not None:
        return cached
    reader = reader_for(request.user)
    as_tier = request.GET.get("as_tier")
    if reader.is_staff and as_tier:
        tier = Tier.objects.filter(slug=as_tier).first()
        if tier is not None:
            reader = Reader(user=request.user, level=tier.level, is_staff=True, email_verified=True, viewing_as=tier)
    request._btw_reader = reader
    return reader


def required_level(obj, tier_field: str | None = "required_tier") -> int:
    tier = getattr(obj, tier_field, None) if tier_field else None
    return tier.level if tier is not None else Tier.PUBLIC_LEVEL


def _holds_object_permission(reader: Reader, obj, permission: str | None) -> bool:
    if not permission or not reader.is_authenticated or not getattr(reader.user, "is_active", False):
        return False
    return reader.guardian_checker.has_perm(permission, obj)


def can_view(user_or_reader, obj) -> bool:
    """Rule 2: level at or above the block's tier, or an object permission on that block."""
    reader = reader_for(user_or_reader)
    if reader.sees_everything:
        return True
    if reader.level >= required_level(obj, getattr(obj, "gate_tier_field", "required_tier")):
        return True
    return _holds_object_permission(reader, obj, getattr(obj, "gate_object_permission", None))


@dataclass(frozen=True)
class LockedBlock:
    """What a template may know of a block the reader cannot open: never its text."""

    pk: int
    title: str
    tier: Tier
    locked: bool = True
    kind: str = ""


def split(user_or_reader, objects, *, title_attr: str = "title"):
    """Pair each object with its verdict: the object itself when open, a `LockedBlock` when not.

    Guardian permissions for the whole list are fetched in one go before the loop.
    """
    reader = reader_for(user_or_reader)
    objects = list(objects)
    locked = [
        o
        for o in objects
        if not reader.sees_everything
        and reader.level < required_level(o, getattr(o, "gate_tier_field", "required_tier"))
    ]
    permission = objects and getattr(objects[0], "gate_object_permission", None)
    if locked and permission and reader.is_authenticated:
        reader.guardian_checker.prefetch_perms(locked)
    out = []
    for obj in objects:
        if obj in locked and not _holds_object_permission(reader, obj, permission):
            out.append(
                LockedBlock(
                    pk=obj.pk,
                    title=str(getattr(obj, title_attr, "")),
                    tier=obj.required_tier,
                    kind=obj._meta.model_name,
                )
            )
        else:
            out.append(obj)
    return out


def visible_q(reader: Reader, tier_field: str = "required_tier") -> Q:
    """The level rule as a filter (object permissions are added by `GatedQuerySet`)."""
    if reader.sees_everything or not tier_field:
        return Q()
    return Q(**{f"{tier_field}__isnull": True}) | Q(**{f"{tier_field}__level__lte": reader.level})


class GatedQuerySet(models.QuerySet):
    """Queryset base for tiered models; subclasses keep their own named reads."""

    def visible_to(self, user_or_reader):
        reader = reader_for(user_or_reader)
        tier_field = getattr(self.model, "gate_tier_field", "required_tier")
        condition = visible_q(reader, tier_field)
        permission = getattr(self.model, "gate_object_permission", None)
        if permission and reader.is_authenticated and not reader.sees_everything:
            from guardian.shortcuts import get_objects_for_user

            granted = get_objects_for_user(
                reader.user,
                f"{self.model._meta.app_label}.{permission}",
                klass=self.model,
                with_superuser=False,
                accept_global_perms=False,
            )
            condition |= Q(pk__in=granted.values("pk"))
        return self.filter(condition)
