"""Readers' tiers, memberships and Leadership Alliance applications.

This app is the lower layer: it knows readers and tiers, never profiles.
"""

import functools

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class TierQuerySet(models.QuerySet):
    def members_only(self):
        return self.filter(level__gt=Tier.PUBLIC_LEVEL)


class TierManager(models.Manager.from_queryset(TierQuerySet)):
    def level_of(self, slug: str) -> int | None:
        """The level of the tier `slug` (None when there is none), without a query after the first.

        The gate compares readers with the seeded tiers on every page, and tiers change almost never:
        their levels are read once per process and database, and saving or deleting a tier forgets them
        (`forget_tier_levels`). Another process sees a changed level after its restart.
        """
        return _tier_levels(self.db).get(slug)


@functools.cache
def _tier_levels(alias: str) -> dict[str, int]:
    return dict(Tier.objects.using(alias).values_list("slug", "level"))


def forget_tier_levels(**kwargs) -> None:
    _tier_levels.cache_clear()


class Tier(models.Model):
    """A membership level. Tiers are data (seeded by migration), compared by `level`."""

    PUBLIC_LEVEL = 0
    STRATEGIC_CIRCLE_SLUG = "strategic-circle"
    LEADERSHIP_ALLIANCE_SLUG = "leadership-alliance"

    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    level = models.PositiveSmallIntegerField(
        unique=True,
        help_text="0 is public; a reader sees blocks whose tier level is at or below their own.",
    )
    description = models.TextField(blank=True)
    unlocks = models.TextField(blank=True, help_text="What members of this tier can read, one line each.")
    self_service = models.BooleanField(
        default=False,
        help_text="Readers join this tier themselves (by verifying their e-mail); "
        "otherwise staff approve an application.",
    )

    objects = TierManager()

    class Meta:
        ordering = ["level"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("membership:tiers") + f"#{self.slug}"

    @property
    def is_public(self):
        return self.level == self.PUBLIC_LEVEL

    def unlock_lines(self):
        return [line.strip() for line in self.unlocks.splitlines() if line.strip()]


# The per-process table of tier levels follows every saved or deleted tier. Connected here, beside the
# cache it clears, rather than in a signals module: it is the model's own derived data.


def verified_emails():
    """Rule: an e-mail address counts once its owner confirmed it (allauth's `verified`). The one
    written form; the gate's reader row and the membership services filter it further."""
    return EmailAddress.objects.filter(verified=True)


class MembershipQuerySet(models.QuerySet):
    def active(self, at=None):
        """Rule 1's "active membership": status active and not ended at `at` (default: now)."""
        at = at or timezone.now()
        return self.filter(status=Membership.Status.ACTIVE).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=at)
        )


class Membership(models.Model):
    """A reader's standing in one tier. Only *active*, unexpired memberships open content."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        REJECTED = "rejected", "Rejected"
        LAPSED = "lapsed", "Lapsed"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="memberships")
    status = models.CharField(
        max_length=10,
        choices=Status.choices,
        default=Status.PENDING,
        help_text="Only active memberships unlock content; lapsing one locks its briefings at once.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Leave empty for no end date.")
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "tier"], name="membership_one_per_user_and_tier"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "active", "rejected", "lapsed"]),
                name="membership_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self):
        return f"{self.user.email or self.user} — {self.tier} ({self.get_status_display()})"

    def get_absolute_url(self):
        return reverse("membership:tiers")

    def is_active(self, at=None):
        at = at or timezone.now()
        return self.status == self.Status.ACTIVE and (self.ends_at is None or self.ends_at > at)


class ApplicationQuerySet(models.QuerySet):
    def pending(self):
        """Applications awaiting a decision (at most one per reader)."""
        return self.filter(state=Application.State.PENDING)


class Application(models.Model):
    """A reader's request to join the Leadership Alliance; staff decide it."""

    class State(models.TextChoices):
        PENDING = "pending", "Under review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="applications")
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="applications")
    organisation = models.CharField(max_length=200)
    role = models.CharField(max_length=200, help_text="The applicant's position in the organisation.")
    qualification_statement = models.TextField(
        help_text="Which IP assets or management responsibility qualify the applicant."
    )
    consent = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_note = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ApplicationQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        permissions = [("review_application", "Can approve or reject Leadership Alliance applications")]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(state="pending"), name="application_one_open_per_user"
            ),
            models.CheckConstraint(condition=Q(consent=True), name="application_requires_consent"),
        ]

    def __str__(self):
        return f"{self.organisation} — {self.user.email or self.user} ({self.get_state_display()})"

    def get_absolute_url(self):
        return reverse("membership:apply")


class ApiTokenQuerySet(models.QuerySet):
    def unrevoked(self):
        return self.filter(revoked_at__isnull=True)

    def live(self, at=None):
        """Tokens that open the API now: not revoked and not expired at `at` (default: now)."""
        at = at or timezone.now()
        return self.unrevoked().filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))


class ApiToken(models.Model):
    """A reader's personal API token. Only the SHA-256 digest of the token is stored: the token itself
    is shown once, when it is made (`membership.tokens`), and cannot be read back by anyone."""

    #: How many live tokens one reader may hold at once (`membership.tokens.create_token`).
    MAX_LIVE_PER_OWNER = 10

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80, help_text="The owner's name for it, e.g. the tool that uses it.")
    prefix = models.CharField(
        max_length=16, help_text="The public start of the token (btw_<prefix>_…), to recognise it; not a secret."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="Recorded at most once an hour.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Revoked tokens open nothing, at once.")

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"], condition=Q(revoked_at__isnull=True), name="apitoken_name_unique_per_owner"
            ),
        ]

    def __str__(self):
        return f"{self.name} (btw_{self.prefix}_…)"

    def get_absolute_url(self):
        return reverse("membership:api_tokens")

    @property
    def display_prefix(self) -> str:
        return f"btw_{self.prefix}_…"

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, at=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (at or timezone.now())

    def is_live(self, at=None) -> bool:
        return not self.is_revoked() and not self.is_expired(at)
