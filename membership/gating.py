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
"""

from __future__ import annotations

import contextlib
import datetime
import functools
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .mfa import session_passed_mfa
from .models import Application, Membership, Tier

STAFF_LEVEL = 10_000  # above every tier: staff with staff sight read everything unless previewing "as a tier"
_DEFAULT = object()


@dataclass
class Reader:
    """Who is reading, resolved once per request: their level and membership state."""

    user: object
    level: int = 0
    #: Reads with staff sight (`has_staff_sight`): every tier, drafts, the preview switch. A staff
    #: member without it (no MFA yet in this session) reads as their memberships allow, and is False here.
    is_staff: bool = False
    email_verified: bool = False
    application_pending: bool = False
    viewing_as: Tier | None = None
    application_submitted_at: datetime.datetime | None = None
    #: False when the reader row showed no object permission at all: their grants need no query.
    may_hold_grants: bool = True
    _perm_cache: dict = field(default_factory=dict, repr=False)

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))

    @property
    def sees_everything(self) -> bool:
        return self.is_staff and self.viewing_as is None

    @property
    def is_previewing(self) -> bool:
        """A staff member reading "as a tier": tier rules only, no personal grants."""
        return self.viewing_as is not None

    @property
    def state(self) -> str:
        """The reader's standing, used to choose a locked block's call to action.

        One of: anonymous, unverified, registered (verified, no active membership), member,
        pending (Leadership Alliance application under review), alliance, staff.
        """
        if self.is_previewing:
            # The preview shows what a reader *of that tier* would see, calls to action included.
            if self.level >= 2:
                return "alliance"
            return "member" if self.level >= 1 else "anonymous"
        if not self.is_authenticated:
            return "anonymous"
        if self.sees_everything:
            return "staff"
        if self.level >= 2:
            return "alliance"
        if self.application_pending:
            return "pending"
        if self.level >= 1:
            return "member"
        if not self.email_verified:
            return "unverified"
        return "registered"


def has_staff_sight(user, request=None) -> bool:
    """Rule 1's staff clause, the one place it is written: staff (and superusers) read everything, but
    while settings.BTW_REQUIRE_STAFF_MFA is on only through a `request` whose session has passed MFA.

    Before that, and wherever there is no request (commands, digests, e-mails), a staff member reads
    like any reader: at the level of their memberships, with no drafts and no "view as tier" preview.
    """
    if not (getattr(user, "is_authenticated", False) and getattr(user, "is_active", True)):
        return False
    if not (user.is_staff or user.is_superuser):
        return False
    if not getattr(settings, "BTW_REQUIRE_STAFF_MFA", True):
        return True
    return request is not None and session_passed_mfa(request)


def _resolve(user, request=None) -> Reader:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return Reader(user=user)
    if has_staff_sight(user, request):
        return Reader(user=user, level=STAFF_LEVEL, is_staff=True, email_verified=True)
    # Loaded with the user by the authentication backends (membership.backends) on a request;
    # read now for a user loaded any other way.
    row = getattr(user, "_btw_reader_row", None) or _reader_row(user.pk)
    level, verified, pending_since, may_hold_grants = row
    return Reader(
        user=user,
        level=level or 0,
        email_verified=bool(verified),
        application_pending=pending_since is not None,
        application_submitted_at=pending_since,
        may_hold_grants=may_hold_grants,
    )


#: The reader's level, verified e-mail and oldest open application, as columns about the user row `u`.
_READER_COLUMNS = """
  (SELECT t.level FROM {membership} m JOIN {tier} t ON t.id = m.tier_id
    WHERE m.user_id = u.id AND m.status = %s AND (m.ends_at IS NULL OR m.ends_at > %s)
    ORDER BY t.level DESC LIMIT 1) AS btw_level,
  EXISTS (SELECT 1 FROM {email} e WHERE e.user_id = u.id AND e.verified = %s) AS btw_verified,
  (SELECT a.created_at FROM {application} a WHERE a.user_id = u.id AND a.state = %s
    ORDER BY a.created_at LIMIT 1) AS btw_pending_since
