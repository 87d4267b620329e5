"""Writes to a profile: the optimistic lock, the publication guard, analysts' assignment.

Every write that touches more than one row goes through a keyword-only function here, inside
`transaction.atomic`, so the admin, `seed_demo` and tests share one set of rules. Reviewed
children (evidence, relationships) are saved through `profiles.review`, which owns that workflow.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import formats, timezone

from audit import services as audit

from . import corrections, grants, history, publication, review
from .models import FAQItem, Institution
from .public_changes import first_public_time, touch_public

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


@transaction.atomic
def save_institution(
    *,
    institution: Institution,
    user,
    form_version: int | None = None,
    at: datetime.datetime | None = None,
    override_reason: str = "",
    save_children: Callable[[], None] | None = None,
    correction_note: str = "",
) -> Institution:
    """Create a profile, or save an edit of one under the optimistic lock, then apply the
    publication guard and write the audit log.

    An edit claims the row with `UPDATE … WHERE pk = … AND version = form_version`; if the row
    has moved on, `StaleEdit` is raised and the surrounding transaction (the admin's change view
    is atomic) rolls back everything, inlines included. A creator is assigned to the new profile.

    `save_children` (the admin's inlines) runs once the row is saved, so that the publication
    guard, which comes last, judges the whole submission. Publishing or scheduling a profile that
    fails `publication.publication_checklist` raises `publication.PublicationRefused` and rolls
    everything back, unless a superuser gives an `override_reason` (anyone else's is ignored).
    Publication, scheduling, unpublication and overrides are recorded in the audit log, in this
    transaction: a save that rolls back leaves no entry.

    A `correction_note` marks the edit as a correction readers are told about (`profiles.corrections`):
    written in this transaction, or `corrections.CorrectionRefused` when the edit cannot be one.
    """
    at = at or timezone.now()
    institution.published_at = Institution.publication_time(institution.status, institution.published_at, at)
    institution.last_edited_by = user
    if institution._state.adding:
        if correction_note:
            raise corrections.CorrectionRefused(corrections.refusal(institution, before=None, publishing=True,
                                                                    changed=[], at=at))
        before = None
        institution.version = 1
        institution.public_updated_at = first_public_time(institution, at)
        institution.full_clean()
        institution.save()
        if user is not None:
            grants.assign_creator(institution=institution, user=user)
    else:
        before = _save_edit(institution, user=user, form_version=form_version, at=at, correction_note=correction_note)
        if correction_note:
            corrections.record(institution=institution, note=correction_note, user=user, at=at)
    if save_children is not None:
        save_children()
    _guard_and_record_publication(institution, before=before, user=user, override_reason=override_reason, at=at)
    return institution


def _save_edit(
    institution: Institution, *, user, form_version: int | None, at: datetime.datetime, correction_note: str = ""
) -> dict:
    """Save an edit under the optimistic lock; returns what readers saw before it. A correction's note
    is checked (`corrections.refusal`) before anything is written and kept as the history reason."""
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
        institution.public_updated_at = first_public_time(institution, at)
    institution.full_clean()
    changed = [] if publishing else changed_public_fields(institution, before)
    if correction_note:
        refused = corrections.refusal(institution, before=before, publishing=publishing, changed=changed, at=at)
        if refused:
            raise corrections.CorrectionRefused(refused)
        institution._change_reason = corrections.history_reason(correction_note)
    institution.save()
    if changed:
        labels = ", ".join(str(Institution._meta.get_field(name).verbose_name) for name in changed)
        touch_public(institution, summary=f"Revised: {labels}.", at=at)
    return before


def _is_publishing(institution: Institution, before: dict | None) -> bool:
    """Publishing (or re-publishing, or rescheduling) sets the public date afresh and is guarded."""
    return publication.is_publication(
        status=institution.status,
        published_at=institution.published_at,
        before_status=before["status"] if before else None,
        before_published_at=before["published_at"] if before else None,
    )


def _guard_and_record_publication(
    institution: Institution, *, before: dict | None, user, override_reason: str, at: datetime.datetime
) -> None:
    """The publication guard's last word, and the audit log of publication moves."""
    before_status = before["status"] if before else None
    if _is_publishing(institution, before):
        failed = publication.failed_checks(institution)
        if failed:
            reason = publication.override_reason(user, override_reason)
            if not reason:
                raise publication.PublicationRefused(failed)
            audit.record(
                actor=user,
                action=audit.Action.OVERRIDE,
                target=institution,
                summary=f"Published “{institution.name}” without the publication checklist: {reason}",
                data={
                    "reason": reason,
                    "failed_checks": [check.as_data() for check in failed],
                    "published_at": institution.published_at.isoformat(),
                },
            )
        scheduled = institution.published_at > at
        when = timezone.localtime(institution.published_at)
        audit.record(
            actor=user,
            action=audit.Action.SCHEDULE if scheduled else audit.Action.PUBLISH,
            target=institution,
            summary=(
                f"Scheduled “{institution.name}” for {formats.date_format(when, 'j M Y')} {when:%H:%M %Z}."
                if scheduled
                else f"Published “{institution.name}”."
            ),
            data={
                "published_at": institution.published_at.isoformat(),
                "previous_status": before_status or "",
                "previous_published_at": _iso(before["published_at"]) if before else None,
                "override": bool(failed),
            },
        )
    elif publication.is_unpublication(status=institution.status, before_status=before_status):
        audit.record(
            actor=user,
            action=audit.Action.UNPUBLISH,
            target=institution,
            summary=f"Unpublished “{institution.name}”: now {institution.get_status_display().lower()}.",
            data={
                "from": before_status,
                "to": institution.status,
                "published_at": _iso(before["published_at"]),
            },
        )


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def changed_public_fields(institution: Institution, before: dict) -> list[str]:
    """Compared as history compares them: line endings and trailing whitespace are no change."""
    return [
        name for name in READER_VISIBLE_FIELDS
        if history.normalise(getattr(institution, name)) != history.normalise(before[name])
    ]


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


# --- reverting to a revision ------------------------------------------------------------------

#: What a revert leaves as it is: whether and when the profile is public, its address, and (on any
#: object) the review fields and the profile a child belongs to. A revert restores what was said.
NOT_REVERTED = frozenset({"status", "published_at", "slug"})


class StaleRevision(Exception):
    """The object was saved after the person confirming a revert looked at it."""

    def __init__(self, latest):
        self.latest = latest
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return (
            f"This was changed ({history.revision_label(self.latest)}) after you opened the revert page. "
            "Nothing was reverted: check the changes below, then confirm again."
        )


def revertible_fields(model) -> list:
    """The fields a revert copies back from a revision: the content people wrote, never review
    state, bookkeeping, the publication switch or the profile a child belongs to."""
    owner = getattr(model, "review_owner_field", "institution")
    return [
        field
        for field in history.content_fields(model)
        if field.editable
        and field.name not in NOT_REVERTED
        and field.name not in (owner, "institution")
        and field.attname not in review.REVIEW_FIELDS
    ]


@transaction.atomic
def revert_to_revision(*, revision, user, seen_revision_id: int, form_version: int | None = None):
    """Copy a revision's content back onto its object and save it through the path an edit takes.

    A profile goes through `save_institution` (the optimistic lock: `form_version` is the version
    the confirmation page showed); evidence and relationships through `save_reviewed_item`, so a
    changed reviewed field sends an approved item back to review; FAQ rows through
    `save_faq_items`. Every object is refused with `StaleRevision` when its newest history row is
    no longer `seen_revision_id`. The new history row's reason says which revision came back.
    """
    model = revision.instance_type
    obj = model._default_manager.select_for_update().get(pk=getattr(revision, model._meta.pk.attname))
    latest = history.latest_revision(obj)
    if latest is not None and latest.history_id != seen_revision_id:
        raise StaleRevision(latest)
    fields = revertible_fields(model)
    if all(history.normalise(getattr(obj, f.attname)) == history.normalise(getattr(revision, f.attname))
           for f in fields):
        raise ValidationError("This revision says what the current version says: there is nothing to revert.")
    for field in fields:
        setattr(obj, field.attname, getattr(revision, field.attname))
    obj._history_user = user
    history.give_reason(obj, f"Reverted to {history.revision_label(revision)}")
    if model is Institution:
        if form_version is None:
            raise ValidationError("This page has lost its version marker. Reload it, then confirm again.")
        return save_institution(institution=obj, user=user, form_version=form_version)
    if hasattr(model, "review_owner_field"):
        return save_reviewed_item(item=obj, user=user)
    obj.full_clean()  # e.g. an FAQ order another question has taken since: a message, not an IntegrityError
    if model is FAQItem:
        save_faq_items(items=[obj])
    else:
        obj.save()
    return obj
