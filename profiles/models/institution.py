"""The profile itself: an institution, its sectors, the publication rule (`published_condition`,
used by every queryset that names a profile) and its guardian object-permission tables."""

import datetime

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from ..validators import normalise_identifier
from .fields import MARKDOWN_HELP


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


#: Fields of a profile written only from elsewhere, never by a save of its row.
DERIVED_FIELDS = frozenset({"sector_ids"})

#: The re-verification queue's order: never confirmed first, then the oldest confirmation.
REVERIFICATION_ORDER = (F("last_verified_at").asc(nulls_first=True), "published_at", "pk")


def reverify_period() -> datetime.timedelta:
    """How long a confirmation that a profile's sections still hold lasts (`BTW_REVERIFY_DAYS`)."""
    return datetime.timedelta(days=settings.BTW_REVERIFY_DAYS)


class InstitutionQuerySet(models.QuerySet):
    def published(self, at=None):
        """Readers see only published profiles whose publication time has come."""
        return self.filter(published_condition(at=at))

    def scheduled(self, at=None):
        """Published profiles whose publication time is still to come (readers do not see them yet)."""
        return self.filter(scheduled_condition(at=at))

    def recently_updated(self):
        return self.order_by("-public_updated_at", "-pk")

    def due_for_reverification(self, now=None):
        """Published profiles nobody has confirmed within `BTW_REVERIFY_DAYS` (never confirmed, or
        confirmed before the period began), the longest unconfirmed first: the re-verification queue."""
        now = now or timezone.now()
        return self.filter(
            published_condition(at=now),
            Q(last_verified_at__isnull=True) | Q(last_verified_at__lt=now - reverify_period()),
        ).order_by(*REVERIFICATION_ORDER)

    def for_listing(self):
        return self.only(
            "pk",
            "name",
            "slug",
            "type",
            "base_region",
            "dek",
            "criticality",
            "time_horizon",
            "status",
            "published_at",
            "public_updated_at",
            "sector_ids",
        )

    def with_identifier(self, scheme: str, value: str):
        """Profiles that carry this identifier (`Identifier.Scheme`), the value read as the model
        stores it ("AS13335" finds 13335). A malformed value or unknown scheme raises ValidationError
        with the reason, so a caller (the API's `?asn=`) can answer 400 instead of an empty list."""
        # One row per profile: (profile, scheme, value) is unique, so the join needs no DISTINCT.
        return self.filter(identifiers__scheme=scheme, identifiers__value=normalise_identifier(scheme, value))


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
    version = models.PositiveIntegerField(default=1, editable=False, help_text="Optimistic lock: bumped on every save.")
    last_edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    last_verified_at = models.DateTimeField(
        "last verified",
        null=True,
        blank=True,
        editable=False,
        help_text="When an analyst last confirmed that the profile's sections still hold. Readers see the "
        "date next to “Updated”; after BTW_REVERIFY_DAYS the profile joins the re-verification queue.",
    )
    last_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="last verified by",
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    search_vector = SearchVectorField(
        null=True,
        blank=True,
        editable=False,
        help_text="PostgreSQL full-text index of public fields only (profiles.search).",
    )

    sector_ids = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text="Derived from its sectors, never edited (profiles.sector_sets): their ids, as the keys of an "
        "object, in the row itself, so a text query's facets are counted in one pass over its matches "
        "(profiles.query_pass).",
    )

    history = HistoricalRecords(excluded_fields=["search_vector", "sector_ids"])
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
            # One facet combination's profiles, which profiles.tallies recounts on every change that moves
            # one (at 400,000 profiles a recount read the table: 310 ms; through this index ~1 ms).
            models.Index(
                fields=["type", "base_region", "criticality", "time_horizon"],
                include=["status", "published_at"],
                name="institution_combination_idx",
            ),
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

    @classmethod
    def from_db(cls, db, field_names, values):
        """Remember the slug as loaded: a rename retires the cached pages of the old address too
        (`profiles.dependencies`), and the row in the database already has the new one by then."""
        instance = super().from_db(db, field_names, values)
        instance._slug_as_loaded = instance.__dict__.get("slug")
        return instance

    def save(self, *args, **kwargs):
        """Derives the profile's own fields only (the publication time and the first public date).
        What follows a save elsewhere (the search index, the page cache) is done by receivers
        registered in `ProfilesConfig.ready()`; reader-visible changes by `profiles.public_changes`."""
        self.published_at = self.publication_time(self.status, self.published_at)
        if self.public_updated_at is None and self.status == self.Status.PUBLISHED:
            self.public_updated_at = self.published_at
        if not (args or self._state.adding or kwargs.get("force_insert")) and kwargs.get("update_fields") is None:
            # The row's copy of its sectors is written from the relation only (profiles.sector_sets):
            # an instance read before its sectors changed would write the old list back.
            deferred = self.get_deferred_fields()
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields
                if not f.primary_key and f.name not in DERIVED_FIELDS and f.attname not in deferred
            ]
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

    def is_due_for_reverification(self, now=None) -> bool:
        """`InstitutionQuerySet.due_for_reverification` for one loaded row."""
        now = now or timezone.now()
        if not self.is_published(now):
            return False
        return self.last_verified_at is None or self.last_verified_at < now - reverify_period()


class InstitutionUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Institution, on_delete=models.CASCADE)


class InstitutionGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Institution, on_delete=models.CASCADE)


class ReverificationQueueItem(Institution):
    """A published profile due for re-verification, as its queue lists it (see
    `InstitutionQuerySet.due_for_reverification`). A proxy: no table of its own, so the queue has its
    own admin, columns and permissions while confirmations act on the real profile."""

    class Meta:
        proxy = True
        ordering = list(REVERIFICATION_ORDER)
        verbose_name = "profile due for re-verification"
        verbose_name_plural = "profiles due for re-verification"
