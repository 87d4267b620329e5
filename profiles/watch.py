"""Watchlists: following profiles, what changed since the last look, and e-mail digests.

Everything a follower is shown comes through `updates.updates_for(reader, …)`, so tier rules
are applied by the gate at the moment of reading or sending: a member who lapsed yesterday
gets no locked text today.
"""

from __future__ import annotations

import datetime
import logging
import re
import textwrap
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import Truncator
from django_tasks import task

import siteurl
from membership.gating import reader_for
from outbox.services import queue, send_queued

from .cache import bump_counter, counter_value
from .markdown import render_markdown, to_plain_text
from .models import DigestDelivery, Follow, Institution, WatchSettings
from .updates import updates_for

PERIODS = {
    WatchSettings.Frequency.DAILY: datetime.timedelta(hours=23),
    WatchSettings.Frequency.WEEKLY: datetime.timedelta(days=6, hours=23),
}
FIRST_DIGEST_LOOKBACK = datetime.timedelta(days=7)
DIGEST_LIMIT = 100
UNSUBSCRIBE_SALT = "btwprofiles.watch.unsubscribe"
UNSUBSCRIBE_MAX_AGE = datetime.timedelta(days=60)

logger = logging.getLogger(__name__)


class WatchError(Exception):
    """A refused watchlist action, with a message for the reader."""


class MembersOnly(PermissionDenied):
    """Following refused to a reader below the Strategic Circle; its 403 page says why (`reader_reason`)."""

    reader_reason = "Watchlists are for members: join the Strategic Circle (free) to follow profiles."

    def __init__(self, message: str = reader_reason):
        super().__init__(message)


def may_follow(reader) -> bool:
    """Watchlists are a member benefit (Strategic Circle and above). Give a request's reader
    (`request.reader`) when there is one: staff follow with the sight their session has."""
    reader = reader_for(reader)
    return reader.is_authenticated and reader.is_member


#: The session key of a "Sign in to follow" not completed yet: the profile's pk (`remember_follow`).
FOLLOW_AFTER_SIGN_IN = "btw_follow_after_sign_in"


def remember_follow(session, institution: Institution) -> None:
    """"Sign in to follow": remember which profile, to follow it once the reader has signed in
    (`follow_remembered`). Only the intent is kept; the follow itself is made by the sign-in."""
    session[FOLLOW_AFTER_SIGN_IN] = institution.pk


def follow_remembered(*, session, reader) -> Institution | None:
    """Complete a remembered "Sign in to follow" for a reader who has just signed in; returns the
    profile now followed, or None when nothing was remembered or it is no longer published.
    Raises `MembersOnly` for a reader below the Strategic Circle (the intent is dropped either way)."""
    pk = session.pop(FOLLOW_AFTER_SIGN_IN, None)
    if pk is None:
        return None
    institution = Institution.objects.published().filter(pk=pk).first()
    if institution is None:
        return None
    set_following(reader=reader, institution=institution, follow=True)
    return institution


def follow_cache_keys(user_pk) -> list[str]:
    """The cache keys of one member's followed profiles: the entry, then the counter it must match."""
    return [f"btw:follows:{user_pk}", f"btw:follows-version:{user_pk}"]


def followed_ids(user, prefetched: dict | None = None) -> frozenset[int]:
    """The profiles this user follows, asked on every member's profile page.

    From the cache while its entry carries the member's current follow counter (every follow or
    unfollow moves it, at once and on commit: `follows_changed`), else one query, then cached.
    `prefetched` holds both keys' values when the page fetched them with its other cache entries.
    """
    if not settings.BTW_FRAGMENT_CACHE_TIMEOUT:
        return _read_followed_ids(user)
    entry_key, counter_key = follow_cache_keys(user.pk)
    found = prefetched if prefetched is not None else cache.get_many([entry_key, counter_key])
    counter, entry = found.get(counter_key), found.get(entry_key)
    if counter is not None and entry is not None and entry[0] == counter:
        return entry[1]
    if counter is None:
        counter = counter_value(counter_key)
    ids = _read_followed_ids(user)
    cache.set(entry_key, (counter, ids), settings.BTW_FRAGMENT_CACHE_TIMEOUT)
    return ids


def _read_followed_ids(user) -> frozenset[int]:
    return frozenset(Follow.objects.filter(user=user).values_list("institution_id", flat=True))


def follows_changed(sender, instance, **kwargs) -> None:
    """Signal receiver for Follow saves and deletes: retire the member's cached followed profiles."""
    bump_counter(follow_cache_keys(instance.user_id)[1])


@transaction.atomic
def set_following(*, reader, institution: Institution, follow: bool) -> bool:
    """Follow or unfollow a published profile; returns whether the reader now follows it."""
    user = reader_for(reader).user
    if not may_follow(reader):
        raise MembersOnly()
    if follow:
        if not institution.is_published():
            raise WatchError("Only published profiles can be followed.")
        Follow.objects.get_or_create(user=user, institution=institution)
        WatchSettings.objects.get_or_create(user=user)
        return True
    Follow.objects.filter(user=user, institution=institution).delete()
    return False


