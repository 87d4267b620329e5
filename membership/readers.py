"""Who is reading: the `Reader` of a user or of a request, and the reader row it is built from.

A Reader is what the gate (`membership.gating`) knows of a reader: their level, their membership
state, and whether a staff member reads with staff sight (`has_staff_sight`, rule 1's staff clause).
It is built from the user's *reader row*, the `READER_COLUMNS` annotations of `reader_users`: the
authentication backends load them with the signed-in user in one query (`membership.backends`), and a
user loaded any other way gets them on its first question, in one query, as the ORM loads a deferred
field. No Reader is kept on a user: building one from the columns costs nothing.

The reader of a request is `request.reader`, set lazily by `membership.middleware.ReaderMiddleware` as
Django's AuthenticationMiddleware sets `request.user`; it honours the staff "view as tier" switch.
Code that serves a request asks about its reader through `request.reader` (or passes it on): only the
request can give a staff member staff sight, so a question about `request.user` alone answers without.
"""

from __future__ import annotations

import contextlib
import datetime
from dataclasses import dataclass, field
from typing import ClassVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections, models, router
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from .grants import holds_any_grant
from .mfa import session_passed_mfa
from .models import Application, Membership, Tier, verified_emails
from .prepared import PreparedQuery, now_slot, user_pk_slot

STAFF_LEVEL = 10_000  # above every tier: staff with staff sight read everything unless previewing "as a tier"


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

    #: Everything a render shared between readers may show of its reader: what opens to them (level),
    #: their call to action (state) and its date (a pending application's submission). A template of a
    #: shared render reads no other `reader.` attribute (tests/test_shared_renders.py holds them to it).
    RENDERED: ClassVar[tuple[str, ...]] = ("level", "state", "application_submitted_at")

    @property
    def render_key(self) -> str:
        """The `RENDERED` values in one string: readers with equal keys may share a render."""
        return "|".join(_key_value(getattr(self, name)) for name in self.RENDERED)

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


def _key_value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime.datetime):
        return value.isoformat()  # to the microsecond, with its offset: no two dates share a key
    return str(value)


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


# --- the reader row ------------------------------------------------------------------------------------

#: The reader row: what `Reader` needs of a user beyond the user row, as annotations of `reader_users`.
READER_COLUMNS = ("btw_level", "btw_verified", "btw_pending_since", "btw_has_grants")


def reader_users(at=None) -> models.QuerySet:
    """Users with their reader row: level (highest active membership at `at`), verified e-mail,
    oldest pending application, and whether they hold any object grant the gate honours.

    Built from the named rules (`Membership.objects.active`, `verified_emails`,
    `Application.objects.pending`, `grants.object_permission_rows`), never restated. Read fresh on every
    request (never cached across requests), so lapsing or revoking a membership locks its content on the
    member's very next page; the SQL is compiled once per process (`PreparedQuery`).
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
        btw_has_grants=holds_any_grant(user),
    )


def _one_reader(user_pk, now) -> models.QuerySet:
    return reader_users(at=now).filter(pk=user_pk)


#: One user's reader row, for a user loaded without it (`reader_columns`).
READER_ROW = PreparedQuery(
    lambda user_pk, now: _one_reader(user_pk, now).values_list(*READER_COLUMNS),
    columns=lambda: READER_COLUMNS,
    user_pk=user_pk_slot(),
    now=now_slot(),
)
#: The user's own columns, then their reader row: the one query of a signed-in request (`membership.backends`).
USER_AND_READER_ROW = PreparedQuery(
    _one_reader,
    columns=lambda: [*(f.attname for f in get_user_model()._meta.concrete_fields), *READER_COLUMNS],
    user_pk=user_pk_slot(),
    now=now_slot(),
)


def load_reader_row(connection, user_pk, *, query: PreparedQuery = READER_ROW) -> list | None:
    """One user's row of a prepared `reader_users` query, read now; None when there is no such user."""
    rows = query.rows(connection, user_pk=user_pk, now=timezone.now())
    return rows[0] if rows else None


def read_reader_row(user_pk) -> tuple:
    """One user's reader row (`READER_COLUMNS`), read now in one query; a missing user's is empty."""
    connection = connections[router.db_for_read(get_user_model())]
    row = load_reader_row(connection, user_pk)
    return tuple(row) if row is not None else (None, False, None, False)


def set_reader_columns(user, values) -> None:
    """Put a reader row on a user as the ORM puts annotations on the instances of `reader_users()`."""
    for name, value in zip(READER_COLUMNS, values, strict=True):
        setattr(user, name, value)


def reader_columns(user) -> tuple:
    """The user's reader row: the `READER_COLUMNS` it was loaded with, else read now (one query) and
    kept on the user, as the ORM keeps a deferred field once loaded (`forget_reader` drops them)."""
    with contextlib.suppress(AttributeError):
        return tuple(getattr(user, name) for name in READER_COLUMNS)
    values = read_reader_row(user.pk)
    with contextlib.suppress(AttributeError):  # exotic user objects may refuse attributes
        set_reader_columns(user, values)
    return values


def forget_reader(user) -> None:
    """Drop the reader row a user carries, after a service changed their memberships or application:
    the next question about that user reads it afresh."""
    for name in READER_COLUMNS:
        with contextlib.suppress(AttributeError):
            delattr(user, name)


# --- the reader of a user, and of a request --------------------------------------------------------------

def reader_for(user_or_reader, *, request=None) -> Reader:
    """The Reader of a user, built from the reader row it carries (`reader_columns`).

    Only the `request` a staff member is signed in by can give them staff sight (`has_staff_sight`).
    """
    if isinstance(user_or_reader, Reader):
        return user_or_reader
    user = user_or_reader
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return Reader(user=user)
    if has_staff_sight(user, request):
        return Reader(user=user, level=STAFF_LEVEL, is_staff=True, email_verified=True)
    return member_reader(user)


def member_reader(user) -> Reader:
    """The reader a user is as a member, whoever they are: the level of their active memberships and
    their object grants, never staff sight. The data layer (API tokens, dumps) reads this way, so a
    staff member's token reads what their membership opens, never drafts."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return Reader(user=user)
    level, verified, pending_since, may_hold_grants = reader_columns(user)
    return Reader(
        user=user,
        level=level or 0,
        email_verified=bool(verified),
        application_pending=pending_since is not None,
        application_submitted_at=pending_since,
        may_hold_grants=may_hold_grants,
    )


def resolve_reader(request) -> Reader:
    """The reader of `request`, resolved now (what `request.reader` holds), honouring the "view as tier"
    preview switch (`?as_tier=<slug>`) of a reader with staff sight (for anyone else it is ignored)."""
    reader = reader_for(request.user, request=request)
    as_tier = request.GET.get("as_tier")
    if reader.is_staff and as_tier:
        tier = Tier.objects.filter(slug=as_tier).first()
        if tier is not None:
            reader = Reader(user=request.user, level=tier.level, is_staff=True, email_verified=True, viewing_as=tier)
    return reader


def reader_for_request(request) -> Reader:
    """`request.reader`, set by `ReaderMiddleware`; a request built without it (a test's RequestFactory)
    has its reader resolved now and set there, as the middleware would have."""
    if not hasattr(request, "reader"):
        request.reader = resolve_reader(request)
    return request.reader
