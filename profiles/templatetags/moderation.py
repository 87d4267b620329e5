"""`{% moderation_pending as pending %}`: the admin index's count of items awaiting review."""

from django import template
from django.urls import reverse

from profiles import permissions, review
from profiles.models import EvidenceItem, Relationship

register = template.Library()


@register.simple_tag(takes_context=True)
def moderation_pending(context):
    """Counts of the user's moderation queues, linked to them, or None for staff who moderate
    nothing (two queries)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not permissions.moderates_anything(user):
        return None
    evidence = review.awaiting_review(user, EvidenceItem).count()
    relationships = review.awaiting_review(user, Relationship).count()
    return {
        "evidence": evidence,
        "relationships": relationships,
        "total": evidence + relationships,
        "evidence_url": reverse("admin:profiles_evidencequeueitem_changelist"),
        "relationships_url": reverse("admin:profiles_relationshipqueueitem_changelist"),
    }
