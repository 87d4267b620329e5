"""Watchlists: the profiles a member follows, their digest setting, and the digests sent."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from .institution import Institution


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
    """One digest decided and queued: recorded in the same transaction as its e-mail's outbox row
    (outbox.OutgoingMail), which records when the mail server actually accepted it."""

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
