"""Personal API tokens: made, revoked, checked and marked as used — the one place each is written.

A token is `btw_<prefix>_<secret>`: the prefix (8 hex digits) lets its owner recognise it in a list,
the secret is 256 bits from `secrets`. Only the SHA-256 digest of the whole token is stored, so the
database (a dump, a backup, the admin) holds nothing that opens the API; the token text exists once,
in the response to the request that made it. A random 256-bit secret needs no salt or slow hash: the
digest is a lookup key that cannot be guessed, and an unsalted digest keeps the lookup one indexed query.

Making and revoking are audited (`audit.services.record`) in the same transaction as the act.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format

from audit.models import AuditEntry
from audit.services import record

from .models import ApiToken
from .services import has_verified_email

#: The shape of every token this module makes; anything else is refused before the database is asked.
TOKEN_PATTERN = re.compile(r"btw_(?P<prefix>[0-9a-f]{8})_[0-9a-f]{64}")
#: The lifetimes an owner chooses from (days; None: never expires).
LIFETIME_DAYS = (None, 30, 90, 365)
#: `last_used_at` is written at most this often per token, so reading the API costs no write per request.
TOUCH_INTERVAL = datetime.timedelta(hours=1)


class TokenError(Exception):
    """A token rule refused the request; the message says why, for the person who asked."""


class EmailNotVerified(TokenError):
    pass


class TooManyTokens(TokenError):
    pass


class NameTaken(TokenError):
    pass


class NotPermitted(TokenError):
    pass


class InvalidToken(TokenError):
    """A request's token opens nothing: malformed, unknown, revoked, expired, or its owner disabled."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its text. The text is never stored: show it once, then let it go."""

    token: ApiToken
    text: str


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _named(user) -> str:
    return user.email or user.get_username()


def creation_refusal(owner) -> TokenError | None:
    """Why `owner` may not make a token now, or None. The token page asks before showing its form."""
    if not has_verified_email(owner):
        return EmailNotVerified(
            "Verify your e-mail address before creating API tokens: a token reads as you, so we need to "
            "know the address is yours. Open the link we sent you, or ask for a new one."
        )
    if ApiToken.objects.live().filter(owner=owner).count() >= ApiToken.MAX_LIVE_PER_OWNER:
        return TooManyTokens(
            f"You have {ApiToken.MAX_LIVE_PER_OWNER} active tokens, the most one account may hold. "
            "Revoke one you no longer use, then create the new one."
        )
    return None


@transaction.atomic
def create_token(*, owner, name: str, lifetime_days: int | None) -> IssuedToken:
    """Make a token for `owner` named `name`, expiring after `lifetime_days` (None: never)."""
    if lifetime_days not in LIFETIME_DAYS:
        raise TokenError("Choose how long the token lasts: never, 30, 90 or 365 days.")
    # One owner's tokens are made one at a time, so two requests at once cannot pass the limit together.
    get_user_model().objects.select_for_update().filter(pk=owner.pk).exists()
    refusal = creation_refusal(owner)
    if refusal is not None:
        raise refusal
    name = name.strip()
    if ApiToken.objects.unrevoked().filter(owner=owner, name=name).exists():
        raise NameTaken(f"You already have a token named “{name}”: choose another name, or revoke that one first.")
    prefix = secrets.token_hex(4)
    text = f"btw_{prefix}_{secrets.token_hex(32)}"
    now = timezone.now()
    token = ApiToken(
        owner=owner,
        name=name,
        prefix=prefix,
        digest=digest_of(text),
        created_at=now,
        expires_at=now + datetime.timedelta(days=lifetime_days) if lifetime_days else None,
    )
    token.full_clean()
    token.save()
    record(
        actor=owner,
        action=AuditEntry.Action.API_TOKEN,
        target=token,
        summary=f"{_named(owner)} created the API token “{name}” ({token.display_prefix}).",
        data={"event": "created", "prefix": prefix, "expires_at": token.expires_at and token.expires_at.isoformat()},
    )
    return IssuedToken(token=token, text=text)


@transaction.atomic
def revoke_token(*, token: ApiToken, by) -> bool:
    """Revoke `token` at once (its owner, or a superuser). False when it was already revoked."""
    if not (by.pk == token.owner_id or by.is_superuser):
        raise NotPermitted("Only the token's owner or a superuser may revoke it.")
    locked = ApiToken.objects.select_for_update().select_related("owner").get(pk=token.pk)
    if locked.is_revoked():
        return False
    locked.revoked_at = token.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    whose = "their" if by.pk == locked.owner_id else f"{_named(locked.owner)}'s"
    record(
        actor=by,
        action=AuditEntry.Action.API_TOKEN,
        target=locked,
        summary=f"{_named(by)} revoked {whose} API token “{locked.name}” ({locked.display_prefix}).",
        data={"event": "revoked", "prefix": locked.prefix, "owner": locked.owner_id},
    )
    return True


def authenticate(text: str, *, at=None) -> ApiToken:
    """The live token whose text is `text`, with its owner; `InvalidToken` (a readable reason) otherwise.

    One indexed query (the digest, with the owner joined), read afresh on every request, so a revoked
    token or a disabled owner is refused on the very next request.
    """
    if not TOKEN_PATTERN.fullmatch(text):
        raise InvalidToken("Malformed API token: expected btw_<prefix>_<secret>, as shown when it was created.")
    token = ApiToken.objects.select_related("owner").filter(digest=digest_of(text)).first()
    if token is None:
        raise InvalidToken("Unknown API token.")
    at = at or timezone.now()
    if token.is_revoked():
        raise InvalidToken("This API token has been revoked.")
    if token.is_expired(at):
        raise InvalidToken(f"This API token expired on {date_format(token.expires_at, 'j F Y')}.")
    if not token.owner.is_active:
        raise InvalidToken("The account that owns this API token is disabled.")
    return token


def touch(token: ApiToken, *, at=None) -> None:
    """Record that `token` was used now, at most once per `TOUCH_INTERVAL`: a conditional UPDATE, so
    processes serving the same token at once write it once between them."""
    at = at or timezone.now()
    if token.last_used_at is not None and at - token.last_used_at < TOUCH_INTERVAL:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=at - TOUCH_INTERVAL)
    if ApiToken.objects.filter(stale, pk=token.pk).update(last_used_at=at):
        token.last_used_at = at
