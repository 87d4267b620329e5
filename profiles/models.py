"""Institutions and everything shown on a profile page.

Reads are named queryset methods (`Institution.objects.published()`,
`EvidenceItem.objects.approved().visible_to(reader)`); the tier rules themselves live in
`membership.gating`, which these querysets build on.
"""

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from membership.gating import GatedQuerySet, reader_for
from membership.models import Tier

from .validators import validate_http_url, validate_not_far_future, validate_url_syntax

MARKDOWN_HELP = "Markdown: **bold**, _italic_, [links](https://…), lists with '- '."


def http_url_constraint(field_name: str, *, name: str, optional: bool = False) -> models.CheckConstraint:
    condition = Q(**{f"{field_name}__startswith": "http://"}) | Q(**{f"{field_name}__startswith": "https://"})
    if optional:
        condition |= Q(**{field_name: ""})
    return models.CheckConstraint(condition=condition, name=name)


def http_url_field(**kwargs) -> models.URLField:
    return models.URLField(max_length=1000, validators=[validate_http_url, validate_url_syntax], **kwargs)


class Sector(models.Model):
    """A sector tag (cloud, subsea cables, AI compute…) used for filters and feeds."""

    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("profiles:directory") + f"?sector={self.slug}"


def published_condition(path: str = "", at=None) -> Q:
    """The publication rule as a filter on the profile reached through `path` ("", "source__", …).

    Readers see a profile only when it is published and its publication time has come; every
    queryset that names a profile (its own, or one at the end of a relationship) filters with this.
    `Institution.is_published()` is the same rule for one loaded row (tests/test_model_rules.py
    holds the two to each other).
    """
    return Q(**{f"{path}status": Institution.Status.PUBLISHED, f"{path}published_at__lte": at or timezone.now()})


def scheduled_condition(path: str = "", at=None) -> Q:
    """Published with a publication time still to come: `Institution.is_scheduled()` as a filter."""
    return Q(**{f"{path}status": Institution.Status.PUBLISHED, f"{path}published_at__gt": at or timezone.now()})


class InstitutionQuerySet(models.QuerySet):
    def published(self, at=None):
        """Readers see only published profiles whose publication time has come."""
        return self.filter(published_condition(at=at))

    def scheduled(self, at=None):
        """Published profiles whose publication time is still to come (readers do not see them yet)."""
        return self.filter(scheduled_condition(at=at))

    def recently_updated(self):
        return self.order_by("-public_updated_at", "-pk")

    def for_listing(self):
        return self.only(
            "pk", "name", "slug", "type", "base_region", "dek", "criticality", "time_horizon",
            "status", "published_at", "public_updated_at",
        )


