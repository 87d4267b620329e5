"""Writes that change who may read what: memberships and Leadership Alliance applications.

Every function is keyword-only and atomic; views, the account adapter and the admin call
these and never write memberships themselves. Refusals raise `MembershipError` subclasses
whose message is written for the person who tried (it is shown to them as is). Every act that
changes an application or a membership appends one entry to the audit log, in its own
transaction: a refused or rolled-back act leaves none.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

import siteurl
from audit.models import AuditEntry
from audit.services import record
from outbox.services import queue

from .models import Application, Membership, Tier, verified_emails
from .readers import forget_reader

REVIEW_PERMISSION = "membership.review_application"
CHANGE_MEMBERSHIP_PERMISSION = "membership.change_membership"


class MembershipError(Exception):
    """A membership rule refused the request; the message says why, for the person who asked."""


class NotPermitted(MembershipError):
    pass


class SelfReview(NotPermitted):
    pass


class AlreadyDecided(MembershipError):
    pass


class EmailNotVerified(MembershipError):
    pass


class ApplicationAlreadyOpen(MembershipError):
    pass


class AlreadyMember(MembershipError):
    pass


def has_verified_email(user) -> bool:
    return verified_emails().filter(user=user).exists()


def alliance_tier() -> Tier:
    return Tier.objects.get(slug=Tier.LEADERSHIP_ALLIANCE_SLUG)


def is_alliance_member(user) -> bool:
    return Membership.objects.active().filter(user=user, tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG).exists()


def open_application(user) -> Application | None:
    return Application.objects.pending().filter(user=user).first()


def _named(user) -> str:
    """How a reader is named in the audit log's sentences: by e-mail (usernames are generated)."""
    return user.email or user.get_username()


def _record_membership(*, actor, membership: Membership, previous: str | None, summary: str, **data) -> None:
    record(
        actor=actor,
        action=AuditEntry.Action.MEMBERSHIP,
        target=membership,
        summary=summary,
        data={"tier": membership.tier.slug, "from": previous, "to": membership.status, **data},
    )


# --- self-service tier ---------------------------------------------------------------------------


@transaction.atomic
def grant_self_service_tier(*, user) -> Membership | None:
    """Make a reader with a verified e-mail an active member of the self-service tier (idempotent).

    Called when allauth confirms an e-mail address. A membership that staff lapsed or revoked
    stays so: verifying another address does not reopen it.
    """
    tier = Tier.objects.members_only().filter(self_service=True).order_by("level").first()
    if tier is None:
        return None
    if not has_verified_email(user):
        raise EmailNotVerified("Verify your e-mail address first.")
    membership, created = Membership.objects.get_or_create(
        user=user,
        tier=tier,
        defaults={"status": Membership.Status.ACTIVE, "started_at": timezone.now()},
    )
    previous = None if created else membership.status
    if previous == Membership.Status.PENDING:
        membership.status = Membership.Status.ACTIVE
        membership.started_at = membership.started_at or timezone.now()
        membership.full_clean()
        membership.save()
    if created or previous == Membership.Status.PENDING:
        _record_membership(
            actor=user,
            membership=membership,
            previous=previous,
            summary=f"{_named(user)} joined the {tier.name} by verifying their e-mail address.",
            via="email_verification",
        )
    forget_reader(user)
    return membership


# --- Leadership Alliance applications ------------------------------------------------------------


@transaction.atomic
def submit_application(
    *, user, organisation: str, role: str, qualification_statement: str, consent: bool
) -> Application:
    """File a Leadership Alliance application for a verified reader; one open application each."""
    if not getattr(user, "is_authenticated", False):
        raise NotPermitted("Sign in to apply.")
    if not has_verified_email(user):
        raise EmailNotVerified(
            "Verify your e-mail address before applying: open the link we sent you, or ask for a new one."
        )
    if is_alliance_member(user):
        raise AlreadyMember("You are already a Leadership Alliance member.")
    existing = open_application(user)
    if existing is not None:
        raise ApplicationAlreadyOpen(
            f"You already have an application under review (submitted {existing.created_at:%d %B %Y}). "
            "We will e-mail you when it is decided."
        )
    if not consent:
        raise MembershipError("Please confirm that we may review the details you give us.")
    application = Application(
        user=user,
        tier=alliance_tier(),
        organisation=organisation.strip(),
        role=role.strip(),
        qualification_statement=qualification_statement.strip(),
        consent=True,
    )
    application.full_clean(validate_constraints=False)  # the open-application rule is checked above and below
    try:
        with transaction.atomic():
            application.save()
    except IntegrityError as exc:  # a second request raced past the check above
        raise ApplicationAlreadyOpen("You already have an application under review.") from exc
    record(
        actor=user,
        action=AuditEntry.Action.APPLICATION,
        target=application,
        summary=f"{_named(user)} applied to join the {application.tier.name} "
        f"for {application.organisation} ({application.role}).",
        data={"from": None, "to": application.state, "tier": application.tier.slug},
    )
    forget_reader(user)
    return application


def _require_reviewer(reviewer) -> None:
    if not (
        getattr(reviewer, "is_authenticated", False) and reviewer.is_active and reviewer.has_perm(REVIEW_PERMISSION)
    ):
        raise NotPermitted("You do not have permission to review Leadership Alliance applications.")


