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
import operator
from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models, router
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, Subquery, Value
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from .mfa import session_passed_mfa
from .models import Application, Membership, Tier, verified_emails

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

    def reaches(self, tier_slug: str) -> bool:
        """Whether the reader's level is at or above the level of the tier `tier_slug` (tiers are data)."""
        level = Tier.objects.level_of(tier_slug)
        return level is not None and self.level >= level

    @property
    def is_member(self) -> bool:
        """At or above the Strategic Circle, the first members' tier (which staff with staff sight pass)."""
        return self.reaches(Tier.STRATEGIC_CIRCLE_SLUG)

    @property
    def state(self) -> str:
        """The reader's standing, used to choose a locked block's call to action.

        One of: anonymous, unverified, registered (verified, no active membership), member,
        pending (Leadership Alliance application under review), alliance, staff.
        """
        if self.is_previewing:
            # The preview shows what a reader *of that tier* would see, calls to action included.
            if self.reaches(Tier.LEADERSHIP_ALLIANCE_SLUG):
                return "alliance"
            return "member" if self.is_member else "anonymous"
        if not self.is_authenticated:
            return "anonymous"
        if self.sees_everything:
            return "staff"
        if self.reaches(Tier.LEADERSHIP_ALLIANCE_SLUG):
            return "alliance"
        if self.application_pending:
            return "pending"
        if self.is_member:
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


# --- SQL generated from the readable form ---------------------------------------------------------


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    #: (value name, model field that prepares it, its positions among `params`)
    slots: tuple[tuple[str, models.Field, tuple[int, ...]], ...]
    #: (column position, converters, expression): what the ORM would do to each value it reads
    converters: tuple[tuple[int, list, object], ...]
    columns: tuple[str, ...]


class PreparedQuery:
    """A queryset compiled to SQL once per process and database, then run with fresh values.

    The rules live in querysets. A few run on every signed-in page, where compiling the queryset
    cost more than running its SQL; so `build(**values)` builds the readable queryset once, with a
    sentinel for each value, and the positions of the sentinels among the compiled parameters are
    noted. Each call copies the parameters, puts its own values there (prepared by the model field
    they are compared with, as the ORM would) and runs the SQL; rows come back converted as the ORM
    converts them. `slots` name each value: ``name=(lambda: model field, sentinel)``.
    """

    def __init__(
        self,
        build: Callable[..., models.QuerySet],
        *,
        columns: Callable[[], list[str]] | None = None,
        **slots: tuple[Callable[[], models.Field], object],
    ):
        self._build = build
        self._expected_columns = columns
        self._slots = slots
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, connection) -> _Compiled:
        found = self._compiled.get(connection.alias)
        if found is None:
            found = self._compiled[connection.alias] = self._compile(connection)
        return found

    def _compile(self, connection) -> _Compiled:
        sentinels = {name: value() if callable(value) else value for name, (_, value) in self._slots.items()}
        compiler = self._build(**sentinels).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        slots = []
        for name, (get_field, _) in self._slots.items():
            prepared = get_field().get_db_prep_value(sentinels[name], connection, prepared=False)
            positions = tuple(i for i, p in enumerate(params) if type(p) is type(prepared) and p == prepared)
            if not positions:
                raise ImproperlyConfigured(f"{name!r} is not a parameter of the compiled query: {sql}")
            slots.append((name, get_field(), positions))
        expressions = [expression for expression, _, _ in compiler.select]
        columns = tuple(alias or expression.target.attname for expression, _, alias in compiler.select)
        if self._expected_columns is not None and list(columns) != list(self._expected_columns()):
            raise ImproperlyConfigured(f"Unexpected columns {columns} in {sql}")
        converters = tuple(
            (pos, convs, expression) for pos, (convs, expression) in compiler.get_converters(expressions).items()
        )
        return _Compiled(sql, tuple(params), tuple(slots), converters, columns)

    def rows(self, connection, **values) -> list[list]:
        compiled = self.compiled(connection)
        params = list(compiled.params)
        for name, model_field, positions in compiled.slots:
            value = model_field.get_db_prep_value(values[name], connection, prepared=False)
            for pos in positions:
                params[pos] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        out = []
        for row in map(list, rows):
            for pos, convs, expression in compiled.converters:
                value = row[pos]
                for converter in convs:
                    value = converter(value, expression, connection)
                row[pos] = value
            out.append(row)
        return out


#: Sentinels planted where a prepared query takes its per-call values: no row has a negative key,
#: and no rule compares with a moment of 1903.
_SENTINEL_PK = -7_340_021


def _sentinel_now() -> datetime.datetime:
    return datetime.datetime(1903, 2, 5, 7, 11, 13, 170_219, tzinfo=datetime.UTC if settings.USE_TZ else None)


def _user_pk_slot():
    return (lambda: get_user_model()._meta.pk, _SENTINEL_PK)


def _now_slot():
    return (lambda: Membership._meta.get_field("ends_at"), _sentinel_now)


#: The reader row: what `Reader` needs of a user beyond the user row, as annotations of `reader_users`.
READER_COLUMNS = ("btw_level", "btw_verified", "btw_pending_since", "btw_has_grants")