class Institution(models.Model):
    """One profile: an institution of the internet's infrastructure."""

    class Type(models.TextChoices):
        INFRASTRUCTURE_INSTITUTION = "infrastructure-institution", "Internet Infrastructure Institution"
        COMPANY = "company", "Company"
        PARTNERSHIP = "partnership", "Partnership"
        REGISTRY = "registry", "Registry"
        EXCHANGE = "exchange", "Exchange"
        DATA_CENTRE_PROGRAMME = "data-centre-programme", "Data Centre Programme"
        STANDARDS_BODY = "standards-body", "Standards Body"
        REGULATOR = "regulator", "Regulator"
        NETWORK_OPERATOR = "network-operator", "Network Operator"

    class Region(models.TextChoices):
        NORTH_AMERICA = "north-america", "North America"
        LATIN_AMERICA = "latin-america", "Latin America"
        EUROPE = "europe", "Europe"
        MIDDLE_EAST = "middle-east", "Middle East"
        AFRICA = "africa", "Africa"
        ASIA_PACIFIC = "asia-pacific", "Asia-Pacific"
        GLOBAL = "global", "Global"

    class Criticality(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        CRITICAL = "critical", "Critical"

    class Horizon(models.TextChoices):
        NOW = "now", "Now"
        NEXT_QUARTER = "next-quarter", "Next quarter"
        NEXT_YEAR = "next-year", "Next year"
        LONG_TERM = "long-term", "Long term"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    name = models.CharField(max_length=200, help_text="The profile's title, as readers see it.")
    slug = models.SlugField(
        max_length=200,
        unique=True,
        help_text="The profile's address: /profiles/<slug>/. Change it only before publishing.",
    )
    type = models.CharField(max_length=32, choices=Type.choices, default=Type.INFRASTRUCTURE_INSTITUTION)
    base_region = models.CharField("base", max_length=20, choices=Region.choices, default=Region.GLOBAL)
    profile_focus = models.CharField(max_length=80, default="Institution", help_text="Shown under 'At a glance'.")
    dek = models.TextField(
        "dek / summary", help_text="Two or three public sentences under the title; also the link-preview description."
    )
    key_points = models.TextField(
        blank=True, help_text="Public. One key point per line, shown as bullets. " + MARKDOWN_HELP
    )
    headline = models.CharField(
        "what happened (one line)", max_length=300, blank=True, help_text="Public. The news in one sentence."
    )
    body = models.TextField(
        "what happened", blank=True, help_text="Public. The story and its analysis. " + MARKDOWN_HELP
    )
    domain_summary = models.TextField(
        "domain of operation",
        blank=True,
        help_text="Public. Why this institution sits in our coverage. " + MARKDOWN_HELP,
    )
    public_role = models.TextField(blank=True, help_text="Public. " + MARKDOWN_HELP)
    operating_surface = models.TextField(
        blank=True, help_text="Public. Markets and regions it operates in. " + MARKDOWN_HELP
    )
    what_it_does = models.TextField(blank=True, help_text="Public. " + MARKDOWN_HELP)
    why_it_matters = models.TextField(blank=True, help_text="Public. " + MARKDOWN_HELP)
    criticality = models.CharField(
        "operational criticality", max_length=10, choices=Criticality.choices, default=Criticality.MEDIUM
    )
    time_horizon = models.CharField(max_length=16, choices=Horizon.choices, default=Horizon.NEXT_QUARTER)
    what_to_watch = models.TextField(blank=True, help_text="Public. " + MARKDOWN_HELP)
    public_view = models.TextField(
        blank=True, help_text="Public. What the public layer of this profile covers and leaves out. " + MARKDOWN_HELP
    )
    caveats = models.TextField(blank=True, help_text="Public. One caveat per line. " + MARKDOWN_HELP)
    sectors = models.ManyToManyField(Sector, blank=True, related_name="institutions")

    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.DRAFT,
        help_text="Readers see a profile only when it is published and its publication time has passed.",
    )
    published_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When readers may first see it. A future time schedules the profile; "
        "leave empty to publish now when the status is Published.",
    )
    public_updated_at = models.DateTimeField(
        "last updated (public)",
        null=True,
        blank=True,
        editable=False,
        help_text="Moves only when something readers can see changes.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Optimistic lock: bumped on every save."
    )
    last_edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    search_vector = SearchVectorField(
        null=True,
        blank=True,
        editable=False,
        help_text="PostgreSQL full-text index of public fields only (profiles.search).",
    )

    history = HistoricalRecords(excluded_fields=["search_vector"])
    objects = InstitutionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("moderate_evidence", "Can approve, reject and retract evidence and relationships")]
        indexes = [
            # Covers the published() filter and every enumerated facet, so facet counts are index-only scans.
            models.Index(
                fields=["status", "published_at"],
                include=["id", "type", "base_region", "criticality", "time_horizon"],
                name="institution_published_idx",
            ),
            models.Index(fields=["-public_updated_at", "-id"], name="institution_recent_idx"),
            models.Index(fields=["type"], name="institution_type_idx"),
            models.Index(fields=["base_region"], name="institution_region_idx"),
            models.Index(fields=["criticality"], name="institution_criticality_idx"),
            models.Index(fields=["time_horizon"], name="institution_horizon_idx"),
            models.Index(fields=["-updated_at"], name="institution_updated_idx"),
            models.Index(fields=["name", "-id"], name="institution_name_idx"),  # the admin's default order
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "published", "archived"]), name="institution_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="published") | Q(published_at__isnull=False),
                name="institution_published_has_date",
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("profiles:detail", kwargs={"slug": self.slug})

    @classmethod
    def publication_time(cls, status, published_at, at=None):
        """The "leave empty to publish now" rule, written once: the publication time a profile with
        this `status` and `published_at` gets. A published profile without a time is published at
        `at` (default: now); anything else keeps what it has. save(), the service and the admin form
        all ask this."""
        if status == cls.Status.PUBLISHED and published_at is None:
            return at or timezone.now()
        return published_at

    def save(self, *args, **kwargs):
        """Derives the profile's own fields only (the publication time and the first public date).
        What follows a save elsewhere (the search index, the page cache) is done by receivers
        registered in `ProfilesConfig.ready()`; reader-visible changes by `profiles.public_changes`."""
        self.published_at = self.publication_time(self.status, self.published_at)
        if self.public_updated_at is None and self.status == self.Status.PUBLISHED:
            self.public_updated_at = self.published_at
        super().save(*args, **kwargs)

    def is_published(self, at=None):
        """Readers see it: `published_condition` for one loaded row."""
        at = at or timezone.now()
        return self.status == self.Status.PUBLISHED and self.published_at is not None and self.published_at <= at

    def is_scheduled(self, at=None):
        """Published, but its time has not come: `scheduled_condition` for one loaded row."""
        at = at or timezone.now()
        return self.status == self.Status.PUBLISHED and self.published_at is not None and self.published_at > at

    @property
    def last_updated(self):
        return self.public_updated_at or self.published_at


class InstitutionUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Institution, on_delete=models.CASCADE)


class InstitutionGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Institution, on_delete=models.CASCADE)


class ReviewState(models.TextChoices):
    """Moderation states shared by evidence and relationships."""

    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    RETRACTED = "retracted", "Retracted"


class ReviewedQuerySet(GatedQuerySet):
    def approved(self):
        return self.filter(review_state=ReviewState.APPROVED)

    def submitted(self):
        return self.filter(review_state=ReviewState.SUBMITTED)

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


def required_tier_field(help_text: str, **kwargs) -> models.ForeignKey:
    return models.ForeignKey(
        Tier, on_delete=models.PROTECT, related_name="+", help_text=help_text, **kwargs
    )


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
        "institution", "url", "publisher", "title", "source_date", "retrieved_at", "claim", "quote", "archive_url",
        "kind", "required_tier",
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

    history = HistoricalRecords()
    objects = ReviewedQuerySet.as_manager()

    class Meta:
        ordering = ["-source_date", "pk"]
        verbose_name = "evidence item"
        indexes = [
            models.Index(fields=["institution", "review_state"], name="evidence_institution_state_idx"),
            models.Index(
                fields=["review_state", "submitted_at", "id"], include=["submitted_by"], name="evidence_queue_idx"
            ),
            models.Index(fields=["-source_date", "id"], name="evidence_source_date_idx"),  # default order
        ]
        constraints = [
            http_url_constraint("url", name="evidence_url_http"),
            http_url_constraint("archive_url", name="evidence_archive_url_http", optional=True),
            models.CheckConstraint(
                condition=Q(review_state__in=ReviewState.values), name="evidence_review_state_valid"
            ),
        ]

    def __str__(self):
        return f"{self.publisher}: {self.title}"

    def get_absolute_url(self):
        return self.institution.get_absolute_url() + f"#evidence-{self.pk}"


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


class OrderedChild(models.Model):
    order = models.PositiveSmallIntegerField(default=0, help_text="Lower numbers come first.")

    class Meta:
        abstract = True