def _decide(*, application: Application, reviewer, note: str, approve: bool) -> Application:
    _require_reviewer(reviewer)
    locked = Application.objects.select_for_update(of=("self",)).select_related("user", "tier").get(pk=application.pk)
    if locked.user_id == reviewer.pk:
        raise SelfReview("You cannot decide your own application: another moderator must review it.")
    if locked.state != Application.State.PENDING:
        when = f" on {locked.reviewed_at:%d %B %Y}" if locked.reviewed_at else ""
        by = f" by {locked.reviewer.email or locked.reviewer}" if locked.reviewer_id else ""
        raise AlreadyDecided(
            f"The application from {locked.organisation} was already {locked.get_state_display().lower()}"
            f"{by}{when}; nothing was changed."
        )
    now = timezone.now()
    locked.state = Application.State.APPROVED if approve else Application.State.REJECTED
    locked.reviewer = reviewer
    locked.review_note = note.strip()
    locked.reviewed_at = now
    locked.full_clean(validate_constraints=False)
    locked.save(update_fields=["state", "reviewer", "review_note", "reviewed_at"])
    decision = locked.get_state_display().lower()
    record(
        actor=reviewer,
        action=AuditEntry.Action.APPLICATION,
        target=locked,
        summary=f"Application from {locked.organisation} ({_named(locked.user)}) {decision}.",
        data={
            "from": Application.State.PENDING,
            "to": locked.state,
            "tier": locked.tier.slug,
            "note": locked.review_note,
        },
    )
    if approve:
        previous = (
            Membership.objects.select_for_update()
            .filter(user=locked.user, tier=locked.tier)
            .values_list("status", flat=True)
            .first()
        )
        membership, _ = Membership.objects.update_or_create(
            user=locked.user,
            tier=locked.tier,
            defaults={
                "status": Membership.Status.ACTIVE,
                "started_at": now,
                "ends_at": None,
                "reviewed_by": reviewer,
            },
        )
        _record_membership(
            actor=reviewer,
            membership=membership,
            previous=previous,
            summary=f"{_named(locked.user)} became an active {locked.tier.name} member (application approved).",
            application=locked.pk,
        )
    forget_reader(locked.user)
    send_decision_email(application=locked)  # queued with the decision: both commit, or neither
    for name in ("state", "reviewer", "review_note", "reviewed_at"):
        setattr(application, name, getattr(locked, name))
    return locked


@transaction.atomic
def approve_application(*, application: Application, reviewer, note: str = "") -> Application:
    """Approve a pending application: the applicant becomes an active Leadership Alliance member."""
    return _decide(application=application, reviewer=reviewer, note=note, approve=True)


@transaction.atomic
def reject_application(*, application: Application, reviewer, note: str) -> Application:
    """Reject a pending application; the note (required) is sent to the applicant."""
    if not (note or "").strip():
        raise MembershipError("Give the applicant a reason: a note is required to reject an application.")
    return _decide(application=application, reviewer=reviewer, note=note, approve=False)


def send_decision_email(*, application: Application) -> None:
    """Tell the applicant the outcome, in plain text and HTML: queued in the caller's transaction
    (the decision's), sent once it commits, retried while SMTP fails."""
    decision = "approved" if application.state == Application.State.APPROVED else "rejected"
    context = {
        "application": application,
        "user": application.user,
        "site_name": siteurl.name(),
        "site_url": siteurl.base(),
    }
    prefix = f"membership/email/application_{decision}"
    subject = " ".join(render_to_string(f"{prefix}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"{prefix}_message.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[application.user.email],
    )
    message.attach_alternative(render_to_string(f"{prefix}_message.html", context), "text/html")
    queue(message, kind=f"application {decision}")


# --- ending memberships --------------------------------------------------------------------------


def _end_membership(*, membership: Membership, by, status: str) -> Membership:
    if by is not None and not by.has_perm(CHANGE_MEMBERSHIP_PERMISSION):
        raise NotPermitted("You do not have permission to change memberships.")
    locked = Membership.objects.select_for_update(of=("self",)).select_related("user", "tier").get(pk=membership.pk)
    if locked.status != Membership.Status.ACTIVE:
        raise AlreadyDecided(f"{locked} is not active; nothing was changed.")
    now = timezone.now()
    locked.status = status
    locked.ends_at = now
    if by is not None:
        locked.reviewed_by = by
    locked.full_clean(validate_constraints=False)
    locked.save(update_fields=["status", "ends_at", "reviewed_by", "updated_at"])
    verb = "was revoked" if status == Membership.Status.REJECTED else "lapsed"
    _record_membership(
        actor=by,
        membership=locked,
        previous=Membership.Status.ACTIVE,
        summary=f"The {locked.tier.name} membership of {_named(locked.user)} {verb}.",
    )
    forget_reader(locked.user)
    forget_reader(membership.user)
    for name in ("status", "ends_at", "reviewed_by"):
        setattr(membership, name, getattr(locked, name))
    return locked


@transaction.atomic
def lapse_membership(*, membership: Membership, by=None) -> Membership:
    """End an active membership (not renewed, left the organisation): its content locks at once."""
    return _end_membership(membership=membership, by=by, status=Membership.Status.LAPSED)


@transaction.atomic
def revoke_membership(*, membership: Membership, by) -> Membership:
    """Withdraw an active membership for cause (recorded as rejected, with who did it)."""
    if by is None:
        raise NotPermitted("Say who revokes the membership.")
    return _end_membership(membership=membership, by=by, status=Membership.Status.REJECTED)
