"""How each resource of the data layer is written out (API responses, change stream, dumps).

Only fields readers see on the page are written; staff fields (review notes, authors, review dates
of rejected work, "review by" reminders) never are. Analyst Markdown is handed on as Markdown with
only the citations its reader may see (`citations.keep_citations`): the serializer context carries
`visible_evidence`, the ids of evidence the reader may see among those the texts cite, computed
once per response (`views.visible_citations`), so a citation costs no query per object.
"""

from __future__ import annotations

from rest_framework import serializers

import siteurl
from membership.gating import split

from ..citations import keep_citations, strip_citations
from ..models import EvidenceItem, Identifier, Institution, Relationship, Sector, TimelineEvent, Watchpoint
from ..profile_page import also_read_links

#: Institution fields that hold analyst Markdown (they may cite evidence with [^ev:ID]).
INSTITUTION_MARKDOWN = (
    "key_points",
    "body",
    "domain_summary",
    "public_role",
    "operating_surface",
    "what_it_does",
    "why_it_matters",
    "what_to_watch",
    "public_view",
    "caveats",
)


class Markdown(serializers.CharField):
    """Analyst Markdown with only the citations of evidence the reader may see."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("help_text", "Markdown. [^ev:ID] cites an evidence item you may read.")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return keep_citations(value, self.context.get("visible_evidence", frozenset()))


class PlainText(serializers.CharField):
    """Text with every citation marker removed (short texts shown without footnotes)."""

    def to_representation(self, value):
        return strip_citations(value)


class VisibleEvidence(serializers.IntegerField):
    """The id of the evidence behind a row, only when the reader may read that evidence; else null."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "The evidence behind it, when you may read it; null otherwise.")
        super().__init__(source="evidence_id", read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value):
        return value if value in self.context.get("visible_evidence", ()) else None


