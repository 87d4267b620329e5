"""Writing to the audit log: one function, called inside the transaction of the act it records,
so an act that rolls back leaves no entry and an entry never describes an act that did not happen."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from .models import AuditEntry

Action = AuditEntry.Action


def user_label(user) -> str:
    """How a person is named in the log and on review pages."""
    if user is None or not getattr(user, "is_authenticated", False):
        return "system"
    return user.get_full_name() or user.get_username()


def record(*, actor, action: str, summary: str, target=None, data: dict | None = None, at=None) -> AuditEntry:
    """Append one entry. `target` is any saved model instance (or None for site-wide acts)."""
    entry = AuditEntry(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=user_label(actor)[:254],
        action=Action(action),
        summary=summary,
        data=data or {},
        created_at=at or timezone.now(),
    )
    if target is not None:
        entry.content_type = ContentType.objects.get_for_model(target, for_concrete_model=False)
        entry.object_id = str(target.pk)
        entry.target_label = str(target)[:300]
    entry.save()
    return entry
