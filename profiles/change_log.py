"""Writing the change log (`profiles.models.Change`): every save or delete of data-layer content
appends a row in the same transaction, so a change and its row commit together or not at all.

Which resource a model's rows belong to is written once, in `RESOURCE_OF`: evidence, relationships,
watchpoints and timeline events are resources of their own; briefings, FAQ items, "Also read"
links, identifiers and sectors are parts of their profile, so writing one changes the profile.
Receivers are connected in `ProfilesConfig.ready`; code that writes with `QuerySet.update()` (which
sends no signal) calls `record_institution` itself.
"""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from .models import (
    Briefing,
    Change,
    Correction,
    EvidenceItem,
    FAQItem,
    Identifier,
    Institution,
    RelatedLink,
    Relationship,
    Sector,
    TimelineEvent,
    Watchpoint,
)

Kind = Change.Kind

#: model → (the resource kind its writes change, the attribute naming that resource's id, the
#: attribute naming its profile).
RESOURCE_OF = {
    Institution: (Kind.INSTITUTION, "pk", "pk"),
    EvidenceItem: (Kind.EVIDENCE, "pk", "institution_id"),
    Relationship: (Kind.RELATIONSHIP, "pk", "source_id"),
    Watchpoint: (Kind.WATCHPOINT, "pk", "institution_id"),
    TimelineEvent: (Kind.TIMELINE, "pk", "institution_id"),
    Briefing: (Kind.INSTITUTION, "institution_id", "institution_id"),
    FAQItem: (Kind.INSTITUTION, "institution_id", "institution_id"),
    RelatedLink: (Kind.INSTITUTION, "institution_id", "institution_id"),
    Identifier: (Kind.INSTITUTION, "institution_id", "institution_id"),
    Correction: (Kind.INSTITUTION, "institution_id", "institution_id"),
}


def record(kind: str, object_id: int, institution_id: int, *, deleted: bool = False) -> None:
    Change.objects.create(kind=kind, object_id=object_id, institution_id=institution_id, deleted=deleted)


def record_institution(institution_id: int) -> None:
    """A write to a profile that sent no signal (`QuerySet.update()`)."""
    record(Kind.INSTITUTION, institution_id, institution_id)


def record_institutions(institution_ids) -> None:
    Change.objects.bulk_create(
        Change(kind=Kind.INSTITUTION, object_id=pk, institution_id=pk) for pk in institution_ids
    )


def _saved_or_deleted(sender, instance, *, deleted: bool, **_kwargs) -> None:
    kind, id_attr, institution_attr = RESOURCE_OF[sender]
    # Deleting a part (a FAQ item) changes its profile; deleting a resource deletes it. A part deleted
    # with its profile adds a "changed" row before the profile's "deleted" one: the last row wins.
    part = kind == Kind.INSTITUTION and sender is not Institution
    record(kind, getattr(instance, id_attr), getattr(instance, institution_attr), deleted=deleted and not part)


def _saved(sender, instance, raw=False, **kwargs) -> None:
    if not raw:  # fixtures load rows as they are
        _saved_or_deleted(sender, instance, deleted=False)


def _deleted(sender, instance, **kwargs) -> None:
    _saved_or_deleted(sender, instance, deleted=True)


def _sectors_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    if not reverse:
        if action.startswith("post_"):
            record_institution(instance.pk)
    elif action in ("post_add", "post_remove"):  # sector.institutions.add(...)
        record_institutions(pk_set)
    elif action == "pre_clear":
        _sector_changed(Sector, instance)


def _sector_changed(sender, instance, raw=False, created=False, **kwargs) -> None:
    """A sector renamed or deleted changes every profile that shows it."""
    if not raw and not created:
        record_institutions(instance.institutions.values_list("pk", flat=True))


def connect() -> None:
    for model in RESOURCE_OF:
        post_save.connect(_saved, sender=model, dispatch_uid=f"btw-change-log-save-{model._meta.label}")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"btw-change-log-delete-{model._meta.label}")
    m2m_changed.connect(_sectors_changed, sender=Institution.sectors.through, dispatch_uid="btw-change-log-sectors")
    post_save.connect(_sector_changed, sender=Sector, dispatch_uid="btw-change-log-sector-save")
    pre_delete.connect(_sector_changed, sender=Sector, dispatch_uid="btw-change-log-sector-delete")