class TierSlug(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("help_text", "The members' tier this opens to; null: everyone.")
        super().__init__(slug_field="slug", **kwargs)


class AbsoluteUrl(serializers.URLField):
    """The object's page on the site's configured address (never the request's Host)."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, obj):
        return siteurl.absolute(obj.get_absolute_url())


class IdentifierSerializer(serializers.ModelSerializer):
    url = serializers.CharField(read_only=True, help_text="The record in its own dataset.")

    class Meta:
        model = Identifier
        fields = ["scheme", "value", "url"]


class InstitutionSerializer(serializers.ModelSerializer):
    """A profile as listed: what its card and "At a glance" show."""

    url = AbsoluteUrl(help_text="The profile page.")
    dek = PlainText(read_only=True)
    sectors = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    identifiers = IdentifierSerializer(many=True, read_only=True)
    updated_at = serializers.DateTimeField(
        source="public_updated_at", read_only=True, allow_null=True,
        help_text="When something readers see last changed.",
    )
    last_reviewed = serializers.DateTimeField(
        source="last_verified_at", read_only=True, allow_null=True,
        help_text="When an analyst last confirmed the profile holds; null: not yet.",
    )

    class Meta:
        model = Institution
        fields = [
            "id",
            "slug",
            "name",
            "url",
            "type",
            "base_region",
            "profile_focus",
            "criticality",
            "time_horizon",
            "dek",
            "sectors",
            "identifiers",
            "published_at",
            "updated_at",
            "last_reviewed",
        ]


class FAQSerializer(serializers.Serializer):
    question = serializers.CharField(read_only=True)
    answer = Markdown()


class RelatedLinkSerializer(serializers.Serializer):
    title = serializers.CharField(read_only=True)
    url = serializers.CharField(read_only=True)
    external = serializers.BooleanField(read_only=True, help_text="False: another profile on this site.")


class BriefingSerializer(serializers.Serializer):
    """A member briefing: whole when the reader's tier opens it, else a locked block (title and tier)."""

    id = serializers.IntegerField(source="pk", read_only=True)
    title = serializers.CharField(read_only=True)
    tier = serializers.SerializerMethodField()
    locked = serializers.SerializerMethodField()
    body = serializers.SerializerMethodField(help_text="Markdown; null when locked.")
    source_notes = serializers.SerializerMethodField(help_text="Markdown; null when locked.")

    def get_tier(self, block) -> str | None:
        tier = block.tier if getattr(block, "locked", False) else block.required_tier
        return tier.slug if tier else None

    def get_locked(self, block) -> bool:
        return bool(getattr(block, "locked", False))

    def _text(self, block, name) -> str | None:
        if getattr(block, "locked", False):
            return None
        return keep_citations(getattr(block, name), self.context.get("visible_evidence", frozenset()))

    def get_body(self, block) -> str | None:
        return self._text(block, "body")

    def get_source_notes(self, block) -> str | None:
        return self._text(block, "source_notes")


class InstitutionDetailSerializer(InstitutionSerializer):
    """A whole profile: its sections, FAQ, "Also read" links and member briefings (locked ones as
    title and tier). Its evidence, relationships, watchpoints and timeline are resources of their own."""

    headline = serializers.CharField(read_only=True)
    faqs = FAQSerializer(many=True, read_only=True)
    related_links = serializers.SerializerMethodField()
    briefings = serializers.SerializerMethodField()

    class Meta(InstitutionSerializer.Meta):
        fields = [*InstitutionSerializer.Meta.fields, "headline", *INSTITUTION_MARKDOWN, "faqs", "related_links",
                  "briefings"]

    def build_field(self, field_name, info, model_class, nested_depth):
        if field_name in INSTITUTION_MARKDOWN:
            return Markdown, {}
        return super().build_field(field_name, info, model_class, nested_depth)

    def get_related_links(self, institution) -> list[dict]:
        links = also_read_links(self.context["reader"], institution.related_links.all())
        return RelatedLinkSerializer(links, many=True, context=self.context).data

    def get_briefings(self, institution) -> list[dict]:
        blocks = split(self.context["reader"], institution.briefings.all())
        return BriefingSerializer(blocks, many=True, context=self.context).data


class SourceStateField(serializers.ChoiceField):
    """The source's state, null until its first check."""

    def __init__(self, **kwargs):
        choices = [value for value in EvidenceItem.Source.values if value]
        super().__init__(choices=choices, read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value):
        return value or None


class EvidenceSerializer(serializers.ModelSerializer):
    institution = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tier = TierSlug(source="required_tier")
    approved_at = serializers.DateTimeField(source="reviewed_at", read_only=True, allow_null=True)
    source_state = SourceStateField(
        help_text="What the last check of the source found against the text it was verified by: ok, moved (same "
        "text, another address), changed (the text differs), gone (no longer available). Null until checked."
    )
    source_verified_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When the source was fetched and found to say what is cited."
    )
    snapshot_url = serializers.CharField(
        read_only=True, help_text="The archive service's copy of the source, made after approval (empty if none)."
    )

    class Meta:
        model = EvidenceItem
        fields = [
            "id",
            "institution",
            "title",
            "publisher",
            "url",
            "source_date",
            "retrieved_at",
            "claim",
            "quote",
            "archive_url",
            "snapshot_url",
            "source_state",
            "source_verified_at",
            "kind",
            "tier",
            "approved_at",
        ]


class RelationshipSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    target = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    evidence = VisibleEvidence()
    approved_at = serializers.DateTimeField(source="reviewed_at", read_only=True, allow_null=True)

    class Meta:
        model = Relationship
        fields = ["id", "source", "target", "kind", "description", "since", "evidence", "approved_at"]


class WatchpointSerializer(serializers.ModelSerializer):
    institution = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    tier = TierSlug(source="required_tier")
    status_note = serializers.SerializerMethodField(help_text="What happened, once triggered.")
    evidence = VisibleEvidence(help_text="The source of the trigger, when you may read it; null otherwise.")

    class Meta:
        model = Watchpoint
        fields = ["id", "institution", "kind", "text", "status", "triggered_at", "status_note", "evidence", "tier"]

    def get_status_note(self, watchpoint) -> str:
        return watchpoint.status_note if watchpoint.status == Watchpoint.Status.TRIGGERED else ""


class TimelineSerializer(serializers.ModelSerializer):
    institution = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    text = Markdown()
    evidence = VisibleEvidence(help_text="The source of the event, when you may read it; null otherwise.")

    class Meta:
        model = TimelineEvent
        fields = ["id", "institution", "date", "kind", "title", "text", "evidence"]


class SectorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sector
        fields = ["slug", "name"]


class TierSerializer(serializers.Serializer):
    slug = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    level = serializers.IntegerField(read_only=True)
    description = serializers.CharField(read_only=True)
    self_service = serializers.BooleanField(read_only=True, help_text="Open by signing up (no application).")
