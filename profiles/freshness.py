"""Freshness: confirming that a profile's sections still hold, and the staff digest that reminds
analysts of what is due.

A profile is *verified* when an analyst who may change it confirms its sections still hold
(`confirm_sections`): the date is shown to readers next to "Updated", recorded in the profile's
history and in the audit log. Published profiles nobody has confirmed within `BTW_REVERIFY_DAYS`
are due again (`Institution.objects.due_for_reverification`); open watchpoints past their
review-by date are overdue (`Watchpoint.objects.overdue`). Once a day the staff digest
(`send_staff_digests`, run by `manage.py send_staff_digest`) mails each assigned analyst both lists
for their own profiles, through the outbox, at most once per analyst per day.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone

import siteurl
from audit import services as audit
from outbox.models import OutgoingMail
from outbox.services import queue, send_queued

from . import permissions
from .models import (
    Institution,
    InstitutionGroupObjectPermission,
    InstitutionUserObjectPermission,
    Watchpoint,
)

#: The reason shown in the profile's history for a confirmation.
VERIFIED_REASON = "Sections confirmed as still holding"
#: The outbox `kind` of a staff digest (and the first part of its fixed Message-ID).
STAFF_DIGEST_KIND = "staff digest"
_ASSIGNED = "change_institution"
#: Rows of each list an e-mail shows; the rest are counted ("and 12 more") and are in the admin.
DIGEST_LIST_LIMIT = 50


# --- confirming ---------------------------------------------------------------------------------


def may_confirm(user, institution: Institution) -> bool:
    """Whoever may change the profile confirms it: its assigned analysts, lead analysts and
    superusers; never a moderator as such (moderators decide evidence, not a profile's text)."""
    return permissions.can_edit_institution(user, institution)


@transaction.atomic
def confirm_sections(*, institution: Institution, user, at: datetime.datetime | None = None) -> Institution:
    """Record that `user` confirmed the profile's sections still hold, at `at` (default now).

    Writes only the two "last verified" fields (the row locked, so a concurrent edit keeps its own
    fields and its optimistic-lock version: confirming never turns an open edit into a stale one),
    one history row with `VERIFIED_REASON`, and one audit entry, in one transaction. Readers' public
    "last updated" date does not move: nothing they read changed. Raises PermissionDenied for
    anyone who may not change the profile.
    """
    if not may_confirm(user, institution):
        raise PermissionDenied(
            "Only the analysts assigned to this profile and lead analysts may confirm that its sections still hold."
        )
    at = at or timezone.now()
    row = Institution.objects.select_for_update().get(pk=institution.pk)
    previous = row.last_verified_at
    row.last_verified_at, row.last_verified_by = at, user
    row._history_user = user
    row._change_reason = VERIFIED_REASON
    row.save(update_fields=["last_verified_at", "last_verified_by"])
    audit.record(
        actor=user,
        action=audit.Action.VERIFY,
        target=row,
        summary=f"Confirmed that the sections of “{row.name}” still hold.",
        data={"verified_at": at.isoformat(), "previously_verified_at": previous.isoformat() if previous else None},
        at=at,
    )
    institution.last_verified_at, institution.last_verified_by = at, user
    return row


# --- the staff digest -----------------------------------------------------------------------------


class DigestInputError(ValueError):
    """The digest cannot run as asked (an unknown analyst, a misconfigured period); one readable line."""


@dataclass
class AnalystDesk:
    """What one assigned analyst is reminded of: their overdue watchpoints and due profiles."""

    user: object
    overdue: list[Watchpoint] = field(default_factory=list)
    due: list[Institution] = field(default_factory=list)

    def __bool__(self):
        return bool(self.overdue or self.due)


@dataclass
class DigestReport:
    queued: int = 0
    already_sent: int = 0
    nothing_due: int = 0

    def __str__(self):
        return (
            f"Queued {self.queued} staff digest{pluralize(self.queued)}; {self.already_sent} already sent today, "
            f"{self.nothing_due} analyst{pluralize(self.nothing_due)} with nothing due."
        )


def checked_period() -> datetime.timedelta:
    """`BTW_REVERIFY_DAYS` as a period, refused when it is not a positive number of days."""
    days = settings.BTW_REVERIFY_DAYS
    if not isinstance(days, int) or days < 1:
        raise ImproperlyConfigured(f"BTW_REVERIFY_DAYS must be a whole number of days, 1 or more; got {days!r}.")
    return datetime.timedelta(days=days)


def _assignment_rows(analyst_email: str | None = None):
    """The guardian rows that assign profiles to active staff (`change_institution` held directly,
    and through a group): two querysets, read as pairs and used as subqueries."""
    by_user = InstitutionUserObjectPermission.objects.filter(
        permission__codename=_ASSIGNED, user__is_active=True, user__is_staff=True
    )
    by_group = InstitutionGroupObjectPermission.objects.filter(
        permission__codename=_ASSIGNED, group__user__is_active=True, group__user__is_staff=True
    )
    if analyst_email is not None:
        by_user = by_user.filter(user__email__iexact=analyst_email)
        by_group = by_group.filter(group__user__email__iexact=analyst_email)
    return by_user, by_group


def assignments(analyst_email: str | None = None) -> dict[int, set[int]]:
    """Active staff member id → ids of the profiles assigned to them. Two queries."""
    by_user, by_group = _assignment_rows(analyst_email)
    found: dict[int, set[int]] = defaultdict(set)
    for user_id, institution_id in by_user.values_list("user_id", "content_object_id"):
        found[user_id].add(institution_id)
    for user_id, institution_id in by_group.values_list("group__user", "content_object_id"):
        found[user_id].add(institution_id)
    return dict(found)


def desks(*, now: datetime.datetime | None = None, analyst_email: str | None = None) -> list[AnalystDesk]:
    """Every assigned analyst's desk, in five queries whatever the number of profiles or analysts."""
    now = now or timezone.now()
    checked_period()
    assigned = assignments(analyst_email)
    if analyst_email is not None and not assigned:
        raise DigestInputError(f"No active staff member with the e-mail address {analyst_email} is assigned a profile.")
    by_user, by_group = _assignment_rows(analyst_email)
    assigned_profiles = Q(pk__in=by_user.values("content_object_id")) | Q(pk__in=by_group.values("content_object_id"))
    users = get_user_model().objects.filter(pk__in=list(assigned)).exclude(email="").order_by("pk")
    overdue = (
        Watchpoint.objects.overdue(timezone.localdate(now))
        .filter(institution__in=Institution.objects.filter(assigned_profiles).values("pk"))
        .select_related("institution", "required_tier")
    )
    due = list(
        Institution.objects.due_for_reverification(now)
        .filter(assigned_profiles)
        .select_related("last_verified_by")
        .only("pk", "name", "slug", "status", "published_at", "last_verified_at", "last_verified_by")
    )
    overdue_by_profile = defaultdict(list)
    for watchpoint in overdue:
        overdue_by_profile[watchpoint.institution_id].append(watchpoint)
    return [
        AnalystDesk(
            user=user,
            overdue=sorted(
                (w for pk in assigned[user.pk] for w in overdue_by_profile.get(pk, ())),
                key=lambda w: (w.review_by, w.pk),
            ),
            due=[institution for institution in due if institution.pk in assigned[user.pk]],
        )
        for user in users
    ]


def digest_message_id(user, day: datetime.date) -> str:
    """The one Message-ID of `user`'s digest of `day`: the outbox holds it once, so a second run of
    the same day finds it and queues nothing (and a receiver drops any copy)."""
    host = siteurl.domain().split(":")[0] or "localhost"
    return f"<staff-digest.{day:%Y%m%d}.{user.pk}@{host}>"


def _admin_url(name: str, *args) -> str:
    return siteurl.absolute(reverse(f"admin:{name}", args=args))


def staff_digest_message(desk: AnalystDesk, *, day: datetime.date) -> EmailMultiAlternatives:
    """One analyst's digest: overdue watchpoints, then profiles to re-verify, each linked to the admin."""
    overdue, due = len(desk.overdue), len(desk.due)
    parts = []
    if overdue:
        parts.append(f"{overdue} overdue watchpoint{pluralize(overdue)}")
    if due:
        parts.append(f"{due} profile{pluralize(due)} to re-verify")
    subject = "Your desk: " + " and ".join(parts)
    context = {
        "user": desk.user,
        "subject": subject,
        "day": day,
        "period_days": settings.BTW_REVERIFY_DAYS,
        "overdue": [
            {
                "watchpoint": w,
                "institution": w.institution,
                "url": _admin_url("profiles_watchpoint_change", w.pk),
                "profile_url": _admin_url("profiles_institution_change", w.institution_id),
                "days_overdue": (day - w.review_by).days,
            }
            for w in desk.overdue[:DIGEST_LIST_LIMIT]
        ],
        "overdue_more": max(overdue - DIGEST_LIST_LIMIT, 0),
        "due": [
            {
                "institution": institution,
                "confirm_url": _admin_url("profiles_institution_confirm_sections", institution.pk),
                "profile_url": _admin_url("profiles_institution_change", institution.pk),
                "last_verified": (
                    formats.date_format(timezone.localtime(institution.last_verified_at), "j F Y")
                    if institution.last_verified_at
                    else ""
                ),
            }
            for institution in desk.due[:DIGEST_LIST_LIMIT]
        ],
        "due_more": max(due - DIGEST_LIST_LIMIT, 0),
        "queue_url": _admin_url("profiles_reverificationqueueitem_changelist"),
        "site_name": siteurl.name(),
    }
    message = EmailMultiAlternatives(
        subject=f"[{siteurl.name()}] {subject}",
        body=render_to_string("profiles/email/staff_digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[desk.user.email],
        headers={"Message-ID": digest_message_id(desk.user, day)},
    )
    message.attach_alternative(render_to_string("profiles/email/staff_digest.html", context), "text/html")
    return message


def send_staff_digests(*, now: datetime.datetime | None = None, analyst_email: str | None = None) -> DigestReport:
    """Queue today's digest for every assigned analyst with something due, once per analyst per day.

    Each analyst's digest is decided under a lock on their user row and committed with its outbox
    row, so two overlapping runs take turns and the second finds the first one's Message-ID and
    queues nothing. The messages are sent once all are queued (what SMTP refuses, the outbox retries).
    """
    now = now or timezone.now()
    day = timezone.localdate(now)
    report, queued_ids = DigestReport(), []
    for desk in desks(now=now, analyst_email=analyst_email):
        if not desk:
            report.nothing_due += 1
            continue
        message_id = digest_message_id(desk.user, day)
        with transaction.atomic(durable=True):
            get_user_model().objects.select_for_update().filter(pk=desk.user.pk).first()
            if OutgoingMail.objects.filter(kind=STAFF_DIGEST_KIND, **{"headers__Message-ID": message_id}).exists():
                report.already_sent += 1
                continue
            row = queue(staff_digest_message(desk, day=day), kind=STAFF_DIGEST_KIND, send_after_commit=False)
        queued_ids.append(row.pk)
        report.queued += 1
    if queued_ids:
        send_queued(ids=queued_ids)
    return report
