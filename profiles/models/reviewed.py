"""Reviewed content: evidence and relationships, which readers see only once a moderator approves
them. The review workflow itself (`profiles.review`) reads the hooks `Reviewed` declares."""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from simple_history.models import HistoricalRecords

from membership.gating import GatedQuerySet, reader_for

from .fields import http_url_constraint, http_url_field, required_tier_field
from .institution import Institution, published_condition


class ReviewState(models.TextChoices):
    """Moderation states shared by evidence and relationships."""

    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    RETRACTED = "retracted", "Retracted"


class SourceState(models.TextChoices):
    """What the last look at an approved source found, against what it said when verified
    (`profiles.sources.state` moves an item between these; each move is a row of its history)."""

    UNCHECKED = "", "Not checked yet"
    OK = "ok", "Verified"
    MOVED = "moved", "Moved"  # still says it, at another address
    CHANGED = "changed", "Changed"  # the text differs from the verified text beyond the threshold
    GONE = "gone", "No longer available"  # 404/410, or failing `BTW_SOURCE_GONE_AFTER` checks in a row


class ReviewedQuerySet(GatedQuerySet):
    def approved(self):
        return self.filter(review_state=ReviewState.APPROVED)

    def submitted(self):
        return self.filter(review_state=ReviewState.SUBMITTED)

    def previewed(self):
        """What staff see cited when they preview, on the profile page and in the editor: the approved
        items and those waiting for review (marked "pending review"), never rejected or retracted ones."""
        return self.filter(review_state__in=(ReviewState.APPROVED, ReviewState.SUBMITTED))

    def open_to_everyone(self):
        """Approved and open to every reader (the gate's verdict for an anonymous reader), whatever
        the publication state of the profiles it names: what a profile shows the public once it is
        out. The publication guard counts these, and the search index holds their titles only."""
        return self.approved().visible_to(AnonymousUser())

    def public(self, at=None):
        """Approved, and every profile it names (`published_paths`) is published."""
        conditions = [published_condition(f"{path}__", at) for path in self.model.published_paths]
        return self.approved().filter(*conditions)

    def public_for(self, reader, at=None):
        """What a reader may see: approved, at or below their tier, naming no unpublished profile.

        Staff (full sight or a tier preview) also see items of profiles not yet published: a preview
        shows a draft as readers will see it once it is out.
        """
        reader = reader_for(reader)
        queryset = self.approved() if reader.is_staff else self.public(at)
        return queryset.visible_to(reader)


