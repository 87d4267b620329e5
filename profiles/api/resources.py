"""The resources of the data layer, each written once: where its rows come from for a reader
(`visibility`), what it loads with them, and how it is written out (`serializers`).

The API's endpoints, the change stream and the bulk dumps all read and write a resource through
its `Resource`, so a field added to a serializer, or a rule added to `visibility`, reaches every
output at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet

from membership.gating import Reader

from ..citations import cited_ids
from ..models import Identifier, RelatedLink, Sector
from . import serializers, visibility


def visible_citations(reader: Reader, objects, texts: Callable) -> frozenset[int]:
    """The ids, among the evidence `objects` name (cited in `texts(obj)` or linked by `evidence_id`),
    of those the reader may see: one query for a whole page, none when nothing is cited."""
    wanted = set()
    for obj in objects:
        for text in texts(obj):
            wanted.update(cited_ids(text))
        if getattr(obj, "evidence_id", None):
            wanted.add(obj.evidence_id)
    if not wanted:
        return frozenset()
    return frozenset(visibility.evidence(reader).filter(pk__in=wanted).values_list("pk", flat=True))


def _no_texts(obj) -> Iterable[str]:
    return ()


@dataclass(frozen=True)
class Resource:
    kind: str  # the change log's kind (`Change.Kind`) and the name in change records and dumps
    visible: Callable[[Reader], QuerySet]
    serializer: type
    #: What writing a row out loads with it (select_related / prefetch_related), given the reader.
    loads: Callable[[QuerySet, Reader], QuerySet]
    #: The Markdown texts of a row whose citations are resolved for the reader.
    markdown_of: Callable = _no_texts
    #: The serializer of a row in a list, when lighter than the whole (`serializer`).
    list_serializer: type | None = None
    #: The rows of this resource that belong to some profiles (by id): what their pages show of it.
    of_profiles: Callable[[list[int]], Q] = lambda ids: Q(institution_id__in=ids)

    def rows(self, reader: Reader) -> QuerySet:
        return self.loads(self.visible(reader), reader)

    def context(self, reader: Reader, objects, *, whole: bool = True) -> dict:
        """What the serializer needs beside the rows: the reader, and the evidence the rows' texts cite
        that the reader may see (a list's lighter rows write no Markdown: nothing to resolve)."""
        texts = self.markdown_of if whole else _no_texts
        return {"reader": reader, "visible_evidence": visible_citations(reader, objects, texts)}

    def write(self, objects, reader: Reader) -> list[dict]:
        objects = list(objects)
        return self.serializer(objects, many=True, context=self.context(reader, objects)).data


def _named_by_slug(queryset, *relations):
    """Rows with the profiles (or tiers) they name loaded for their slug only: a list of evidence
    writes each profile's slug, not its whole text. (A page of 1,000 evidence rows reads 1,000
    institution rows; with every column that was most of the export's database time.)"""
    deferred = []
    for relation in relations:
        model = queryset.model._meta.get_field(relation).related_model
        deferred += [f"{relation}__{f.attname}" for f in model._meta.concrete_fields if f.name not in ("id", "slug")]
    return queryset.select_related(*relations).defer(*deferred)


def _institution_loads(queryset, reader):
    return queryset.prefetch_related(
        Prefetch("sectors", Sector.objects.only("pk", "slug")),
        Prefetch("identifiers", Identifier.objects.all()),
        "faqs",
        Prefetch("related_links", RelatedLink.objects.select_related("target")),
        Prefetch("briefings", visibility.briefings(reader)),
    )


def _institution_texts(institution) -> list[str]:
    texts = [getattr(institution, name) for name in serializers.INSTITUTION_MARKDOWN]
    prefetched = getattr(institution, "_prefetched_objects_cache", {})
    if "faqs" in prefetched:
        texts += [faq.answer for faq in institution.faqs.all()]
    if "briefings" in prefetched:
        texts += [text for b in institution.briefings.all() for text in (b.body, b.source_notes)]
    return texts


#: What a profile's card in a list writes (`serializers.InstitutionSerializer`).
INSTITUTION_CARD_FIELDS = ("pk", "slug", "name", "type", "base_region", "profile_focus", "criticality",
                           "time_horizon", "dek", "published_at", "public_updated_at", "last_verified_at")

INSTITUTIONS = Resource(
    kind="institution",
    visible=visibility.institutions,
    serializer=serializers.InstitutionDetailSerializer,
    list_serializer=serializers.InstitutionSerializer,
    loads=_institution_loads,
    markdown_of=_institution_texts,
    of_profiles=lambda ids: Q(pk__in=ids),
)
EVIDENCE = Resource(
    kind="evidence",
    visible=visibility.evidence,
    serializer=serializers.EvidenceSerializer,
    loads=lambda queryset, reader: _named_by_slug(queryset, "institution", "required_tier"),
)
RELATIONSHIPS = Resource(
    kind="relationship",
    visible=visibility.relationships,
    serializer=serializers.RelationshipSerializer,
    loads=lambda queryset, reader: _named_by_slug(queryset, "source", "target"),
    of_profiles=lambda ids: Q(source_id__in=ids) | Q(target_id__in=ids),
)
WATCHPOINTS = Resource(
    kind="watchpoint",
    visible=visibility.watchpoints,
    serializer=serializers.WatchpointSerializer,
    loads=lambda queryset, reader: _named_by_slug(queryset, "institution", "required_tier"),
)
TIMELINE = Resource(
    kind="timeline",
    visible=visibility.timeline,
    serializer=serializers.TimelineSerializer,
    loads=lambda queryset, reader: _named_by_slug(queryset, "institution"),
    markdown_of=lambda event: (event.text,),
)

#: The resources the change log records (`Change.Kind`), by kind; a profile's first.
BY_KIND = {r.kind: r for r in (INSTITUTIONS, EVIDENCE, RELATIONSHIPS, WATCHPOINTS, TIMELINE)}
