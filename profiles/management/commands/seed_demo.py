"""`manage.py seed_demo`: demo users and about a dozen realistic profiles, idempotently.

Everything is keyed on natural keys (slugs, e-mail addresses, URLs, orders) and a row is saved
only when its data differ, so a second run creates, changes and records nothing. The whole run
is one transaction: a failure leaves nothing half-written. Tiers and groups come from
migrations; this command checks that they exist and never creates them.
"""

from __future__ import annotations

import datetime

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.utils import timezone

from membership.models import Membership, Tier
from profiles import demo_data, freshness, grants, services
from profiles.change_log import record_institution
from profiles.models import (
    Briefing,
    Correction,
    EvidenceItem,
    FAQItem,
    Identifier,
    Institution,
    RelatedLink,
    Relationship,
    ReviewRecord,
    ReviewState,
    Sector,
    TimelineEvent,
    Watchpoint,
)
from profiles.search import refresh_search_index

INSTITUTION_FIELDS = [
    "name", "type", "base_region", "profile_focus", "dek", "key_points", "headline", "body", "domain_summary",
    "public_role", "operating_surface", "what_it_does", "why_it_matters", "criticality", "time_horizon",
    "what_to_watch", "public_view", "caveats",
]
GROUPS = ["Analysts", "Lead analysts", "Moderators"]


class Command(BaseCommand):
    help = "Load demo users and realistic profiles (idempotent: a second run changes nothing)."

    def handle(self, *args, **options):
        self._check_prerequisites()
        seeder = Seeder()
        with transaction.atomic():
            seeder.run()
        if seeder.new_users:
            self._print_credentials()
        counts = seeder.counts
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready: {counts['created']} rows created, {counts['updated']} updated, "
                f"{counts['unchanged']} unchanged."
            )
        )

    def _check_prerequisites(self):
        missing_groups = set(GROUPS) - set(Group.objects.filter(name__in=GROUPS).values_list("name", flat=True))
        slugs = {Tier.STRATEGIC_CIRCLE_SLUG, Tier.LEADERSHIP_ALLIANCE_SLUG, "public"}
        missing_tiers = slugs - set(Tier.objects.filter(slug__in=slugs).values_list("slug", flat=True))
        if missing_groups or missing_tiers:
            raise CommandError(
                f"Missing groups {sorted(missing_groups)} / tiers {sorted(missing_tiers)}: "
                "they come from migrations, so run `manage.py migrate` first."
            )

    def _print_credentials(self):
        width = max(len(u["email"]) for u in demo_data.USERS)
        lines = [
            "",
            "Demo accounts (DEMO ONLY — every account shares this password; never use it in production):",
            f"  password: {demo_data.DEMO_PASSWORD}",
            "",
            f"  {'e-mail':<{width}}  role",
            f"  {'-' * width}  {'-' * 26}",
            *(f"  {u['email']:<{width}}  {u['role']}" for u in demo_data.USERS),
            "",
        ]
        self.stdout.write("\n".join(lines))