class Reviewed(models.Model):
    """Fields of the review workflow; readers only ever see approved items.

    Hooks the review workflow (`profiles.review`) reads, declared by each reviewed model:

    - ``review_owner_field``: the profile whose moderators decide the item. It never changes once
      the item exists: moving an item to another profile means a new item.
    - ``review_fields``: every field a reader sees or that decides where the item shows. Changing
      one sends an approved item back to review and makes the editor one of its authors.
    - ``published_paths``: the profiles the item names; readers see it only while all are published.
    - ``public_noun``: how the profile's public timeline names the item ("Source added.").
    """

    Review = ReviewState

    review_owner_field: str = "institution"
    review_fields: tuple[str, ...] = ()
    published_paths: tuple[str, ...] = ("institution",)
    public_noun: str = "Item"

    review_state = models.CharField(
        max_length=10,
        choices=ReviewState.choices,
        default=ReviewState.SUBMITTED,
        help_text="Readers see this only after a moderator approves it.",
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    submitted_at = models.DateTimeField(
        default=timezone.now,
        editable=False,
        help_text="When it last entered review: a resubmission restarts its age in the moderation queue.",
    )
    authors = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        editable=False,
        help_text="Everyone who wrote or changed a reviewed field since the last approval: none of them "
        "may approve it (four eyes).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def is_approved(self):
        return self.review_state == ReviewState.APPROVED

    @property
    def reviewed_institution(self):
        """The profile whose moderators decide this item."""
        return getattr(self, self.review_owner_field)

    @classmethod
    def reviewed_field_objects(cls):
        return [cls._meta.get_field(name) for name in cls.review_fields]

    def changed_review_fields(self, original) -> list[str]:
        """The reviewed fields whose stored value differs between this item and `original`."""
        return [
            field.name
            for field in self.reviewed_field_objects()
            if getattr(self, field.attname) != getattr(original, field.attname)
        ]


class EvidenceItem(Reviewed):
    """A public source that supports a claim on the profile (its provenance, Wikidata-style)."""

    class Kind(models.TextChoices):
        NEWS = "news", "News report"
        FILING = "filing", "Filing"
        PRESS_RELEASE = "press-release", "Press release"
        DATASET = "dataset", "Dataset"
        STATEMENT = "statement", "Statement"

    gate_tier_field = "required_tier"
    gate_object_permission = None
    review_owner_field = "institution"
    review_fields = (
        "institution",
        "url",
        "publisher",
        "title",
        "source_date",
        "retrieved_at",
        "claim",
        "quote",
        "archive_url",
        "kind",
        "required_tier",
    )
    published_paths = ("institution",)
    public_noun = "Source"

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="evidence")
    url = http_url_field(verbose_name="source URL", help_text="The page that states the claim (http or https).")
    publisher = models.CharField(max_length=200, help_text="Stated in: the outlet or body that published it.")
    title = models.CharField(max_length=300)
    source_date = models.DateField(null=True, blank=True, help_text="When the source was published.")
    retrieved_at = models.DateField(default=timezone.localdate, help_text="When we read it.")
    claim = models.TextField(help_text="What this source supports, in one or two sentences.")
    quote = models.TextField(blank=True, help_text="The exact words relied on, if short.")
    archive_url = http_url_field(verbose_name="archived copy URL", blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NEWS)
    required_tier = required_tier_field(
        "Leave empty for public evidence; a tier here shows the source only to readers of that tier.",
        null=True,
        blank=True,
    )
    # Written by the source checks only (`profiles.sources`), never by a form: readers see them as the
    # source's label, and every change of them is a row of this item's history.
    source_state = models.CharField(
        max_length=8, choices=SourceState.choices, default=SourceState.UNCHECKED, blank=True, editable=False
    )
    source_verified_at = models.DateTimeField(
        "source verified", null=True, blank=True, editable=False,
        help_text="When the fetch the later checks compare with was made (the capture on approval, normally).",
    )
    source_state_at = models.DateTimeField(
        "source state since", null=True, blank=True, editable=False, help_text="When the source state last changed."
    )
    snapshot_url = http_url_field(
        verbose_name="archive service copy", blank=True, editable=False,
        help_text="The copy the archive service made of the source after approval (`BTW_ARCHIVE_*`).",
    )

    history = HistoricalRecords()
    objects = ReviewedQuerySet.as_manager()

    Source = SourceState

    class Meta:
        ordering = ["-source_date", "pk"]
        verbose_name = "evidence item"
        indexes = [
            models.Index(fields=["institution", "review_state"], name="evidence_institution_state_idx"),
            models.Index(
                fields=["review_state", "submitted_at", "id"], include=["submitted_by"], name="evidence_queue_idx"
            ),
            models.Index(fields=["-source_date", "id"], name="evidence_source_date_idx"),  # default order
            # The feeds' newest approvals (profiles.updates): at 4,000,000 items a scan took 400 ms.
            models.Index(fields=["review_state", "-reviewed_at"], name="evidence_reviewed_idx"),
        ]
        constraints = [
            http_url_constraint("url", name="evidence_url_http"),
            http_url_constraint("archive_url", name="evidence_archive_url_http", optional=True),
            http_url_constraint("snapshot_url", name="evidence_snapshot_url_http", optional=True),
            models.CheckConstraint(
                condition=Q(source_state__in=SourceState.values), name="evidence_source_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(review_state__in=ReviewState.values), name="evidence_review_state_valid"
            ),
        ]

    def __str__(self):
        return f"{self.publisher}: {self.title}"

    def get_absolute_url(self):
        return self.institution.get_absolute_url() + f"#evidence-{self.pk}"

    #: Written by the source checks only, never from a form or an import: the database's constraints
    #: hold them, and `full_clean` need not ask it again for every item an analyst saves.
    SOURCE_CHECK_FIELDS = ("source_state", "source_verified_at", "source_state_at", "snapshot_url")

    def validate_constraints(self, exclude=None):
        super().validate_constraints(exclude={*(exclude or ()), *self.SOURCE_CHECK_FIELDS})

    @property
    def archived_copy_url(self) -> str:
        """The archived copy readers are pointed to: the analyst's when they gave one (it was
        reviewed), else the archive service's."""
        return self.archive_url or self.snapshot_url

    @property
    def source_warning(self) -> str:
        """What readers are told about the source beside it ("" when nothing): it changed since it was
        verified, or it is gone — never a silent removal. A moved source still says what it said."""
        if self.source_state == SourceState.CHANGED and self.source_verified_at:
            return "changed"
        if self.source_state == SourceState.GONE:
            return "gone"
        return ""


class Relationship(Reviewed):
    """A directed tie between two institutions; approved ones form the dependency map."""

    class Kind(models.TextChoices):
        PARTNER = "partner", "Partner of"
        SUPPLIER = "supplier", "Supplier to"
        CUSTOMER = "customer", "Customer of"
        OWNER = "owner", "Owner of"
        INVESTOR = "investor", "Investor in"
        DEPENDS_ON = "depends-on", "Depends on"
        MEMBER_OF = "member-of", "Member of"

    gate_tier_field = None
    review_owner_field = "source"
    review_fields = ("source", "target", "kind", "description", "since", "evidence")
    published_paths = ("source", "target")
    public_noun = "Relationship"

    source = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="relationships_out")
    target = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="relationships_in")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.TextField(blank=True, help_text="Public once approved.")
    since = models.DateField(null=True, blank=True)
    evidence = models.ForeignKey(
        EvidenceItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="relationships"
    )

    history = HistoricalRecords()
    objects = ReviewedQuerySet.as_manager()

    class Meta:
        ordering = ["source__name", "kind", "target__name"]
        indexes = [
            models.Index(fields=["source", "review_state"], name="relationship_source_idx"),
            models.Index(fields=["target", "review_state"], name="relationship_target_idx"),
            models.Index(
                fields=["review_state", "submitted_at", "id"], include=["submitted_by"], name="relationship_queue_idx"
            ),
            models.Index(fields=["review_state", "-reviewed_at"], name="relationship_reviewed_idx"),  # updates
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(source=models.F("target")),
                name="relationship_not_self",
                violation_error_message="A profile cannot have a relationship with itself.",
            ),
            models.UniqueConstraint(fields=["source", "target", "kind"], name="relationship_unique_kind"),
            models.CheckConstraint(
                condition=Q(review_state__in=ReviewState.values), name="relationship_review_state_valid"
            ),
        ]

    def __str__(self):
        return f"{self.source} — {self.get_kind_display().lower()} — {self.target}"

    def get_absolute_url(self):
        return reverse("profiles:map", kwargs={"slug": self.source.slug})
