"""`seed_scale` builds synthetic published profiles in bulk, and refuses bad arguments."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from profiles.models import EvidenceItem, Institution, Relationship

pytestmark = pytest.mark.django_db


def test_seed_scale_creates_profiles_with_evidence():
    call_command("seed_scale", institutions=30, batch=7, stdout=StringIO())
    assert Institution.objects.published().count() == 30
    assert EvidenceItem.objects.count() == 300
    assert EvidenceItem.objects.approved().count() == 270
    assert Relationship.objects.exists()


def test_seed_scale_is_idempotent_per_prefix():
    call_command("seed_scale", institutions=5, stdout=StringIO())
    call_command("seed_scale", institutions=5, stdout=StringIO())
    assert Institution.objects.count() == 5


def test_seed_scale_tops_up_to_the_requested_count():
    call_command("seed_scale", institutions=5, stdout=StringIO())
    call_command("seed_scale", institutions=8, stdout=StringIO())
    assert Institution.objects.count() == 8


@pytest.mark.parametrize("count", [0, -3])
def test_seed_scale_rejects_nonsense_counts(count):
    with pytest.raises(CommandError, match="between"):
        call_command("seed_scale", institutions=count)


def test_seed_scale_refreshes_planner_statistics_on_postgresql():
    """A fresh bulk load must not be read with stale statistics (the directory ran 20× slower)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's; SQLite has nothing to refresh")
    out = StringIO()
    call_command("seed_scale", institutions=5, stdout=out)
    assert "ANALYZE of" in out.getvalue() and "profiles_institution" not in out.getvalue()
    with connection.cursor() as cursor:  # the planner now knows the table is not empty
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'profiles_institution'")
        assert cursor.fetchone()[0] >= 5