def watchlist(reader, *, limit_per_profile: int = 10):
    """The followed profiles with what changed since the member last looked at each, in bounded queries."""
    reader = reader_for(reader)
    follows = list(
        Follow.objects.of(reader.user)
        .filter(institution__in=Institution.objects.published())
        .select_related("institution")
        .order_by("institution__name")
    )
    if not follows:
        return []
    since = min(f.last_seen_at for f in follows)
    institutions = Institution.objects.published().filter(pk__in=[f.institution_id for f in follows])
    grouped = defaultdict(list)
    for update in updates_for(reader, institutions, since=since, limit=500, watch_kinds=True):
        grouped[update.institution.pk].append(update)
    return [
        (f, [u for u in grouped[f.institution_id] if u.at > f.last_seen_at][:limit_per_profile]) for f in follows
    ]


def mark_seen(user, at=None) -> None:
    Follow.objects.of(user).update(last_seen_at=at or timezone.now())


# --- digests -------------------------------------------------------------------------------


def due_for_digest(now=None):
    """Members whose chosen period has passed since their last digest, and who follow something."""
    now = now or timezone.now()
    due = Q()
    for frequency, period in PERIODS.items():
        due |= Q(frequency=frequency) & (Q(last_digest_at__isnull=True) | Q(last_digest_at__lte=now - period))
    return (
        WatchSettings.objects.filter(due, user__is_active=True, user__follows__isnull=False)
        .distinct()
        .order_by("user_id")
    )


def unsubscribe_token(user) -> str:
    return signing.dumps({"u": user.pk}, salt=UNSUBSCRIBE_SALT, compress=True)


def user_from_unsubscribe_token(token: str):
    """The user a token names; raises signing.BadSignature (tampered) or SignatureExpired (old)."""
    data = signing.loads(token, salt=UNSUBSCRIBE_SALT, max_age=UNSUBSCRIBE_MAX_AGE)
    return get_user_model().objects.get(pk=data["u"])


def unsubscribe(user) -> None:
    WatchSettings.objects.update_or_create(user=user, defaults={"frequency": WatchSettings.Frequency.OFF})


def send_digest(settings_pk: int, *, now=None) -> int:
    """Decide, record and queue one member's digest in one transaction, then send it; returns items mailed.

    The row lock makes two concurrent runs take turns; the re-check after locking makes the
    second one see the first one's record and queue nothing. The digest's record and its message
    commit together (the outbox), so an SMTP outage delays the mail and never skips or repeats it:
    `send_queued_mail` retries it. The block is durable: it commits before the message is sent.
    """
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        row = WatchSettings.objects.select_for_update().select_related("user").filter(pk=settings_pk).first()
        if row is None or not due_for_digest(now).filter(pk=row.pk).exists():
            return 0
        user = row.user
        since = row.last_digest_at or now - FIRST_DIGEST_LOOKBACK
        followed = Institution.objects.published().filter(follows__user=user)
        updates = updates_for(reader_for(user), followed, since=since, limit=DIGEST_LIMIT, watch_kinds=True)
        row.last_digest_at = now
        row.save(update_fields=["last_digest_at"])
        if not updates:
            return 0
        DigestDelivery.objects.create(
            user=user,
            window_start=since,
            window_end=now,
            item_count=len(updates),
            item_keys="\n".join(u.key for u in updates),
            sent_at=now,
        )
        queued = queue(digest_message(user, updates, since=since), kind="watchlist digest", send_after_commit=False)
    send_queued(ids=[queued.pk])
    return len(updates)


class DigestBatchFailed(Exception):
    """Some members' digests in a batch raised; the others were sent. The job fails so staff see it;
    the members left out are still due, so the next `send_watch_digests` run tries them again."""


def fan_out_digests(now=None, *, batch_size: int | None = None) -> list:
    """Enqueue one `send_digest_batch` job per batch of due members (`BTW_DIGEST_BATCH_SIZE`); returns
    the jobs' results. On the immediate backend each batch has run when this returns; on the database
    backend the workers take them, in parallel on any number of machines.

    Each enqueue commits on its own: a crash part-way leaves the rest for the next run, which finds
    the same members still due. A member in two batches (two runs overlapping) gets one digest:
    `send_digest` decides each one under the member's row lock.
    """
    size = batch_size or settings.BTW_DIGEST_BATCH_SIZE
    if size < 1:
        raise ValueError(f"A digest batch holds at least one member, not {size}.")
    due = list(due_for_digest(now).values_list("pk", flat=True))
    return [send_digest_batch.enqueue(due[start : start + size]) for start in range(0, len(due), size)]