class Seeder:
    """Applies `profiles.demo_data`; every write goes through `_upsert` or a service."""

    def __init__(self):
        self.counts = {"created": 0, "updated": 0, "unchanged": 0}
        self.new_users: list = []
        self.users: dict = {}
        self.tiers = {t.slug: t for t in Tier.objects.all()}
        self.institutions: dict[str, Institution] = {}
        self.touched: set[int] = set()
        self.now = timezone.now()

    def run(self):
        self.seed_users()
        sectors = {slug: self._upsert(Sector, {"slug": slug}, {"name": name}) for name, slug in demo_data.SECTORS}
        for spec in demo_data.PROFILES:
            self.seed_profile(spec, sectors)
        for spec in demo_data.PROFILES:
            self.seed_related_links(spec)
        for spec in demo_data.RELATIONSHIPS:
            self.seed_relationship(spec)
        analyst, lead = self.users[demo_data.ANALYST], self.users[demo_data.LEAD]
        for slug in demo_data.ANALYST_ASSIGNMENTS:  # the lead assigns them, as a person would; logged
            institution = self.institutions[slug]
            held = grants.current_permissions(institution, user=analyst)
            if "change_institution" not in held:
                grants.set_object_permissions(
                    actor=lead, obj=institution, perms={*held, "change_institution"}, user=analyst
                )
        for spec in demo_data.PROFILES:  # confirmed by their assigned analyst, at a fixed time
            institution = self.institutions[spec["slug"]]
            if spec.get("last_verified_at") and institution.last_verified_at != spec["last_verified_at"]:
                freshness.confirm_sections(institution=institution, user=analyst, at=spec["last_verified_at"])
                self.counts["updated"] += 1
        refresh_search_index(sorted(self.touched))

    # --- helpers --------------------------------------------------------------------------------

    def _upsert(self, model, lookup: dict, values: dict, *, on_create: dict | None = None):
        """Create, or update only the fields that differ, or leave alone; always `full_clean()` first.

        `on_create` values (a password, say) are set only when the row is new.
        """
        obj = model._default_manager.filter(**lookup).first()
        if obj is None:
            obj = model(**lookup, **values, **(on_create or {}))
            obj.full_clean()
            obj.save()
            self.counts["created"] += 1
            obj._seed_created = True
            return obj
        changed = [name for name, value in values.items() if not _same(obj, name, value)]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            obj.full_clean()
            obj.save()
            self.counts["updated"] += 1
        else:
            self.counts["unchanged"] += 1
        obj._seed_created = False
        return obj

    def _tier(self, slug):
        return self.tiers[slug] if slug else None

    # --- users ----------------------------------------------------------------------------------

    def seed_users(self):
        User = get_user_model()
        for spec in demo_data.USERS:
            username = spec["email"].split("@")[0]
            user = self._upsert(
                User,
                {"username": username},
                {
                    "email": spec["email"],
                    "first_name": spec["first_name"],
                    "last_name": spec["last_name"],
                    "is_staff": spec.get("is_staff", False),
                    "is_superuser": spec.get("is_superuser", False),
                    "is_active": True,
                },
                on_create={"password": make_password(demo_data.DEMO_PASSWORD)},
            )
            if user._seed_created:
                self.new_users.append(user)
            wanted = set(Group.objects.filter(name__in=spec.get("groups", [])))
            if wanted - set(user.groups.all()):
                user.groups.add(*wanted)
            self._upsert(EmailAddress, {"user": user, "email": spec["email"]}, {"verified": True, "primary": True})
            for tier_slug in spec.get("memberships", []):
                self._upsert(Membership, {"user": user, "tier": self.tiers[tier_slug]}, {
                    "status": Membership.Status.ACTIVE,
                    "started_at": demo_data.MEMBERSHIP_START,
                    "ends_at": None,
                })
            self.users[spec["email"]] = user

    # --- profiles -------------------------------------------------------------------------------

    def seed_profile(self, spec, sectors):
        """The profile's text first (a new one as a draft), then its evidence and sections, then its
        publication through the service, so the publication guard judges it as it would an analyst's."""
        author = self.users[spec.get("author", demo_data.LEAD)]
        values = {name: spec.get(name, _field_default(name)) for name in INSTITUTION_FIELDS}
        existing = Institution.objects.filter(slug=spec["slug"]).first()
        status, published_at = self._publication(spec, existing)

        if existing is None:
            institution = Institution(slug=spec["slug"], **values, status=Institution.Status.DRAFT)
            institution._history_user = author
            services.save_institution(institution=institution, user=author, at=self.now)
            self.touched.add(institution.pk)
            outcome = "created"
        else:
            institution = existing
            changed = [name for name, value in values.items() if getattr(institution, name) != value]
            for name in changed:
                setattr(institution, name, values[name])
            if changed:
                self._save(institution, author)
            outcome = "updated" if changed else "unchanged"
        self.institutions[spec["slug"]] = institution
        self.seed_sections(spec, institution, sectors)

        if (institution.status, institution.published_at) != (status, published_at):
            institution.status, institution.published_at = status, published_at
            self._save(institution, author)  # publishing: the guard sees the evidence seeded above
            outcome = "created" if outcome == "created" else "updated"
        self.counts[outcome] += 1

        public_date = spec.get("public_updated_at") or (published_at if status == "published" else None)
        if public_date and institution.public_updated_at != public_date:
            Institution.objects.filter(pk=institution.pk).update(public_updated_at=public_date)
            institution.public_updated_at = public_date
            record_institution(institution.pk)

    def _save(self, institution, author):
        institution._history_user = author
        services.save_institution(institution=institution, user=author, form_version=institution.version, at=self.now)
        self.touched.add(institution.pk)

    def seed_sections(self, spec, institution, sectors):
        """Sectors, evidence and every section of the profile page."""
        wanted_sectors = {sectors[slug].pk for slug in spec.get("sectors", [])}
        if set(institution.sectors.values_list("pk", flat=True)) != wanted_sectors:
            institution.sectors.set(wanted_sectors)
            self.touched.add(institution.pk)

        evidence = {item["url"]: self.seed_evidence(institution, item) for item in spec.get("evidence", [])}
        for order, item in enumerate(spec.get("watchpoints", []), start=1):
            self._upsert(Watchpoint, {"institution": institution, "order": order}, {
                "kind": item["kind"], "text": item["text"], "required_tier": self._tier(item.get("tier")),
                "status": Watchpoint.Status.WATCHING, "review_by": item.get("review_by"),
            })
        for item in spec.get("timeline", []):
            self._upsert(TimelineEvent, {"institution": institution, "date": item["date"], "title": item["title"]}, {
                "text": item.get("text", ""), "kind": TimelineEvent.Kind.EVENT,
                "evidence": evidence.get(item.get("evidence")),
            })
        for order, item in enumerate(spec.get("faqs", []), start=1):
            self._upsert(FAQItem, {"institution": institution, "order": order},
                         {"question": item["question"], "answer": item["answer"]})
        for scheme, value in spec.get("identifiers", []):
            self._upsert(Identifier, {"institution": institution, "scheme": scheme, "value": value}, {})
        for item in spec.get("corrections", []):
            self._upsert(Correction, {"institution": institution, "note": item["note"]},
                         {"published_at": _noon(item["date"])})
        for order, item in enumerate(spec.get("briefings", []), start=1):
            self._upsert(Briefing, {"institution": institution, "required_tier": self.tiers[item["tier"]]}, {
                "title": item["title"], "body": item["body"], "source_notes": item["source_notes"], "order": order,
            })

    def _publication(self, spec, existing):
        """Fixed times for published profiles; a scheduled one keeps the time its first run gave it."""
        if spec["status"] == "draft":
            return Institution.Status.DRAFT, None
        if spec["status"] == "scheduled":
            if existing is not None and existing.published_at is not None:
                return Institution.Status.PUBLISHED, existing.published_at
            when = (self.now + datetime.timedelta(days=spec["schedule_in_days"])).replace(second=0, microsecond=0)
            return Institution.Status.PUBLISHED, when
        return Institution.Status.PUBLISHED, spec["published_at"]

    def seed_evidence(self, institution, item):
        approved = item["review"] == "approved"
        reviewed_at = _noon(item["retrieved_at"]) if approved else None
        evidence = self._upsert(EvidenceItem, {"institution": institution, "url": item["url"]}, {
            "publisher": item["publisher"],
            "title": item["title"],
            "source_date": item.get("source_date"),
            "retrieved_at": item["retrieved_at"],
            "claim": item["claim"],
            "quote": item.get("quote", ""),
            "archive_url": item.get("archive_url", ""),
            "kind": item["kind"],
            "required_tier": self._tier(item.get("tier")),
            "review_state": ReviewState.APPROVED if approved else ReviewState.SUBMITTED,
            "submitted_by": self.users[demo_data.ANALYST],
            "reviewed_by": self.users[demo_data.MODERATOR] if approved else None,
            "reviewed_at": reviewed_at,
        })
        if evidence._seed_created:
            self._record_review(evidence, institution, approved, reviewed_at)
            self.touched.add(institution.pk)
        return evidence

    def _record_review(self, item, institution, approved, reviewed_at):
        """The append-only audit trail a real submission and approval would have left."""
        submitted_at = reviewed_at - datetime.timedelta(hours=3) if reviewed_at else self.now
        ReviewRecord.objects.create(item=item, institution=institution, from_state="",
                                    to_state=ReviewState.SUBMITTED, actor=self.users[demo_data.ANALYST],
                                    created_at=submitted_at)
        if approved:
            ReviewRecord.objects.create(item=item, institution=institution, from_state=ReviewState.SUBMITTED,
                                        to_state=ReviewState.APPROVED, actor=self.users[demo_data.MODERATOR],
                                        note="Checked against the source.", created_at=reviewed_at)

    def seed_related_links(self, spec):
        institution = self.institutions[spec["slug"]]
        for order, item in enumerate(spec.get("related_links", []), start=1):
            target = self.institutions[item["target"]] if item.get("target") else None
            self._upsert(RelatedLink, {"institution": institution, "order": order},
                         {"title": item.get("title", ""), "target": target, "url": item.get("url", "")})

    def seed_relationship(self, spec):
        source, target = self.institutions[spec["source"]], self.institutions[spec["target"]]
        approved = spec["review"] == "approved"
        since = spec.get("since")
        reviewed_at = _noon(since or datetime.date(2025, 9, 1)) if approved else None
        evidence = (
            EvidenceItem.objects.get(institution=source, url=spec["evidence"]) if spec.get("evidence") else None
        )
        relationship = self._upsert(Relationship, {"source": source, "target": target, "kind": spec["kind"]}, {
            "description": spec.get("description", ""),
            "since": since,
            "evidence": evidence,
            "review_state": ReviewState.APPROVED if approved else ReviewState.SUBMITTED,
            "submitted_by": self.users[demo_data.ANALYST],
            "reviewed_by": self.users[demo_data.MODERATOR] if approved else None,
            "reviewed_at": reviewed_at,
        })
        if relationship._seed_created:
            self._record_review(relationship, source, approved, reviewed_at)


def _same(obj, name, value) -> bool:
    field = obj._meta.get_field(name)
    if isinstance(field, models.ForeignKey):
        return getattr(obj, field.attname) == (value.pk if value is not None else None)
    return getattr(obj, name) == value


def _field_default(name):
    field = Institution._meta.get_field(name)
    return field.get_default()


def _noon(date: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(date, datetime.time(12, 0), tzinfo=datetime.UTC)
