"""The sections of a profile page below its main text: watchpoints, the timeline, FAQ, "also read"
links and member briefings (with the briefing's guardian object-permission tables)."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from membership.gating import GatedQuerySet

from ..validators import validate_not_far_future
from .fields import MARKDOWN_HELP, http_url_constraint, http_url_field, required_tier_field
from .institution import Institution
from .reviewed import EvidenceItem


class OrderedChild(models.Model):
    order = models.PositiveSmallIntegerField(default=0, help_text="Lower numbers come first.")

    class Meta:
        abstract = True


class WatchpointQuerySet(GatedQuerySet):
    def open(self):
        return self.exclude(status=Watchpoint.Status.CLOSED)

    def overdue(self, today=None):
        """Open watchpoints whose review-by date has passed, on profiles still in use (not archived):
        what the staff digest reminds their analysts of, the most overdue first."""
        today = today or timezone.localdate()
        return (
            self.open()
            .filter(review_by__lt=today)
            .exclude(institution__status=Institution.Status.ARCHIVED)
            .order_by("review_by", "pk")
        )


class Watchpoint(OrderedChild):
    """Something readers should watch for; members-only ones carry a tier."""

    class Kind(models.TextChoices):
        ROLE = "role", "Role"
        AFFILIATION = "affiliation", "Affiliation"
        PRODUCT = "product", "Product"
        POLICY = "policy", "Policy"
        MARKET_DISCLOSURE = "market-disclosure", "Market disclosure"
        RELATIONSHIP_CHANGE = "relationship-change", "Relationship change"

    class Status(models.TextChoices):
        WATCHING = "watching", "Watching"
        TRIGGERED = "triggered", "Triggered"
        CLOSED = "closed", "Closed"

    gate_tier_field = "required_tier"
    gate_object_permission = None

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="watchpoints")
    kind = models.CharField(max_length=24, choices=Kind.choices, default=Kind.ROLE)
    text = models.TextField(help_text="What to watch for, in one sentence.")
    required_tier = required_tier_field(
        "Leave empty for a public watchpoint; a tier makes it members-only.", null=True, blank=True
    )
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.WATCHING,
        help_text="Mark it triggered (with a date and note) when it happens; followers are alerted.",
    )
    triggered_at = models.DateField(null=True, blank=True, validators=[validate_not_far_future])
    status_note = models.TextField(blank=True, help_text="What happened, shown with a triggered watchpoint.")
    evidence = models.ForeignKey(
        EvidenceItem,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="watchpoints",
        help_text="Optional source for the trigger; shown only once approved and visible to the reader.",
    )
    review_by = models.DateField(
        "review by",
        null=True,
        blank=True,
        help_text="Staff only, optional: the day this watchpoint should be looked at again. Once it has "
        "passed, the profile's analysts are reminded in their staff digest.",
    )
    status_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()
    objects = WatchpointQuerySet.as_manager()

    class Meta:
        ordering = ["order", "pk"]
        indexes = [models.Index(fields=["institution", "order"], name="watchpoint_institution_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="triggered") | Q(triggered_at__isnull=False),
                name="watchpoint_triggered_has_date",
            )
        ]

    def __str__(self):
        return self.text[:80]

    @property
    def title(self):
        return f"{self.get_kind_display()} watchpoint"

    def is_overdue(self, today=None) -> bool:
        """`WatchpointQuerySet.overdue` for one loaded row (its profile's status read from `institution`)."""
        today = today or timezone.localdate()
        return (
            self.status != self.Status.CLOSED
            and self.review_by is not None
            and self.review_by < today
            and self.institution.status != Institution.Status.ARCHIVED
        )

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_status = instance.__dict__.get("status")
        return instance

    def save(self, *args, **kwargs):
        if self.status != getattr(self, "_loaded_status", Watchpoint.Status.WATCHING):
            self.status_changed_at = timezone.now()
        super().save(*args, **kwargs)
        self._loaded_status = self.status

    def clean(self):
        if self.status == self.Status.TRIGGERED and not self.triggered_at:
            raise ValidationError({"triggered_at": "A triggered watchpoint needs the date it was triggered."})

    def get_absolute_url(self):
        return self.institution.get_absolute_url() + "#watchpoints"


class TimelineEvent(models.Model):
    """A dated entry in the profile's public timeline."""

    class Kind(models.TextChoices):
        EVENT = "event", "Event"
        PROFILE_UPDATE = "profile-update", "Profile updated"

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(
        max_length=16,
        choices=Kind.choices,
        default=Kind.EVENT,
        help_text="'Profile updated' entries are written by the system when readers' view changes.",
    )
    date = models.DateField(validators=[validate_not_far_future])
    title = models.CharField(max_length=300)
    text = models.TextField(blank=True, help_text="Public. " + MARKDOWN_HELP)
    evidence = models.ForeignKey(
        EvidenceItem,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="timeline_events",
        help_text="Shown as the source only once that evidence is approved and public.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-date", "-pk"]
        indexes = [
            models.Index(fields=["institution", "-date"], name="timeline_institution_idx"),
            # The feeds' newest events (profiles.updates): at 1,200,000 events a sort took 700 ms.
            models.Index(fields=["kind", "-date", "-id"], name="timeline_recent_idx"),
        ]

    def __str__(self):
        return f"{self.date:%Y-%m-%d} {self.title}"

    def get_absolute_url(self):
        return self.institution.get_absolute_url() + "#timeline"


class FAQItem(OrderedChild):
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="faqs")
    question = models.CharField(max_length=300)
    answer = models.TextField(help_text="Public. " + MARKDOWN_HELP)

    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = "FAQ item"
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "order"],
                name="faq_unique_order_per_profile",
                violation_error_message="Another FAQ item of this profile has this order.",
            )
        ]

    def __str__(self):
        return self.question

    def get_absolute_url(self):
        return self.institution.get_absolute_url() + "#faq"


