"""Synthetic data at scale for benchmarks: N published profiles, ~10 evidence items each.

Rows go in with bulk inserts in batches inside one transaction per batch, so 100,000
profiles (about a million evidence rows) load in minutes and a failure leaves no half batch.
"""

import datetime
import random
import time

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from membership.models import Tier
from profiles.cache import bump_content_version
from profiles.change_log import record_institutions
from profiles.demo_data import SECTORS
from profiles.models import (
    EvidenceItem,
    Institution,
    Relationship,
    ReviewState,
    Sector,
    TimelineEvent,
    Watchpoint,
)
from profiles.search import refresh_search_index

WORDS = [
    "fibre", "backbone", "exchange", "registry", "cloud", "subsea", "cable", "peering", "transit", "compute",
    "rack", "power", "cooling", "spectrum", "satellite", "edge", "resolver", "root", "anycast", "carrier",
    "colocation", "hyperscale", "interconnect", "sovereign", "policy", "standards", "routing", "security",
    "market", "capacity", "grid", "campus",
]
PUBLISHERS = ["Reuters", "Financial Times", "Light Reading", "DCD", "TeleGeography", "The Register", "Bloomberg"]


def _vocabulary(size: int = 4000, seed: int = 7):
    """A Zipf-distributed vocabulary, like real text: a few words everywhere, most words rare.

    Pseudo-words fill it; the domain words sit at ranks 150–3000, so a search for one of them
    matches a few percent of profiles (as "registry" would in a real catalogue), not all of them.
    """
    rng = random.Random(seed)
    syllables = ["ka", "ro", "ti", "ne", "lu", "sa", "vo", "mi", "de", "pa", "gu", "fe", "zo", "bi", "tha", "qu"]
    words, seen = [], set(WORDS)
    while len(words) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    step = (3000 - 150) // len(WORDS)
    for i, domain_word in enumerate(WORDS):
        words[150 + i * step] = domain_word
    cumulative, total = [], 0.0
    for rank in range(1, size + 1):
        total += 1 / rank
        cumulative.append(total)
    return words, cumulative


VOCABULARY, CUMULATIVE_WEIGHTS = _vocabulary()


def _phrase(rng, n):
    return " ".join(rng.choices(VOCABULARY, cum_weights=CUMULATIVE_WEIGHTS, k=n))


