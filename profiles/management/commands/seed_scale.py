"""Synthetic data at scale for benchmarks: N published profiles, 10 evidence items and 4
relationships each by default (LittleSis-sized at 400,000: 4,000,000 evidence items and 1,600,000
relationships).

Rows go in raw (`profiles/bulk/rows.py`: COPY on PostgreSQL) in one transaction per batch, so a
failure leaves no half batch; 400,000 profiles load in under 30 minutes on a 2-core machine
(README, "Benchmarks").
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
from profiles import sector_sets, tallies
from profiles.bulk.rows import allocate_ids, write_rows
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
        parser.add_argument(
            "--relationships", type=int, default=4, help="Relationships from each profile to earlier ones (default 4)."
        )
        parser.add_argument("--batch", type=int, default=2000, help="Profiles per transaction (default 2000).")
        parser.add_argument("--prefix", default="scale", help="Slug prefix of the synthetic profiles.")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, **opts):
        total, per, batch, prefix = opts["institutions"], opts["evidence"], opts["batch"], opts["prefix"]
        if not 1 <= total <= 1_000_000:
            raise CommandError("--institutions must be between 1 and 1,000,000.")
        if not 0 <= per <= 100 or not 0 <= opts["relationships"] <= 50 or batch < 1:
            raise CommandError("--evidence must be 0–100, --relationships 0–50 and --batch at least 1.")
        rng = random.Random(opts["seed"])
        sectors = [Sector.objects.get_or_create(slug=slug, defaults={"name": name})[0] for name, slug in SECTORS]
        member_tier = Tier.objects.get(slug=Tier.STRATEGIC_CIRCLE_SLUG)
        existing = Institution.objects.filter(slug__startswith=f"{prefix}-").count()
        if existing >= total:
            self.stdout.write(f"{existing} '{prefix}-' profiles exist already; nothing to do.")
            return
        started = time.monotonic()
        earlier_ids: list[int] = list(
            Institution.objects.filter(slug__startswith=f"{prefix}-").order_by("pk").values_list("pk", flat=True)
        )
        for offset in range(existing, total, batch):
            count = min(batch, total - offset)
            with transaction.atomic():
                self._batch(rng, prefix, offset, count, opts, sectors, member_tier, earlier_ids)
            done = offset + count
            rate = (done - existing) / max(time.monotonic() - started, 1e-6)
            self.stdout.write(f"{done:>9,} / {total:,} profiles  ({rate:,.0f}/s)")
        rows = tallies.rebuild()  # raw rows sent no signals: the directory's counts are made in one pass
        self.stdout.write(f"{rows:,} listing tally rows.")
        bump_content_version()
        self._refresh_statistics()
        self.stdout.write(self.style.SUCCESS(f"Done in {time.monotonic() - started:.1f}s."))

    def _refresh_statistics(self):
        """After a bulk load PostgreSQL's planner statistics and visibility maps are stale until
        autovacuum gets round to them, and plans chosen meanwhile can be many times slower (the
        directory measured 300 ms instead of 13 ms on a fresh 100k load). Refresh them now.

        Each profile row was also written twice (raw, then with the search vector the database
        computes once its evidence is in), and a plain VACUUM frees the dead half without giving
        it back: at 100,013 profiles the table stayed 352 MB where its rows need 195, and a broad
        search reads one table page per match. So that table is rewritten compactly first
        (VACUUM FULL: 10 s at 100,013 profiles, the table locked meanwhile)."""
        if connection.vendor != "postgresql":
            return
        profile_models = apps.get_app_config("profiles").get_models(include_auto_created=True)
        tables = sorted({m._meta.db_table for m in profile_models})
        # VACUUM (which also sets the visibility maps index-only scans use) cannot run inside a
        # transaction; ANALYZE alone can, for a caller that holds one.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        started = time.monotonic()
        with connection.cursor() as cursor:
            if not connection.in_atomic_block:
                cursor.execute(f"VACUUM FULL {connection.ops.quote_name(Institution._meta.db_table)}")
            for table in tables:
                cursor.execute(f"{command} {connection.ops.quote_name(table)}")
        self.stdout.write(f"{command} of {len(tables)} tables in {time.monotonic() - started:.1f}s.")

    def _batch(self, rng, prefix, offset, count, opts, sectors, member_tier, earlier_ids):
        """One transaction's profiles and everything hanging off them, as raw rows (bulk/rows.py).

        Relationships point at earlier profiles: most at recent ones, one in four at a profile drawn
        with a bias to the oldest, so early profiles become hubs with hundreds of inbound links, as
        the big operators are in a real graph.
        """
        now = timezone.now()
        today = now.date()
        regions, types = Institution.Region.values, Institution.Type.values
        criticalities, horizons = Institution.Criticality.values, Institution.Horizon.values
        ids = allocate_ids(Institution, count)
        # One sector each: the relation's rows and the profile's own list of them (profiles.sector_sets).
        in_sector = [rng.choice(sectors).pk for _ in ids]
        profiles = []
        for pk, i, sector in zip(ids, range(offset, offset + count), in_sector, strict=True):
            name = f"{_phrase(rng, 2).title()} {i}"
            published = now - datetime.timedelta(minutes=rng.randint(60, 60 * 24 * 700))
            profiles.append((
                pk, name, slugify(f"{prefix}-{i}-{name}")[:200], rng.choice(types), rng.choice(regions),
                f"{name} runs {_phrase(rng, 6)} that other networks depend on.",
                f"{_phrase(rng, 8)}\n{_phrase(rng, 8)}", _phrase(rng, 10),
                " ".join(_phrase(rng, 12) + "." for _ in range(6)),
                _phrase(rng, 14), _phrase(rng, 14), _phrase(rng, 10), _phrase(rng, 6),
                rng.choice(criticalities), rng.choice(horizons), _phrase(rng, 10),
                Institution.Status.PUBLISHED, published,
                published + datetime.timedelta(minutes=rng.randint(0, 60 * 24 * 30)), sector_sets.as_set([sector]),
            ))
        write_rows(Institution, INSTITUTION_COLUMNS, profiles)
        write_rows(Institution.sectors.through, ("institution_id", "sector_id"), zip(ids, in_sector, strict=True))
        per, links = opts["evidence"], opts["relationships"]
        member = member_tier.pk
        approved, submitted = ReviewState.APPROVED, ReviewState.SUBMITTED
        evidence_kinds, watch_kinds, relationship_kinds = (
            EvidenceItem.Kind.values, Watchpoint.Kind.values, Relationship.Kind.values)

        def evidence():
            for pk, row in zip(ids, profiles, strict=True):
                slug = row[2]
                for j in range(per):
                    # Submitted some time ago; approved ones reviewed a day later (the feeds list those).
                    submitted_at = now - datetime.timedelta(minutes=rng.randint(60, 60 * 24 * 900))
                    pending = j % 10 == 9
                    yield (
                        pk, f"https://news.example.org/{slug}/{j}", rng.choice(PUBLISHERS),
                        _phrase(rng, 7).capitalize(), today - datetime.timedelta(days=rng.randint(1, 900)),
                        today, _phrase(rng, 16), rng.choice(evidence_kinds),
                        member if j % 7 == 6 else None, submitted if pending else approved,
                        submitted_at, None if pending else submitted_at + datetime.timedelta(days=1),
                    )

        def watchpoints():
            for pk in ids:
                for j in range(3):
                    yield pk, rng.choice(watch_kinds), _phrase(rng, 10), j, member if j == 2 else None

        def timeline():
            for pk in ids:
                for _ in range(3):
                    yield pk, today - datetime.timedelta(days=rng.randint(1, 900)), _phrase(rng, 6).capitalize()

        def relationships():
            for pk in ids:
                recent = earlier_ids[-50:]
                targets = set(rng.sample(recent, min(links - links // 4, len(recent))))
                for _ in range(links // 4):
                    if earlier_ids:
                        targets.add(earlier_ids[int(len(earlier_ids) * rng.random() ** 2)])
                for target in targets:
                    yield pk, target, rng.choice(relationship_kinds), approved, now, now
                earlier_ids.append(pk)

        write_rows(EvidenceItem, EVIDENCE_COLUMNS, evidence())
        write_rows(Watchpoint, ("institution_id", "kind", "text", "order", "required_tier_id"), watchpoints())
        write_rows(TimelineEvent, ("institution_id", "date", "title"), timeline())
        write_rows(Relationship, RELATIONSHIP_COLUMNS, relationships())
        # Rows written raw send no signals: one change-log row per new profile carries all of it.
        record_institutions(ids)
        refresh_search_index(ids)


INSTITUTION_COLUMNS = (
    "id", "name", "slug", "type", "base_region", "dek", "key_points", "headline", "body", "what_it_does",
    "why_it_matters", "public_role", "operating_surface", "criticality", "time_horizon", "what_to_watch",
    "status", "published_at", "public_updated_at", "sector_ids",
)
RELATIONSHIP_COLUMNS = ("source_id", "target_id", "kind", "review_state", "submitted_at", "reviewed_at")
EVIDENCE_COLUMNS = (
    "institution_id", "url", "publisher", "title", "source_date", "retrieved_at", "claim", "kind",
    "required_tier_id", "review_state", "submitted_at", "reviewed_at",
)