def reader_users(at=None) -> models.QuerySet:
    """Users with their reader row: level (highest active membership at `at`), verified e-mail,
    oldest pending application, and whether they hold any object grant the gate honours.

    Built from the named rules (`Membership.objects.active`, `verified_emails`,
    `Application.objects.pending`, `object_permission_rows`), never restated. Read fresh on every request (never
    cached across requests), so lapsing or revoking a membership locks its content on the member's
    very next page; the SQL is compiled once per process (`PreparedQuery`).
    """
    user = OuterRef("pk")
    return get_user_model().objects.annotate(
        btw_level=Subquery(
            Membership.objects.active(at=at).filter(user=user).order_by("-tier__level").values("tier__level")[:1]
        ),
        btw_verified=Exists(verified_emails().filter(user=user)),
        btw_pending_since=Subquery(
            Application.objects.pending().filter(user=user).order_by("created_at").values("created_at")[:1]
        ),
        btw_has_grants=_holds_any_grant(user),
    )


def _holds_any_grant(user) -> ExpressionWrapper | Value:
    """Whether `user` holds any object permission at all on a model the gate opens by permission: when
    not, their grants (`grant_rows`, a subset) are known to be empty without asking
    (`Reader.may_hold_grants`). Left without the codename filter on purpose: the flag runs on every
    signed-in page, and the permission join doubled the time PostgreSQL took to plan the reader row."""
    checks = [
        Q(Exists(rows)) for model in _permission_gated_models() for rows in object_permission_rows(model, user)
    ]
    if not checks:
        return Value(False)
    return ExpressionWrapper(functools.reduce(operator.or_, checks), output_field=BooleanField())


def _permission_gated_models() -> list[type[models.Model]]:
    return [model for model in apps.get_models() if getattr(model, "gate_object_permission", None)]


def _one_reader(user_pk, now) -> models.QuerySet:
    return reader_users(at=now).filter(pk=user_pk)


#: One user's reader row, for a user loaded without it (`_resolve`).
READER_ROW = PreparedQuery(
    lambda user_pk, now: _one_reader(user_pk, now).values_list(*READER_COLUMNS),
    columns=lambda: READER_COLUMNS,
    user_pk=_user_pk_slot(),
    now=_now_slot(),
)
#: The user's own columns, then their reader row: the one query of a signed-in request (`membership.backends`).
USER_AND_READER_ROW = PreparedQuery(
    _one_reader,
    columns=lambda: [*(f.attname for f in get_user_model()._meta.concrete_fields), *READER_COLUMNS],
    user_pk=_user_pk_slot(),
    now=_now_slot(),
)


def load_reader_row(connection, user_pk, *, query: PreparedQuery = READER_ROW) -> list | None:
    """One user's row of a prepared `reader_users` query, read now; None when there is no such user."""
    rows = query.rows(connection, user_pk=user_pk, now=timezone.now())
    return rows[0] if rows else None


def _reader_row(user_pk) -> tuple:
    connection = connections[router.db_for_read(get_user_model())]
    row = load_reader_row(connection, user_pk)
    return tuple(row) if row is not None else (None, False, None, False)


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


@functools.cache
def _grant_models(model) -> tuple[type, type]:
    """The user and group object-permission models of a model the gate opens by permission: guardian's
    direct-foreign-key tables (STYLE.md), whose `content_object` points at it. Found by walking the
    model's relations (no query), once per process; a gated model without them is a configuration error."""
    found = {}
    for relation in model._meta.related_objects:
        for base in (UserObjectPermissionBase, GroupObjectPermissionBase):
            if relation.field.name == "content_object" and issubclass(relation.related_model, base):
                found[base] = relation.related_model
    if len(found) != 2:
        raise ImproperlyConfigured(
            f"{model._meta.label} sets gate_object_permission but lacks direct foreign-key guardian tables "
            "(subclasses of UserObjectPermissionBase and GroupObjectPermissionBase)."
        )
    return found[UserObjectPermissionBase], found[GroupObjectPermissionBase]


def object_permission_rows(model, user) -> tuple[models.QuerySet, models.QuerySet]:
    """The rows of the model's guardian tables held by `user` (a user, a key or an `OuterRef`), directly
    and through a group of theirs, whatever permission they carry. Each row's `content_object` is the
    object it is about. Only explicit object grants (not global model permissions, not superuser status).
    """
    user_model, group_model = _grant_models(model)
    # The user's groups as a subquery of their own (not a join through auth_group: cheaper to plan).
    # From inside it, an outer reference to the user reaches one query further out.
    member = OuterRef(user) if isinstance(user, OuterRef) else user
    groups = get_user_model().groups.through.objects.filter(user=member).values("group")
    return user_model.objects.filter(user=user), group_model.objects.filter(group__in=groups)


def grant_rows(model, user) -> tuple[models.QuerySet, models.QuerySet]:
    """Rule 2's object permission, the one place it is written: the `object_permission_rows` of `user`
    that carry the model's `gate_object_permission`, each opening its `content_object` to them.

    The codename alone names the permission: a direct-FK table holds permissions of its own model only.
    """
    codename = model.gate_object_permission
    return tuple(rows.filter(permission__codename=codename) for rows in object_permission_rows(model, user))


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

    return PreparedQuery(build, user_pk=_user_pk_slot())


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
