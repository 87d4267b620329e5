"""The moderation trail and queue: the append-only record of every review decision, and the proxy
models that give the queue its own admin. Decisions themselves are taken by `profiles.review`."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

from .institution import Institution
from .reviewed import EvidenceItem, Relationship, ReviewState


class ReviewRecordQuerySet(models.QuerySet):
    def for_item(self, item):
        return self.filter(content_type=ContentType.objects.get_for_model(item), object_id=item.pk).select_related(
            "actor"
        )


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