class Command(BaseCommand):
    help = "Bulk-create synthetic published profiles for benchmarks (idempotent per prefix)."

    def add_arguments(self, parser):
        parser.add_argument("--institutions", type=int, required=True, help="How many profiles to create.")
        parser.add_argument("--evidence", type=int, default=10, help="Evidence items per profile (default 10).")
        parser.add_argument("--batch", type=int, default=2000, help="Profiles per transaction (default 2000).")
        parser.add_argument("--prefix", default="scale", help="Slug prefix of the synthetic profiles.")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, **opts):
        total, per, batch, prefix = opts["institutions"], opts["evidence"], opts["batch"], opts["prefix"]
        if not 1 <= total <= 1_000_000:
            raise CommandError("--institutions must be between 1 and 1,000,000.")
        if not 0 <= per <= 100 or batch < 1:
            raise CommandError("--evidence must be 0–100 and --batch at least 1.")
        rng = random.Random(opts["seed"])
        sectors = [Sector.objects.get_or_create(slug=slug, defaults={"name": name})[0] for name, slug in SECTORS]
        member_tier = Tier.objects.get(slug=Tier.STRATEGIC_CIRCLE_SLUG)
        existing = Institution.objects.filter(slug__startswith=f"{prefix}-").count()
        if existing >= total:
            self.stdout.write(f"{existing} '{prefix}-' profiles exist already; nothing to do.")
            return
        started = time.monotonic()
        previous_ids: list[int] = list(
            Institution.objects.filter(slug__startswith=f"{prefix}-").order_by("-pk").values_list("pk", flat=True)[:50]
        )
        for offset in range(existing, total, batch):
            count = min(batch, total - offset)
            with transaction.atomic():
                previous_ids = self._batch(rng, prefix, offset, count, per, sectors, member_tier, previous_ids)
            done = offset + count
            rate = (done - existing) / max(time.monotonic() - started, 1e-6)
            self.stdout.write(f"{done:>9,} / {total:,} profiles  ({rate:,.0f}/s)")
        bump_content_version()
        self._refresh_statistics()
        self.stdout.write(self.style.SUCCESS(f"Done in {time.monotonic() - started:.1f}s."))

    def _refresh_statistics(self):
        """After a bulk load PostgreSQL's planner statistics and visibility maps are stale until
        autovacuum gets round to them, and plans chosen meanwhile can be many times slower (the
        directory measured 300 ms instead of 13 ms on a fresh 100k load). Refresh them now."""
        if connection.vendor != "postgresql":
            return
        profile_models = apps.get_app_config("profiles").get_models(include_auto_created=True)
        tables = sorted({m._meta.db_table for m in profile_models})
        # VACUUM (which also sets the visibility maps index-only scans use) cannot run inside a
        # transaction; ANALYZE alone can, for a caller that holds one.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        started = time.monotonic()
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"{command} {connection.ops.quote_name(table)}")
        self.stdout.write(f"{command} of {len(tables)} tables in {time.monotonic() - started:.1f}s.")

    def _batch(self, rng, prefix, offset, count, per, sectors, member_tier, previous_ids):
        now = timezone.now()
        regions = Institution.Region.values
        institutions = []
        for i in range(offset, offset + count):
            name = f"{_phrase(rng, 2).title()} {i}"
            published = now - datetime.timedelta(minutes=rng.randint(60, 60 * 24 * 700))
            institutions.append(
                Institution(
                    name=name,
                    slug=slugify(f"{prefix}-{i}-{name}")[:200],
                    type=rng.choice(Institution.Type.values),
                    base_region=rng.choice(regions),
                    dek=f"{name} runs {_phrase(rng, 6)} that other networks depend on.",
                    key_points=f"{_phrase(rng, 8)}\n{_phrase(rng, 8)}",
                    headline=_phrase(rng, 10),
                    body=" ".join(_phrase(rng, 12) + "." for _ in range(6)),
                    what_it_does=_phrase(rng, 14),
                    why_it_matters=_phrase(rng, 14),
                    public_role=_phrase(rng, 10),
                    operating_surface=_phrase(rng, 6),
                    criticality=rng.choice(Institution.Criticality.values),
                    time_horizon=rng.choice(Institution.Horizon.values),
                    what_to_watch=_phrase(rng, 10),
                    status=Institution.Status.PUBLISHED,
                    published_at=published,
                    public_updated_at=published + datetime.timedelta(minutes=rng.randint(0, 60 * 24 * 30)),
                )
            )
        Institution.objects.bulk_create(institutions, batch_size=1000)
        if not institutions[0].pk:  # backends without RETURNING: read the ids back
            by_slug = dict(
                Institution.objects.filter(slug__in=[i.slug for i in institutions]).values_list("slug", "pk")
            )
            for inst in institutions:
                inst.pk = by_slug[inst.slug]
        through = Institution.sectors.through
        through.objects.bulk_create(
            [through(institution_id=inst.pk, sector_id=rng.choice(sectors).pk) for inst in institutions],
            batch_size=5000,
        )
        evidence, watchpoints, timeline, relationships = [], [], [], []
        for inst in institutions:
            for j in range(per):
                evidence.append(
                    EvidenceItem(
                        institution_id=inst.pk,
                        url=f"https://news.example.org/{inst.slug}/{j}",
                        publisher=rng.choice(PUBLISHERS),
                        title=_phrase(rng, 7).capitalize(),
                        source_date=(now - datetime.timedelta(days=rng.randint(1, 900))).date(),
                        retrieved_at=now.date(),
                        claim=_phrase(rng, 16),
                        kind=rng.choice(EvidenceItem.Kind.values),
                        required_tier=member_tier if j % 7 == 6 else None,
                        review_state=ReviewState.SUBMITTED if j % 10 == 9 else ReviewState.APPROVED,
                    )
                )
            for j in range(3):
                watchpoints.append(
                    Watchpoint(
                        institution_id=inst.pk,
                        kind=rng.choice(Watchpoint.Kind.values),
                        text=_phrase(rng, 10),
                        order=j,
                        required_tier=member_tier if j == 2 else None,
                    )
                )
            for _ in range(3):
                timeline.append(
                    TimelineEvent(
                        institution_id=inst.pk,
                        date=(now - datetime.timedelta(days=rng.randint(1, 900))).date(),
                        title=_phrase(rng, 6).capitalize(),
                    )
                )
            for target in rng.sample(previous_ids, min(2, len(previous_ids))):
                relationships.append(
                    Relationship(
                        source_id=inst.pk,
                        target_id=target,
                        kind=rng.choice(Relationship.Kind.values),
                        review_state=ReviewState.APPROVED,
                    )
                )
            previous_ids = (previous_ids + [inst.pk])[-50:]
        EvidenceItem.objects.bulk_create(evidence, batch_size=5000)
        Watchpoint.objects.bulk_create(watchpoints, batch_size=5000)
        TimelineEvent.objects.bulk_create(timeline, batch_size=5000)
        Relationship.objects.bulk_create(relationships, batch_size=5000, ignore_conflicts=True)
        # bulk_create sends no signals: one change-log row per new profile carries all of it.
        record_institutions(inst.pk for inst in institutions)
        refresh_search_index([inst.pk for inst in institutions])
        return previous_ids