class RelatedLink(OrderedChild):
    """An "Also read" link: to another profile, or to an external article."""

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="related_links")
    title = models.CharField(max_length=300, blank=True, help_text="Leave empty to use the linked profile's name.")
    target = models.ForeignKey(
        Institution,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Another profile (shown only while it is published).",
    )
    url = http_url_field(blank=True, help_text="Or an external article.")

    history = HistoricalRecords()

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(target__isnull=False) & Q(url="")) | (Q(target__isnull=True) & ~Q(url="")),
                name="related_link_profile_xor_url",
                violation_error_message="Link either to another profile or to an external URL (one of the two).",
            ),
            http_url_constraint("url", name="related_link_url_http", optional=True),
        ]

    def __str__(self):
        return self.display_title

    @property
    def display_title(self):
        if self.title:
            return self.title
        return self.target.name if self.target_id else self.url

    def get_absolute_url(self):
        return self.target.get_absolute_url() if self.target_id else self.url

    def clean(self):
        if bool(self.target_id) == bool(self.url):
            raise ValidationError("Link either to another profile or to an external URL (one of the two).")


class BriefingQuerySet(GatedQuerySet):
    pass


class Briefing(OrderedChild):
    """Member briefing — deeper profile context, opened by tier or by a per-reader grant."""

    gate_tier_field = "required_tier"
    gate_object_permission = "view_briefing"

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="briefings")
    title = models.CharField(max_length=200, help_text="Shown to every reader, even when the briefing is locked.")
    body = models.TextField(help_text="Members of the tier only. " + MARKDOWN_HELP)
    source_notes = models.TextField(blank=True, help_text="Members of the tier only. " + MARKDOWN_HELP)
    required_tier = required_tier_field("Readers below this tier see only the title and a call to join.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()
    objects = BriefingQuerySet.as_manager()

    class Meta:
        ordering = ["order", "pk"]
        indexes = [models.Index(fields=["institution", "order"], name="briefing_institution_idx")]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return self.institution.get_absolute_url() + f"#briefing-{self.pk}"

    def clean(self):
        if self.required_tier_id and self.required_tier.is_public:
            raise ValidationError({"required_tier": "A briefing is for members: choose a members' tier."})


class BriefingUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Briefing, on_delete=models.CASCADE)


class BriefingGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Briefing, on_delete=models.CASCADE)
