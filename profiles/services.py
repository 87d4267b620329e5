"""Writes to a profile: the optimistic lock, the public "last updated" date, analysts' assignment.

Every write that touches more than one row goes through a keyword-only function here, inside
`transaction.atomic`, so the admin, `seed_demo` and tests share one set of rules. Reviewed
children (evidence, relationships) are saved through `profiles.review`, which owns that workflow.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.utils import formats, timezone
from guardian.core import ObjectPermissionChecker
from guardian.shortcuts import assign_perm, get_objects_for_user

from . import review
from .models import FAQItem, Institution

CHANGE_PERM = "profiles.change_institution"
MODERATE_PERM = "profiles.moderate_evidence"

#: What readers see of a profile. Changing any of these on a published profile moves its public
#: "last updated" date; every other field (status bookkeeping, slug, sectors…) leaves it alone.
READER_VISIBLE_FIELDS = (
    "name",
    "dek",
    "key_points",
    "headline",
    "body",
    "domain_summary",
    "public_role",
    "operating_surface",
    "what_it_does",
    "why_it_matters",
    "criticality",
    "time_horizon",
    "what_to_watch",
    "public_view",
    "caveats",
    "type",
    "base_region",
    "profile_focus",
)


# --- who may edit what --------------------------------------------------------------------


def can_edit_institution(user, institution, *, checker: ObjectPermissionChecker | None = None) -> bool:
    """Lead analysts (global perm) edit every profile; analysts only those assigned to them."""
    if not (user and user.is_active and user.is_staff):
        return False
    if user.has_perm(CHANGE_PERM):
        return True
    if institution is None or institution.pk is None:
        return False
    checker = checker or ObjectPermissionChecker(user)
    return checker.has_perm("change_institution", institution)


def sees_every_institution(user) -> bool:
    """Superusers, lead analysts and newsroom-wide moderators work across all profiles."""
    return user.is_superuser or user.has_perm(CHANGE_PERM) or user.has_perm(MODERATE_PERM)


def institutions_for_staff(user, queryset=None):
    """The profiles a staff member works on: all for leads and moderators, else their assignments.

    Per-profile moderators (guardian `moderate_evidence` on one institution) see those too.
    """
    queryset = Institution.objects.all() if queryset is None else queryset
    if sees_every_institution(user):
        return queryset
    return get_objects_for_user(
        user, [CHANGE_PERM, MODERATE_PERM], klass=queryset, any_perm=True, accept_global_perms=False
    )


def editable_institutions(user, queryset=None):
    """The profiles whose content (and children) this user may change."""
    queryset = Institution.objects.all() if queryset is None else queryset
    if user.is_superuser or user.has_perm(CHANGE_PERM):
        return queryset
    return get_objects_for_user(user, CHANGE_PERM, klass=queryset, accept_global_perms=False)


@transaction.atomic
def assign_analyst(*, institution: Institution, user) -> None:
    """Give one analyst the right to edit one profile (guardian object permission)."""
    assign_perm(CHANGE_PERM, user, institution)


# --- the optimistic lock --------------------------------------------------------------------


class StaleEdit(Exception):
    """Somebody saved the profile after this editor loaded it; their edit must not be overwritten."""

    def __init__(self, *, institution_pk, current_version, edited_by=None, edited_at=None):
        self.institution_pk = institution_pk
        self.current_version = current_version
        self.edited_by = edited_by
        self.edited_at = edited_at
        super().__init__(self.message)

    @property
    def editor_name(self) -> str:
        user = self.edited_by
        if user is None:
            return "Someone else"
        return user.get_full_name() or user.email or user.get_username()

    @property
    def message(self) -> str:
        when = ""
        if self.edited_at is not None:
            local = timezone.localtime(self.edited_at)
            when = f" on {formats.date_format(local, 'j M Y')} at {local:%H:%M} {local.tzname()}"
        return (
            f"{self.editor_name} saved this profile{when}, after you opened it. Your changes have not "
            "been saved, and they are still in the form below. Check the profile's history for what "
            "changed; saving again will replace their version with yours."
        )


def stale_edit_for(institution_pk) -> StaleEdit | None:
    """The `StaleEdit` describing the profile's current row (None if it no longer exists)."""
    row = (
        Institution.objects.filter(pk=institution_pk)
        .select_related("last_edited_by")
        .only("version", "updated_at", "last_edited_by")
        .first()
    )
    if row is None:
        return None
    return StaleEdit(
        institution_pk=institution_pk,
        current_version=row.version,
        edited_by=row.last_edited_by,
        edited_at=row.updated_at,
    )


def find_stale_edit(*, institution: Institution, form_version: int) -> StaleEdit | None:
    """Compare the version a form was loaded at with the database (used by the form's clean())."""
    current = Institution.objects.filter(pk=institution.pk).values_list("version", flat=True).first()
    if current is None or current == form_version:
        return None
    return stale_edit_for(institution.pk)


def _publish_defaults(institution: Institution, at: datetime.datetime) -> None:
    """A profile published without a time is published now (the help text promises it)."""
    if institution.status == Institution.Status.PUBLISHED and institution.published_at is None:
        institution.published_at = at


