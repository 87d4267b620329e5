"""The audit log: who decided, granted or published what, and when. Append-only."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class AuditEntryQuerySet(models.QuerySet):
    def about(self, obj):
        """Entries whose target is `obj`."""
        return self.filter(content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk))

    def by(self, user):
        return self.filter(actor=user)


class AuditEntry(models.Model):
    """One recorded act. Rows are never changed or deleted: a correction is a new entry."""

    class Action(models.TextChoices):
        REVIEW = "review", "Review decision"
        GRANT = "grant", "Permission granted"
        REVOKE = "revoke", "Permission revoked"
        PUBLISH = "publish", "Profile published"
        SCHEDULE = "schedule", "Profile scheduled"
        UNPUBLISH = "unpublish", "Profile unpublished"
        OVERRIDE = "override", "Publication guard overridden"
        APPLICATION = "application", "Application"
        MEMBERSHIP = "membership", "Membership change"
        VERIFY = "verify", "Profile verified"
        API_TOKEN = "api_token", "API token"
        SOURCE = "source", "Source alert handled"

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=254, blank=True, help_text="Who acted, as they were named at the time (kept if the user is deleted)."
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    content_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64, blank=True)
    target = GenericForeignKey("content_type", "object_id")
    target_label = models.CharField(max_length=300, blank=True, help_text="The object, as it was named at the time.")
    summary = models.TextField(help_text="What happened, in a sentence.")
    data = models.JSONField(default=dict, blank=True, help_text="Details: states, permissions, reasons.")

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["actor", "-created_at"], name="audit_actor_idx"),
            models.Index(fields=["content_type", "object_id"], name="audit_target_idx"),
            models.Index(fields=["action", "-created_at"], name="audit_action_idx"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label or 'system'}: {self.summary}"[:200]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("The audit log is append-only; record a new entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The audit log is append-only; entries cannot be deleted.")
