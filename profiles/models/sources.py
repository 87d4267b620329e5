"""Source checks: what an approved evidence item's source said when it was fetched.

The first check of every approval is its **capture** (made by `profiles.sources.tasks.capture_source`
once the approval commits); later **re-checks** compare themselves with it (ok / moved / changed /
gone). Each row keeps the fetch as it happened — the URL asked for and where it ended, status,
type, size, the readable text and its hash, the title, the redirects, the error — so a re-check can
diff the text and a moderator can see why a source was flagged.

Staff-only: no reader page, feed or API shows these rows, and writing one is not a change of the
public data layer (no `Change` row). What readers see is the item's own `source_state` (and
`snapshot_url`), which `profiles.sources.state` sets from these rows — a save of the item, so in its
history and the change log.

`TrackedSource` is the bookkeeping of one approved item's source: the check later ones compare with,
when to look again, failures in a row, the validators for a conditional request, and the archive
service's progress. `SourceHost` is what a host asked of us (`Retry-After`). Neither is history: they
change on every look, and only what they decide (the state) is worth a history row.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from .reviewed import EvidenceItem, SourceState


class CheckKind(models.TextChoices):
    CAPTURE = "capture", "Capture on approval"
    RECHECK = "recheck", "Re-check"


class CheckOutcome(models.TextChoices):
    OK = "ok", "OK"
    MOVED = "moved", "Moved"  # re-checks: it now ends at another address than its capture did
    CHANGED = "changed", "Changed"  # re-checks: the text differs from the capture's beyond the threshold
    GONE = "gone", "Gone"  # 404 or 410
    HTTP_ERROR = "http-error", "HTTP error"  # any other 4xx or 5xx (429 and 503: try again later)
    FAILED = "failed", "Failed"  # no usable answer: refused address, timeout, too large, too many redirects…


def approval_of(evidence) -> object:
    """The approval a check belongs to: when the item was approved (its creation, for items approved
    before approvals were timed)."""
    return evidence.reviewed_at or evidence.created_at


class SourceCheckQuerySet(models.QuerySet):
    def of_approval(self, evidence):
        """The checks of the item's current approval."""
        return self.filter(evidence=evidence, approved_at=approval_of(evidence))

    def captures(self):
        return self.filter(kind=CheckKind.CAPTURE)

    def rechecks(self):
        return self.filter(kind=CheckKind.RECHECK)

    def of(self, evidence):
        return self.filter(evidence=evidence)

    def latest_capture(self, evidence):
        """The newest capture of `evidence` (of its latest approval), or None: one indexed query."""
        return self.of(evidence).captures().order_by("-approved_at", "-fetched_at", "-pk").first()


