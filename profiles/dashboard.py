"""The admin index's desk, one panel per role: what waits for this staff member.

- **Moderators** (of any profile): pending evidence, relationships and — with
  `membership.review_application` — Leadership Alliance applications, each with its count, the
  oldest item's age and a link to its queue. What counts as pending for them is
  `review.awaiting_review` (four eyes: what they wrote is left out) and `Application.objects.pending()`.
- **Analysts** (`profiles.add_institution`): drafts of the profiles they edit, the items they submitted
  that wait for a moderator, and the latest decisions on the items they submitted (read from the
  items' review fields, the record the decision wrote), and their profiles due for re-verification
  (`Institution.objects.due_for_reverification()`, the queue in `admin/freshness.py`).
- **Lead analysts** (global `profiles.change_institution`): profiles nobody is assigned to, and stale
  profiles (not saved for `BTW_STALE_DAYS`, default 180).

Every panel is a count and at most `PANEL_ROWS` rows, so the index costs the same number of queries
with one item or thousands (tests/test_admin_dashboard.py). Links to the decision log (every staff
member) and the audit log (those who may read it) sit beside the panels.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Exists, Min, OuterRef
from django.urls import reverse
from django.utils import timezone

from membership.models import Application

from . import permissions, review
from .models import (
    EvidenceItem,
    Institution,
    InstitutionGroupObjectPermission,
    InstitutionUserObjectPermission,
    Relationship,
    ReviewState,
)

#: How many rows a panel lists; its count says how many there are in all.
PANEL_ROWS = 5

#: Decisions an analyst hears about (a resubmission is not a decision).
DECIDED = (ReviewState.APPROVED, ReviewState.REJECTED, ReviewState.RETRACTED)

APPLICATION_REVIEW_PERM = "membership.review_application"
AUDIT_LOG_PERM = "audit.view_auditentry"
ANALYST_PERM = "profiles.add_institution"


def stale_days() -> int:
    return int(getattr(settings, "BTW_STALE_DAYS", 180))


@dataclass(frozen=True)
class Queue:
    """One moderation queue as the moderator's panel shows it."""

    key: str
    label: str
    count: int
    oldest: datetime.datetime | None
    url: str


@dataclass(frozen=True)
class Listing:
    """A panel's rows (at most `PANEL_ROWS`) and how many there are in all."""

    rows: list
    count: int
    url: str = ""

    @property
    def more(self) -> int:
        return max(self.count - len(self.rows), 0)


@dataclass(frozen=True)
class Submitted:
    """One of the analyst's items waiting for a moderator."""

    item: object
    kind: str
    at: datetime.datetime
    url: str


@dataclass(frozen=True)
class Decision:
    """A decision on one of the analyst's items, as the item's review fields record it."""

    item: object
    kind: str
    state: str
    state_label: str
    reviewer: object
    at: datetime.datetime
    note: str
    url: str


@dataclass(frozen=True)
class ModeratorDesk:
    queues: list[Queue]

    @property
    def total(self) -> int:
        return sum(queue.count for queue in self.queues)


@dataclass(frozen=True)
class AnalystDesk:
    drafts: Listing
    submitted: Listing
    decisions: list[Decision]
    #: Profiles of theirs due for re-verification (`Institution.objects.due_for_reverification()`).
    reverification: Listing | None = None


@dataclass(frozen=True)
class LeadDesk:
    unassigned: Listing
    stale: Listing
    stale_days: int


@dataclass(frozen=True)
class Dashboard:
    moderator: ModeratorDesk | None = None
    analyst: AnalystDesk | None = None
    lead: LeadDesk | None = None
    links: dict = field(default_factory=dict)


def dashboard_for(user) -> Dashboard | None:
    """The panels `user` gets on the admin index (None for anyone who is not active staff)."""
    if not (user and user.is_active and user.is_staff):
        return None
    links = {"decision_log": reverse("admin:profiles_reviewrecord_changelist")}
    if user.has_perm(AUDIT_LOG_PERM):
        links["audit_log"] = reverse("admin:audit_auditentry_changelist")
    return Dashboard(
        moderator=moderator_desk(user) if permissions.moderates_anything(user) else None,
        analyst=analyst_desk(user) if user.has_perm(ANALYST_PERM) else None,
        lead=lead_desk(user) if user.has_perm(permissions.CHANGE_PERM) else None,
        links=links,
    )


# --- moderators ---------------------------------------------------------------------------------


def pending_summary(queryset, date_field: str) -> tuple[int, datetime.datetime | None]:
    """How many, and since when the oldest has waited (one query)."""
    row = queryset.order_by().aggregate(count=Count("pk"), oldest=Min(date_field))
    return row["count"], row["oldest"]