@task()
def send_digest_batch(settings_pks: list[int]) -> dict[str, int]:
    """One job of the digest fan-out: the digests of a batch of members (their WatchSettings rows).

    Safe to run again, whole or after dying part-way (a worker killed mid-batch; the lease puts the
    job back): members already served are no longer due and `send_digest` skips them under their
    row lock, so each member gets one digest per period. One member's failure does not stop the others.
    """
    now = timezone.now()  # when the job runs, not when it was queued: the window ends at what is read
    digests = updates = 0
    failed = []
    for settings_pk in settings_pks:
        try:
            items = send_digest(settings_pk, now=now)
        except Exception:
            logger.exception("Digest for watch settings %s failed", settings_pk)
            failed.append(settings_pk)
            continue
        if items:
            digests += 1
            updates += items
    if failed:
        raise DigestBatchFailed(
            f"{len(failed)} of {len(settings_pks)} digests failed (watch settings {failed}); "
            f"{digests} sent with {updates} update(s)."
        )
    return {"digests": digests, "updates": updates}


_LINK_TARGET = re.compile(r" \((?:https?|mailto):[^)\s]*\)")  # "text (url)" as `to_plain_text` writes a link
DIGEST_WORDS = 60  # of each update's text: a digest points to the page, it does not replace it


@dataclass(frozen=True)
class DigestEntry:
    """One update as a digest shows it: its link named after what it links to, its text rendered."""

    kind_label: str
    label: str
    url: str  # empty when it is the profile page itself: the group's heading links there already
    at: datetime.datetime
    html: str
    text: str


def _link_label(update) -> str:
    """What the link opens: the update's own title without the profile's name (the group heading
    says it), or, for a watchpoint, its first words (every watchpoint's title reads the same)."""
    name = update.institution.name
    title = update.title.removeprefix(f"{name}: ").strip()
    if update.kind == "correction":  # titled by the profile's name, which the group heading says already
        return "Correction notice on the profile"
    if update.kind == "watchpoint":
        first_line = to_plain_text(update.description, update.citations).partition("\n")[0]
        words = Truncator(_LINK_TARGET.sub("", first_line)).words(12)
        title = f"{title[:1].upper()}{title[1:]}: {words}" if words else title
    return title or name


def _first_words(text: str, limit: int = DIGEST_WORDS) -> str:
    """Plain text cut after `limit` words, its line breaks kept (Truncator joins every line into one)."""
    source, lines, left = text.splitlines(), [], limit
    for number, line in enumerate(source):
        words = line.split()
        if len(words) > left or (len(words) == left and any(rest.strip() for rest in source[number + 1 :])):
            lines.append(" ".join(words[:left]) + "…")
            break
        lines.append(line)
        left -= len(words)
    return "\n".join(lines)


def digest_groups(updates) -> list[tuple[Institution, str, list[DigestEntry]]]:
    """The updates by profile (first seen first), each with absolute links on the site's address
    and its Markdown rendered for both parts; labels made unique within the digest."""
    groups: dict[int, tuple[Institution, str, list[DigestEntry]]] = {}
    seen: defaultdict[str, int] = defaultdict(int)
    for update in updates:
        institution = update.institution
        page = siteurl.absolute(institution.get_absolute_url())
        group = groups.setdefault(institution.pk, (institution, page, []))
        label = _link_label(update)
        seen[label.casefold()] += 1
        if seen[label.casefold()] > 1:
            label = f"{label} ({update.at:%d %b %Y}, {seen[label.casefold()]})"
        html = render_markdown(update.description, update.citations, base_url=page)
        group[2].append(
            DigestEntry(
                kind_label=update.kind_label,
                label=label,
                url="" if siteurl.absolute(update.link) == page else siteurl.absolute(update.link),
                at=update.at,
                html=Truncator(str(html)).words(DIGEST_WORDS, html=True),
                text=textwrap.indent(_first_words(to_plain_text(update.description, update.citations)), "  "),
            )
        )
    return list(groups.values())


def digest_message(user, updates, *, since) -> EmailMultiAlternatives:
    """The digest e-mail: a complete HTML document and a readable plain-text part, one-click unsubscribe."""
    unsubscribe_url = siteurl.absolute(reverse("watch:unsubscribe", kwargs={"token": unsubscribe_token(user)}))
    count = len(updates)
    subject = f"{count} update{pluralize(count)} on profiles you follow"
    context = {
        "user": user,
        "subject": subject,
        "groups": digest_groups(updates),
        "since": since,
        "site_name": siteurl.name(),
        "site_url": siteurl.base(),
        "watchlist_url": siteurl.absolute(reverse("watch:list")),
        "unsubscribe_url": unsubscribe_url,
    }
    message = EmailMultiAlternatives(
        subject=f"[{siteurl.name()}] {subject}",
        body=render_to_string("profiles/email/digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(render_to_string("profiles/email/digest.html", context), "text/html")
    return message
