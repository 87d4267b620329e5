"""Admin changelists stay fast at scale: no second COUNT, estimates only for huge unfiltered tables."""

from unittest import mock

import pytest

from profiles import paginators
from profiles.models import EvidenceItem

from .factories import EvidenceItemFactory

pytestmark = pytest.mark.django_db


def test_filtered_lists_count_exactly_even_when_the_table_is_huge():
    EvidenceItemFactory.create_batch(3)
    with mock.patch.object(paginators, "_estimated_rows", return_value=2_000_000):
        assert paginators.EstimatedCountPaginator(EvidenceItem.objects.filter(kind="news"), 50).count == 3


def test_whole_huge_table_uses_the_planner_estimate():
    EvidenceItemFactory.create_batch(3)
    with mock.patch.object(paginators, "_estimated_rows", return_value=2_000_000):
        assert paginators.EstimatedCountPaginator(EvidenceItem.objects.all(), 50).count == 2_000_000


def test_small_tables_count_exactly():
    EvidenceItemFactory.create_batch(3)
    assert paginators.EstimatedCountPaginator(EvidenceItem.objects.all(), 50).count == 3


def test_evidence_changelist_runs_one_count_at_most(client, superuser):
    EvidenceItemFactory.create_batch(3)
    client.force_login(superuser)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/admin/profiles/evidenceitem/").status_code == 200
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) <= 1
