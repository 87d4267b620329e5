"""What happens when something readers can see of a profile changes, written once.

Its public "last updated" date moves, the day's "Public profile updated" timeline entry gathers a
line saying what changed, and every cached public render is retired. Both the editing service
(`profiles.services`) and the review workflow (`profiles.review`) record changes here, so this
module sits below both of them and imports neither.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from .cache import retire
from .change_log import record_institution
from .dependencies import LISTS, profile_tag
from .models import Institution, TimelineEvent

PROFILE_UPDATED_TITLE = "Public profile updated"


def first_public_time(institution: Institution, at: datetime.datetime) -> datetime.datetime | None:
    """The public date of a profile being published: readers first see it at its publication time,
    or now (`at`) if that time is past; None while it is not published."""
    if institution.status != Institution.Status.PUBLISHED:
        return None
    return max(institution.published_at, at)


def record_public_change(institution: Institution, *, summary: str = "", at: datetime.datetime | None = None) -> None:
    """Move the public "last updated" date and the day's "profile updated" timeline entry.

    Call it only when something readers can see changed (moderation approvals, retractions, edits
    to public fields of a published profile). It deliberately leaves `version` alone so that a
    moderator's approval never turns an analyst's open edit into a stale one.
    """
    at = at or timezone.now()
    Institution.objects.filter(pk=institution.pk).update(public_updated_at=at)
    institution.public_updated_at = at
    record_institution(institution.pk)
    retire([LISTS, profile_tag(institution.slug)])  # an update() sends no signal
    if not institution.is_published(at):
        return
    entry, created = TimelineEvent.objects.get_or_create(
        institution=institution,
        date=timezone.localdate(at),
        kind=TimelineEvent.Kind.PROFILE_UPDATE,
        defaults={"title": PROFILE_UPDATED_TITLE, "text": summary},
    )
    if not created and summary and summary not in entry.text:
        entry.text = f"{entry.text}\n{summary}".strip()
        entry.save(update_fields=["text"])


def touch_public(institution: Institution, *, summary: str = "", at: datetime.datetime | None = None) -> bool:
    """Record that readers' view of a published profile changed; returns whether it moved.

    A scheduled profile keeps its publication time as its public date (readers have not seen it
    yet, so there is no "update" to announce); drafts and archived profiles never move.
    """
    at = at or timezone.now()
    if institution.is_scheduled(at):
        Institution.objects.filter(pk=institution.pk).update(public_updated_at=institution.published_at)
        institution.public_updated_at = institution.published_at
        record_institution(institution.pk)
        return True
    if not institution.is_published(at):
        return False
    record_public_change(institution, summary=summary, at=at)
    return True