"""


def reader_query(user_pk, *, user_columns: str = "") -> tuple[str, list]:
    """SQL and parameters selecting one user's reader columns (btw_level, btw_verified,
    btw_pending_since, btw_has_grants), after `user_columns` of the user row `u` when given.

    Read fresh on every request (never cached across requests), so lapsing or revoking a membership
    locks its content on the member's very next page. Plain SQL because this runs on every
    signed-in page and the ORM's query compilation cost more than the query itself.
    """
    sql = f"SELECT {user_columns}{_reader_columns()} FROM {get_user_model()._meta.db_table} u WHERE u.id = %s"  # noqa: S608
    return sql, [Membership.Status.ACTIVE, timezone.now(), True, Application.State.PENDING, user_pk]


@functools.cache
def _reader_columns() -> str:
    from allauth.account.models import EmailAddress

    return _READER_COLUMNS.format(
        membership=Membership._meta.db_table,
        tier=Tier._meta.db_table,
        email=EmailAddress._meta.db_table,
        application=Application._meta.db_table,
    ) + f",\n  {_any_grant_sql()} AS btw_has_grants"


def _any_grant_sql() -> str:
    """Whether the user `u` holds any object permission on any model the gate opens by permission,
    by user or by group: when not, their grants are known to be empty without asking."""
    from django.apps import apps

    # Table names come from model metadata; nothing here is a value.
    groups = get_user_model().groups.through._meta.db_table
    checks = []
    for model in apps.get_models():
        if not getattr(model, "gate_object_permission", None):
            continue
        grant_models = _grant_models(model)
        if grant_models is None:
            return "(1 = 1)"  # shared generic tables: always ask
        user_model, group_model = grant_models
        checks.append(f"EXISTS (SELECT 1 FROM {user_model._meta.db_table} x WHERE x.user_id = u.id)")  # noqa: S608
        checks.append(
            f"EXISTS (SELECT 1 FROM {group_model._meta.db_table} x"  # noqa: S608
            f" JOIN {groups} ug ON ug.group_id = x.group_id WHERE ug.user_id = u.id)"
        )
    return "(" + " OR ".join(checks) + ")" if checks else "(1 = 0)"


def reader_row(connection, level, verified, pending_since, has_grants) -> tuple:
    """The reader columns as Python values, whichever database returned them."""
    pending_since = db_value(connection, Application._meta.get_field("created_at"), pending_since)
    return level, bool(verified), pending_since, bool(has_grants)


def db_value(connection, field, value):
    """A raw column of `field` as the ORM would give it (SQLite keeps datetimes as naive text, for one)."""
    expression = field.get_col(field.model._meta.db_table)
    for converter in connection.ops.get_db_converters(expression) + field.get_db_converters(connection):
        value = converter(value, expression, connection)
    return value


def _reader_row(user_pk) -> tuple:
    from django.db import connection

    sql, params = reader_query(user_pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    return reader_row(connection, *found) if found else (None, False, None, False)


def reader_for(user_or_reader, *, request=None) -> Reader:
    """Return the Reader for a user (cached on the user object, which lives one request).

    Give the `request` the user is signed in by when there is one: only its session can give staff
    their sight (`has_staff_sight`). Asked with it, the cached Reader is replaced if it was resolved
    without; StaffMFARequiredMiddleware asks so for every signed-in staff member before any view runs,
    so later questions about `request.user` without the request get the same answer.
    """
    if isinstance(user_or_reader, Reader):
        return user_or_reader
    user = user_or_reader
    cached = getattr(user, "_btw_reader", None)
    if cached is None or (request is not None and cached.is_staff != has_staff_sight(user, request)):
        cached = _resolve(user, request)
        with contextlib.suppress(AttributeError):  # exotic user objects may refuse attributes
            user._btw_reader = cached
    return cached


def forget_reader(user) -> None:
    """Drop a user's cached Reader (and the reader row loaded with the user), after a service changed
    their memberships: the next question reads them afresh."""
    for attr in ("_btw_reader", "_btw_reader_row"):
        with contextlib.suppress(AttributeError):
            delattr(user, attr)


def reader_for_request(request) -> Reader:
    """The request's reader, honouring the "view as tier" preview switch (`?as_tier=<slug>`) of a
    reader with staff sight (for anyone else the switch is ignored)."""
    cached = getattr(request, "_btw_reader", None)
    if cached is not None:
        return cached
    reader = reader_for(request.user, request=request)
    as_tier = request.GET.get("as_tier")
    if reader.is_staff and as_tier:
        tier = Tier.objects.filter(slug=as_tier).first()
        if tier is not None:
            reader = Reader(
                user=request.user, level=tier.level, is_staff=True, email_verified=True, viewing_as=tier
            )
    request._btw_reader = reader
    return reader


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
    return (
        reader.is_authenticated
        and not reader.is_previewing
        and bool(getattr(reader.user, "is_active", False))
    )


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
    request and model (`granted_object_pks`).
    """
    reader = reader_for(user_or_reader)
    objects = list(objects)
    _load_tiers(objects)
    if reader.sees_everything:
        return objects
    out = []
    for obj in objects:
        if reader.level < required_level(obj) and not _holds_object_permission(reader, obj):
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
    """Rows this reader holds the model's guardian object permission on, by user or group grant.

    Only explicit object grants count (not global model permissions, not superuser status),
    and only for active readers outside a staff preview: the same rule `can_view` applies.
    """
    permission = getattr(model, "gate_object_permission", None)
    if not permission or not _grants_apply(reader):
        return Q(pk__in=[])
    from django.contrib.contenttypes.models import ContentType

    user = reader.user
    ctype = ContentType.objects.get_for_model(model)
    perm = {"permission__codename": permission, "permission__content_type": ctype}
    grant_models = _grant_models(model)
    if grant_models is None:
        from guardian.shortcuts import get_objects_for_user

        granted = get_objects_for_user(
            user, f"{model._meta.app_label}.{permission}", klass=model,
            with_superuser=False, accept_global_perms=False,
        )
        return Q(pk__in=granted.values("pk"))
    user_model, group_model = grant_models
    by_user = user_model.objects.filter(content_object=OuterRef("pk"), user=user, **perm)
    by_group = group_model.objects.filter(content_object=OuterRef("pk"), group__user=user, **perm)
    return Q(Exists(by_user)) | Q(Exists(by_group))


