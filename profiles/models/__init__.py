"""Institutions and everything shown on a profile page.

Reads are named queryset methods (`Institution.objects.published()`,
`EvidenceItem.objects.approved().visible_to(reader)`); the tier rules themselves live in
`membership.gating`, which these querysets build on.

Import from `profiles.models`; the modules of this package are where each model is written:

- `fields`: helpers shared by the models (`MARKDOWN_HELP`, `http_url_field`, `http_url_constraint`,
  `required_tier_field`).
- `institution`: `Sector`, `Institution` and its queryset, the publication rule
  (`published_condition`, `scheduled_condition`), Institution's guardian permission tables.
- `reviewed`: the review workflow's states and hooks (`ReviewState`, `Reviewed`, `ReviewedQuerySet`)
  and the reviewed content, `EvidenceItem` and `Relationship`.
- `sections`: a profile's ordered sections (`OrderedChild`): `Watchpoint`, `TimelineEvent`, `FAQItem`,
  `RelatedLink`, `Briefing` and Briefing's guardian permission tables.
- `moderation`: `ReviewRecord`, the append-only trail of decisions, and the queue's proxy models
  `EvidenceQueueItem` and `RelationshipQueueItem`.
- `watchlists`: `Follow`, `WatchSettings`, `DigestDelivery`.
- `identifiers`: `Identifier`, a profile's ids in other datasets (PeeringDB, ASN, Wikidata, LEI, website).
- `changes`: `Change`, the change log the data layer's change stream reads (what was written, never its text).
- `corrections`: `Correction`, an analyst's public note that an edit fixed an error readers saw.
- `tallies`: `ListingTally`, how many listed profiles share each combination of the directory's facets
  (derived data, kept by `profiles.tallies`).
- `sources`: `SourceCheck`, what an approved evidence item's source said when fetched (its capture on
  approval, later re-checks); `TrackedSource` and `SourceHost`, the re-checks' and the archive's
  bookkeeping; `SourceAlertItem`, the proxy of the sources-to-re-verify queue. Staff-only.

Each module imports only those above it in this list (`watchlists` and `identifiers` only `institution`;
`changes` none; `corrections` and `tallies` only `institution`; `sources` only `reviewed`). The `Historical…` models
are made by simple-history in the module of the model they record.
"""

# Django registers models in import order, and that order is the order of reverse relations
# (`Institution._meta.related_objects`: cascades, the admin's deletion summary). These imports keep
# the order the models had when they were one module, so they are not sorted.
# isort: off
from .fields import MARKDOWN_HELP, http_url_constraint, http_url_field, required_tier_field
from .institution import (
    HistoricalInstitution,
    Institution,
    InstitutionGroupObjectPermission,
    InstitutionQuerySet,
    InstitutionUserObjectPermission,
    ReverificationQueueItem,
    Sector,
    published_condition,
    scheduled_condition,
)
from .reviewed import (
    EvidenceItem,
    HistoricalEvidenceItem,
    HistoricalRelationship,
    Relationship,
    Reviewed,
    ReviewedQuerySet,
    ReviewState,
    SourceState,
)
from .sections import (
    Briefing,
    BriefingGroupObjectPermission,
    BriefingQuerySet,
    BriefingUserObjectPermission,
    FAQItem,
    HistoricalBriefing,
    HistoricalFAQItem,
    HistoricalRelatedLink,
    HistoricalTimelineEvent,
    HistoricalWatchpoint,
    OrderedChild,
    RelatedLink,
    TimelineEvent,
    Watchpoint,
    WatchpointQuerySet,
)
from .moderation import EvidenceQueueItem, RelationshipQueueItem, ReviewRecord, ReviewRecordQuerySet
from .watchlists import DigestDelivery, Follow, FollowQuerySet, WatchSettings
from .identifiers import HistoricalIdentifier, Identifier
from .changes import Change
from .corrections import Correction
from .tallies import ListingTally
from .sources import (
    ArchiveState,
    CheckKind,
    CheckOutcome,
    SourceAlertItem,
    SourceCheck,
    SourceCheckQuerySet,
    SourceHost,
    TrackedSource,
)
# isort: on

__all__ = [
    # fields
    "MARKDOWN_HELP",
    "http_url_constraint",
    "http_url_field",
    "required_tier_field",
    # institution
    "HistoricalInstitution",
    "Institution",
    "InstitutionGroupObjectPermission",
    "InstitutionQuerySet",
    "InstitutionUserObjectPermission",
    "ReverificationQueueItem",
    "Sector",
    "published_condition",
    "scheduled_condition",
    # reviewed
    "EvidenceItem",
    "HistoricalEvidenceItem",
    "HistoricalRelationship",
    "Relationship",
    "ReviewState",
    "SourceState",
    "Reviewed",
    "ReviewedQuerySet",
    # sections
    "Briefing",
    "BriefingGroupObjectPermission",
    "BriefingQuerySet",
    "BriefingUserObjectPermission",
    "FAQItem",
    "HistoricalBriefing",
    "HistoricalFAQItem",
    "HistoricalRelatedLink",
    "HistoricalTimelineEvent",
    "HistoricalWatchpoint",
    "OrderedChild",
    "RelatedLink",
    "TimelineEvent",
    "Watchpoint",
    "WatchpointQuerySet",
    # moderation
    "EvidenceQueueItem",
    "RelationshipQueueItem",
    "ReviewRecord",
    "ReviewRecordQuerySet",
    # watchlists
    "DigestDelivery",
    "Follow",
    "FollowQuerySet",
    "WatchSettings",
    # identifiers
    "HistoricalIdentifier",
    "Identifier",
    # changes
    "Change",
    # corrections
    "Correction",
    # tallies
    "ListingTally",
    # sources
    "CheckKind",
    "CheckOutcome",
    "SourceCheck",
    "SourceCheckQuerySet",
    "ArchiveState",
    "SourceAlertItem",
    "SourceHost",
    "TrackedSource",
]
