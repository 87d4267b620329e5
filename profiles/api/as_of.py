"""`/api/v1/institutions/<slug>/?as_of=YYYY-MM-DD`: a profile's public layer as the reader could have
read it at the end of that day — the same snapshot the page's "as of" view shows (`profiles.as_of`),
written with the API's own serializers, so the fields are those of the live resources.

The snapshot is the page object: the profile as it stood, its FAQ, links, briefings (locked ones as
title and tier), the evidence the reader could read then and now, open watchpoints and timeline, and
the sources withdrawn since, as ids and dates only.
"""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from ..as_of import REMOVED, RETRACTED, AsOfProfile
from . import serializers as api_serializers


class _AsOfInstitution(api_serializers.InstitutionDetailSerializer):
    """The profile as it stood: its lists come from the snapshot's page, not from today's rows."""

    sectors = serializers.SerializerMethodField()
    identifiers = serializers.SerializerMethodField()
    faqs = serializers.SerializerMethodField()

    def get_sectors(self, institution) -> list[str]:
        return [sector.slug for sector in self.context["page"].sectors]

    def get_identifiers(self, institution) -> list[dict]:
        return api_serializers.IdentifierSerializer(self.context["page"].identifiers, many=True).data

    def get_faqs(self, institution) -> list[dict]:
        return api_serializers.FAQSerializer(self.context["page"].faqs, many=True, context=self.context).data

    def get_related_links(self, institution) -> list[dict]:
        return api_serializers.RelatedLinkSerializer(self.context["page"].also_read, many=True).data

    def get_briefings(self, institution) -> list[dict]:
        return api_serializers.BriefingSerializer(self.context["page"].briefings, many=True, context=self.context).data


class AsOfProfileSerializer(serializers.Serializer):
    """What `write` answers, for the schema: the profile and its parts as they stood on `as_of`."""

    as_of = serializers.DateField()
    institution = api_serializers.InstitutionDetailSerializer()
    evidence = api_serializers.EvidenceSerializer(many=True)
    timeline = api_serializers.TimelineSerializer(many=True)
    watchpoints = api_serializers.WatchpointSerializer(many=True)
    withdrawn = inline_serializer("WithdrawnEvidence", {
        "id": serializers.IntegerField(),
        "on": serializers.DateField(),
        "how": serializers.ChoiceField(choices=[RETRACTED, REMOVED]),
    }, many=True, help_text="Sources you could read then, withdrawn since: ids and dates only.")


def _of(institution, objects):
    """Rows of the snapshot name their profile as it stood (no query for `.institution`)."""
    for obj in objects:
        type(obj).institution.field.set_cached_value(obj, institution)
    return objects


def write(snapshot: AsOfProfile, reader) -> dict:
    page, then = snapshot.page, snapshot.institution
    context = {"reader": reader, "page": page, "visible_evidence": frozenset(item.pk for item in page.sources)}
    watchpoints = [entry.watchpoint for entry in page.watchpoints if not getattr(entry, "locked", False)]
    return {
        "as_of": snapshot.at.date().isoformat(),
        "institution": _AsOfInstitution(then, context=context).data,
        "evidence": api_serializers.EvidenceSerializer(_of(then, page.sources), many=True, context=context).data,
        "timeline": api_serializers.TimelineSerializer(_of(then, [e.event for e in page.timeline]), many=True,
                                                       context=context).data,
        "watchpoints": api_serializers.WatchpointSerializer(_of(then, watchpoints), many=True, context=context).data,
        "withdrawn": [{"id": pk, "on": day.isoformat(), "how": how} for pk, day, how in snapshot.retracted],
    }