def granted_object_pks(reader: Reader, model) -> tuple:
    """Every row of `model` this reader holds its object permission on (user or group grant), sorted.

    The same grants `granted_q` filters by, read once per reader (a reader lives one request) and
    model: one plain query serves the cache keys of rendered pages and every `split` and `can_view`.
    """
    permission = getattr(model, "gate_object_permission", None)
    if not permission or not _grants_apply(reader) or not reader.may_hold_grants:
        return ()
    key = ("granted", model._meta.label)
    if key not in reader._perm_cache:
        reader._perm_cache[key] = _read_granted_pks(reader, model, permission)
    return reader._perm_cache[key]


def _read_granted_pks(reader: Reader, model, permission: str) -> tuple:
    sql = _granted_pks_sql(model)
    if sql is None:  # generic guardian tables: through the ORM
        return tuple(sorted(model.objects.filter(granted_q(model, reader)).values_list("pk", flat=True)))
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, [reader.user.pk, permission, reader.user.pk, permission])
        return tuple(sorted(row[0] for row in cursor.fetchall()))


@functools.cache
def _grant_models(model) -> tuple[type, type] | None:
    """The user and group object-permission models of a gated model with direct-FK guardian tables,
    or None when it uses guardian's generic ones. Found by walking the model's relations, so once
    per process."""
    from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

    user_model, group_model = get_user_obj_perms_model(model), get_group_obj_perms_model(model)
    if user_model.objects.is_generic() or group_model.objects.is_generic():
        return None
    return user_model, group_model


@functools.cache
def _granted_pks_sql(model) -> str | None:
    """The grants query of a model with direct-FK guardian tables (None for generic ones), built
    once per process."""
    from django.contrib.auth.models import Permission

    grant_models = _grant_models(model)
    if grant_models is None:
        return None
    user_model, group_model = grant_models
    return f"""
        SELECT u.content_object_id FROM {user_model._meta.db_table} u
          JOIN {Permission._meta.db_table} p ON p.id = u.permission_id
         WHERE u.user_id = %s AND p.codename = %s
        UNION
        SELECT g.content_object_id FROM {group_model._meta.db_table} g
          JOIN {Permission._meta.db_table} p ON p.id = g.permission_id
          JOIN {get_user_model().groups.through._meta.db_table} ug ON ug.group_id = g.group_id
         WHERE ug.user_id = %s AND p.codename = %s
    """  # noqa: S608 - table names come from model metadata, values are parameters


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