class WatchpointQuerySet(GatedQuerySet):
    def open(self):
        return self.exclude(status=Watchpoint.Status.CLOSED)


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
        from django.core.exceptions import ValidationError

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
        indexes = [models.Index(fields=["institution", "-date"], name="timeline_institution_idx")]

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
        Institution, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
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
        from django.core.exceptions import ValidationError

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
        from django.core.exceptions import ValidationError

        if self.required_tier_id and self.required_tier.is_public:
            raise ValidationError({"required_tier": "A briefing is for members: choose a members' tier."})


class BriefingUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Briefing, on_delete=models.CASCADE)


class BriefingGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Briefing, on_delete=models.CASCADE)


class ReviewRecordQuerySet(models.QuerySet):
    def for_item(self, item):
        return self.filter(
            content_type=ContentType.objects.get_for_model(item), object_id=item.pk
        ).select_related("actor")


class ReviewRecord(models.Model):
    """One moderation decision, append-only: who moved which item from what to what, and why."""

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.PositiveBigIntegerField()
    item = GenericForeignKey("content_type", "object_id")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="review_records")
    from_state = models.CharField(max_length=10, choices=ReviewState.choices, blank=True)
    to_state = models.CharField(max_length=10, choices=ReviewState.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ReviewRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="review_record_item_idx"),
            models.Index(fields=["institution", "-created_at"], name="review_record_inst_idx"),
        ]

    def __str__(self):
        return f"{self.content_type.model} #{self.object_id}: {self.from_state or 'new'} → {self.to_state}"

    def get_absolute_url(self):
        return self.institution.get_absolute_url()

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Review records are append-only; record a new decision instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Review records are append-only and cannot be deleted.")


class FollowQuerySet(models.QuerySet):
    def of(self, user):
        return self.filter(user=user)


class Follow(models.Model):
    """A member watches a profile: it appears on their watchlist and in their digests."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(default=timezone.now, help_text="When the member last opened the watchlist.")

    objects = FollowQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "institution"], name="follow_once")]

    def __str__(self):
        return f"{self.user} follows {self.institution}"

    def get_absolute_url(self):
        return reverse("watch:list")


class WatchSettings(models.Model):
    """A member's digest choice and the high-water mark of what was last mailed."""

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"
        OFF = "off", "Off"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watch_settings")
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.WEEKLY)
    last_digest_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user_id"]
        verbose_name_plural = "watch settings"

    def __str__(self):
        return f"{self.user}: {self.get_frequency_display()} digest"

    def get_absolute_url(self):
        return reverse("watch:list")


class DigestDelivery(models.Model):
    """One digest e-mail sent: recorded in the same transaction as the decision to send it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digests")
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField()
    item_count = models.PositiveIntegerField()
    item_keys = models.TextField(blank=True, help_text="The updates mailed, one key per line.")
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at"]
        verbose_name_plural = "digest deliveries"
        constraints = [models.UniqueConstraint(fields=["user", "window_end"], name="digest_once_per_window")]

    def __str__(self):
        return f"Digest to {self.user} at {self.sent_at:%Y-%m-%d %H:%M}"

    def get_absolute_url(self):
        return reverse("watch:list")


# --- the moderation queue ---------------------------------------------------------------------
# Proxies give the queue its own admin (its own columns, order, actions and permissions) instead of
# a flag that switches the evidence and relationship admins into "queue mode". They add no table;
# decisions are still taken on the real items, through `profiles.review`.


class EvidenceQueueItem(EvidenceItem):
    """Submitted evidence as the moderation queue lists it (see `review.review_queue`)."""

    class Meta:
        proxy = True
        ordering = ["submitted_at", "pk"]
        verbose_name = "evidence awaiting review"
        verbose_name_plural = "evidence awaiting review"


class RelationshipQueueItem(Relationship):
    """Submitted relationships as the moderation queue lists them (see `review.review_queue`)."""

    class Meta:
        proxy = True
        ordering = ["submitted_at", "pk"]
        verbose_name = "relationship awaiting review"
        verbose_name_plural = "relationships awaiting review"