@transaction.atomic
def save_institution(
    *, institution: Institution, user, form_version: int | None = None, at: datetime.datetime | None = None
) -> Institution:
    """Create a profile, or save an edit of one under the optimistic lock.

    An edit claims the row with `UPDATE … WHERE pk = … AND version = form_version`; if the row
    has moved on, `StaleEdit` is raised and the surrounding transaction (the admin's change view
    is atomic) rolls back everything, inlines included. A creator is assigned to the new profile.
    """
    at = at or timezone.now()
    _publish_defaults(institution, at)
    institution.last_edited_by = user
    if institution._state.adding:
        institution.version = 1
        institution.public_updated_at = _first_public_time(institution, at)
        institution.full_clean()
        institution.save()
        if user is not None:
            assign_analyst(institution=institution, user=user)
        return institution

    if form_version is None:
        raise TypeError("Editing a profile needs the version its form was loaded at (form_version).")
    claimed = Institution.objects.filter(pk=institution.pk, version=form_version).update(
        version=F("version") + 1, last_edited_by=user
    )
    if not claimed:
        stale = stale_edit_for(institution.pk)
        if stale is None:
            raise Institution.DoesNotExist(f"Profile {institution.pk} was deleted while it was being edited.")
        raise stale
    # The row is ours (and locked) until the transaction ends: read what readers saw before.
    before = Institution.objects.filter(pk=institution.pk).values(
        *READER_VISIBLE_FIELDS, "status", "published_at", "public_updated_at"
    ).get()
    institution.version = form_version + 1
    institution.public_updated_at = before["public_updated_at"]  # only the rules below move it
    publishing = _is_publishing(institution, before)
    if publishing:
        institution.public_updated_at = _first_public_time(institution, at)
    institution.full_clean()
    institution.save()
    if not publishing and institution.status == Institution.Status.PUBLISHED:
        changed = changed_public_fields(institution, before)
        if changed:
            labels = ", ".join(str(Institution._meta.get_field(name).verbose_name) for name in changed)
            touch_public(institution, summary=f"Revised: {labels}.", at=at)
    return institution


def _first_public_time(institution: Institution, at: datetime.datetime):
    """Readers first see a profile at its publication time, or now if that time is past."""
    if institution.status != Institution.Status.PUBLISHED:
        return None
    return max(institution.published_at, at)


def _is_publishing(institution: Institution, before: dict) -> bool:
    """Publishing (or re-publishing, or rescheduling) sets the public date afresh."""
    if institution.status != Institution.Status.PUBLISHED:
        return False
    if before["status"] != Institution.Status.PUBLISHED:
        return True
    return not _same_second(before["published_at"], institution.published_at)


def _same_second(a, b) -> bool:
    """Forms post times to the second; a lost microsecond is not a reschedule."""
    if a is None or b is None:
        return a is b
    return a.replace(microsecond=0) == b.replace(microsecond=0)


def changed_public_fields(institution: Institution, before: dict) -> list[str]:
    return [name for name in READER_VISIBLE_FIELDS if getattr(institution, name) != before[name]]


def touch_public(institution: Institution, *, summary: str = "", at: datetime.datetime | None = None) -> bool:
    """Record that readers' view of a published profile changed; returns whether it moved.

    A scheduled profile keeps its publication time as its public date; drafts never move.
    """
    at = at or timezone.now()
    if institution.status != Institution.Status.PUBLISHED or institution.published_at is None:
        return False
    if institution.published_at > at:
        Institution.objects.filter(pk=institution.pk).update(public_updated_at=institution.published_at)
        institution.public_updated_at = institution.published_at
        return True
    institution.record_public_change(summary=summary, at=at)
    return True


# --- children -------------------------------------------------------------------------------


@transaction.atomic
def save_reviewed_item(*, item, user):
    """New evidence or relationships enter review as "submitted" by `user`; edits may re-enter it."""
    return review.save_edited(item, actor=user)


@transaction.atomic
def save_faq_items(*, items: Iterable[FAQItem], deleted: Iterable[FAQItem] = ()) -> None:
    """Save a profile's FAQ rows so that swapping two orders never trips the unique constraint.

    Rows whose order changes are first parked past the current maximum, then saved object by
    object (simple-history records each), so the constraint holds at every statement.
    """
    for item in deleted:
        item.delete()
    items = list(items)
    moving = [item for item in items if item.pk is not None]
    if moving:
        institution_id = moving[0].institution_id
        orders = dict(FAQItem.objects.filter(pk__in=[i.pk for i in moving]).values_list("pk", "order"))
        moving = [item for item in moving if orders.get(item.pk) != item.order]
        if moving:
            top = max(
                FAQItem.objects.filter(institution_id=institution_id).order_by("-order").values_list(
                    "order", flat=True
                ).first()
                or 0,
                *(item.order for item in items),
            )
            for offset, item in enumerate(moving, start=1):
                FAQItem.objects.filter(pk=item.pk).update(order=top + offset)
    for item in items:
        item.save()