class SourceCheck(models.Model):
    """One fetch of an approved evidence item's source (see the module docstring)."""

    Kind = CheckKind
    Outcome = CheckOutcome

    #: Statuses that say the page is no longer there.
    GONE_STATUSES = frozenset({404, 410})

    evidence = models.ForeignKey(EvidenceItem, on_delete=models.CASCADE, related_name="source_checks")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CAPTURE)
    approved_at = models.DateTimeField(
        help_text="The approval this check belongs to (when the evidence was approved): one capture per approval."
    )
    url = models.CharField("URL asked for", max_length=2000)
    final_url = models.CharField("final URL", max_length=2000, blank=True, help_text="Where the redirects ended.")
    status = models.PositiveSmallIntegerField("HTTP status", null=True, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    size = models.PositiveIntegerField(default=0, help_text="Bytes of the body read.")
    text_hash = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the readable text (of the bytes, for a type with no text)."
    )
    title = models.CharField(max_length=500, blank=True)
    text = models.TextField(blank=True, help_text="The readable text, kept to show what changed since.")
    redirects = models.JSONField(default=list, blank=True, help_text="Each hop: URL, status, where it pointed.")
    error = models.CharField(max_length=32, blank=True, help_text="Why no usable answer came (a short code).")
    message = models.CharField(max_length=500, blank=True)
    etag = models.CharField("ETag", max_length=200, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    retry_after = models.CharField(max_length=100, blank=True)
    elapsed_ms = models.PositiveIntegerField(default=0)
    difference = models.FloatField(
        null=True, blank=True, help_text="Re-checks: how much of the text differs from the verified text (0 to 1)."
    )
    fetched_at = models.DateTimeField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices)

    objects = SourceCheckQuerySet.as_manager()

    class Meta:
        ordering = ["-fetched_at", "-pk"]
        verbose_name = "source check"
        indexes = [models.Index(fields=["evidence", "kind", "-approved_at"], name="source_check_evidence_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["evidence", "approved_at"],
                condition=Q(kind=CheckKind.CAPTURE),
                name="source_capture_once_per_approval",
                violation_error_message="This approval's source was already captured.",
            ),
            models.CheckConstraint(condition=Q(kind__in=CheckKind.values), name="source_check_kind_valid"),
            models.CheckConstraint(
                condition=Q(outcome__in=CheckOutcome.values),
                name="source_check_outcome_valid",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} of evidence {self.evidence_id}: {self.get_outcome_display()}"

    def get_absolute_url(self):
        """Staff read checks on their evidence item's admin page."""
        return reverse("admin:profiles_evidenceitem_change", args=[self.evidence_id])

    @classmethod
    def outcome_of(cls, *, status: int | None, error: str) -> str:
        """A single fetch's outcome; comparing with the capture (moved, changed) is a re-check's business."""
        if error:
            return cls.Outcome.FAILED
        if status in cls.GONE_STATUSES:
            return cls.Outcome.GONE
        if status is None or not 200 <= status < 400:
            return cls.Outcome.HTTP_ERROR
        return cls.Outcome.OK


class ArchiveState(models.TextChoices):
    NOT_ASKED = "", "Not asked"
    PENDING = "pending", "Asked, waiting for the archive"
    RETRYING = "retrying", "Failed, will try again"
    ARCHIVED = "archived", "Archived"
    FAILED = "failed", "Failed, given up"


class TrackedSourceQuerySet(models.QuerySet):
    def due(self, now):
        """Sources due a re-check: approved items whose next check time has come."""
        return self.filter(
            evidence__review_state="approved", next_check_at__lte=now
        ).order_by("next_check_at", "evidence_id")

    def archive_due(self, now):
        """Archive requests to make or poll now: pending and retrying ones of approved items whose time has come."""
        return self.filter(
            evidence__review_state="approved",
            archive_state__in=(ArchiveState.PENDING, ArchiveState.RETRYING),
            archive_next_at__lte=now,
        ).order_by("archive_next_at", "evidence_id")


class TrackedSource(models.Model):
    """The watch kept on one approved evidence item's source (see the module docstring)."""

    Archive = ArchiveState

    evidence = models.OneToOneField(EvidenceItem, on_delete=models.CASCADE, primary_key=True, related_name="tracking")
    host = models.CharField(max_length=255, blank=True, help_text="Checks of one host run one at a time.")
    baseline = models.ForeignKey(
        SourceCheck, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The check later ones compare with: the capture on approval, or the first fetch that worked.",
    )
    failures = models.PositiveSmallIntegerField(default=0, help_text="Checks in a row with no usable answer.")
    last_checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True)
    etag = models.CharField("ETag", max_length=200, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    archive_state = models.CharField(max_length=10, choices=ArchiveState.choices, default="", blank=True)
    archive_attempts = models.PositiveSmallIntegerField(default=0)
    archive_next_at = models.DateTimeField(null=True, blank=True)
    archive_job = models.CharField(max_length=200, blank=True, help_text="The archive service's job id, while pending.")
    archive_asked_at = models.DateTimeField(null=True, blank=True, help_text="When that job was asked for.")
    archive_error = models.CharField(max_length=500, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a moderator last looked at this alert (cleared by the next state change).",
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = TrackedSourceQuerySet.as_manager()

    class Meta:
        verbose_name = "tracked source"
        indexes = [
            models.Index(fields=["next_check_at"], name="tracked_source_due_idx"),
            models.Index(
                fields=["archive_next_at"],
                condition=Q(archive_state__in=["pending", "retrying"]),
                name="tracked_source_archive_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(archive_state__in=ArchiveState.values), name="tracked_archive_state_valid"
            ),
        ]

    def __str__(self):
        return f"Source of evidence {self.evidence_id}"


class SourceHost(models.Model):
    """A host that asked us to wait (`Retry-After` on a 429 or 503): no check goes to it before `not_before`."""

    host = models.CharField(max_length=255, primary_key=True)
    not_before = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "source host"

    def __str__(self):
        return self.host


class SourceAlertItem(EvidenceItem):
    """An approved source that changed, moved or went since it was verified, as the moderators' queue
    of sources to look at again lists it. A proxy: its own admin, actions on the real item."""

    ALERT_STATES = (SourceState.CHANGED, SourceState.GONE, SourceState.MOVED)

    class Meta:
        proxy = True
        verbose_name = "source to re-verify"
        verbose_name_plural = "sources to re-verify"