def moderator_desk(user) -> ModeratorDesk:
    """The user's queues: evidence and relationships they may decide (three queries at most)."""
    queues = []
    for key, label, model, queue_model in (
        ("evidence", "Evidence", EvidenceItem, "evidencequeueitem"),
        ("relationships", "Relationships", Relationship, "relationshipqueueitem"),
    ):
        count, oldest = pending_summary(review.awaiting_review(user, model), "submitted_at")
        queues.append(Queue(key, label, count, oldest, reverse(f"admin:profiles_{queue_model}_changelist")))
    if user.has_perm(APPLICATION_REVIEW_PERM):
        pending = Application.objects.pending().exclude(user=user)  # four eyes: not their own
        count, oldest = pending_summary(pending, "created_at")
        url = reverse("admin:membership_application_changelist") + f"?state__exact={Application.State.PENDING}"
        queues.append(Queue("applications", "Leadership Alliance applications", count, oldest, url))
    return ModeratorDesk(queues)


# --- analysts -----------------------------------------------------------------------------------


def _listing(queryset, url: str = "") -> Listing:
    """The first rows and the count (two queries, whatever the number of rows)."""
    return Listing(list(queryset[:PANEL_ROWS]), queryset.order_by().count(), url)


def analyst_drafts(user):
    """Drafts of the profiles this analyst edits, the latest saved first."""
    return (
        permissions.editable_institutions(user)
        .filter(status=Institution.Status.DRAFT)
        .order_by("-updated_at", "-pk")
    )


def submitted_by(user, model):
    """The user's items waiting for a moderator, the latest submitted first."""
    related = ("institution",) if model is EvidenceItem else ("source", "target")
    return model.objects.submitted().filter(submitted_by=user).select_related(*related).order_by("-submitted_at", "-pk")


def decided_for(user, model):
    """Decisions on the items the user submitted, the latest first."""
    related = ("reviewed_by", "institution") if model is EvidenceItem else ("reviewed_by", "source", "target")
    return (
        model.objects.filter(submitted_by=user, review_state__in=DECIDED, reviewed_at__isnull=False)
        .select_related(*related)
        .order_by("-reviewed_at", "-pk")
    )


def _change_url(item) -> str:
    opts = item._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[item.pk])


def recent_decisions(user) -> list[Decision]:
    """The latest `PANEL_ROWS` decisions on the user's evidence and relationships (two queries)."""
    decisions = []
    for model in (EvidenceItem, Relationship):
        opts = model._meta
        for item in decided_for(user, model)[:PANEL_ROWS]:
            decisions.append(Decision(
                item=item,
                kind=opts.verbose_name,
                state=item.review_state,
                state_label=item.get_review_state_display(),
                reviewer=item.reviewed_by,
                at=item.reviewed_at,
                note=item.review_note,
                url=_change_url(item),
            ))
    decisions.sort(key=lambda d: d.at, reverse=True)
    return decisions[:PANEL_ROWS]


def analyst_desk(user) -> AnalystDesk:
    drafts = _listing(
        analyst_drafts(user),
        reverse("admin:profiles_institution_changelist") + f"?status__exact={Institution.Status.DRAFT}",
    )
    evidence = submitted_by(user, EvidenceItem)
    relationships = submitted_by(user, Relationship)
    rows = sorted(
        [Submitted(item, item._meta.verbose_name, item.submitted_at, _change_url(item))
         for item in [*evidence[:PANEL_ROWS], *relationships[:PANEL_ROWS]]],
        key=lambda row: row.at, reverse=True,
    )[:PANEL_ROWS]
    count = evidence.order_by().count() + relationships.order_by().count()
    return AnalystDesk(
        drafts=drafts,
        submitted=Listing(rows, count),
        decisions=recent_decisions(user),
        reverification=_listing(
            permissions.editable_institutions(user, Institution.objects.due_for_reverification()).only("pk", "name"),
            reverse("admin:profiles_reverificationqueueitem_changelist"),
        ),
    )


# --- lead analysts ------------------------------------------------------------------------------


def unassigned_profiles():
    """Profiles (not archived) that no analyst (or group) is assigned to edit, the oldest saved first."""
    assigned = {"content_object": OuterRef("pk"), "permission__codename": "change_institution"}
    return (
        Institution.objects.exclude(status=Institution.Status.ARCHIVED)
        .filter(~Exists(InstitutionUserObjectPermission.objects.filter(**assigned)))
        .filter(~Exists(InstitutionGroupObjectPermission.objects.filter(**assigned)))
        .order_by("updated_at", "pk")
    )


def stale_profiles(now=None):
    """Profiles (not archived) nobody has saved for `BTW_STALE_DAYS`, the longest untouched first."""
    now = now or timezone.now()
    return (
        Institution.objects.exclude(status=Institution.Status.ARCHIVED)
        .filter(updated_at__lt=now - datetime.timedelta(days=stale_days()))
        .order_by("updated_at", "pk")
    )


def lead_desk(user) -> LeadDesk:
    changelist = reverse("admin:profiles_institution_changelist")
    now, stale_for = timezone.now(), datetime.timedelta(days=stale_days())
    return LeadDesk(
        unassigned=_listing(unassigned_profiles(), changelist),
        stale=_listing(stale_profiles(now), f"{changelist}?updated_at__lt={(now - stale_for).date().isoformat()}"),
        stale_days=stale_days(),
    )
