"""Migration 0016: rows whose optional gate names the Public tier are stored with no tier, which
readers read the same, so approved evidence is not sent back to review by the change."""

import importlib

import pytest
from django.apps import apps

from membership.models import Tier
from profiles.models import EvidenceItem, Watchpoint

from .factories import EvidenceItemFactory, WatchpointFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module("profiles.migrations.0016_public_tier_means_no_tier")


def test_rows_gated_at_public_are_stored_with_no_tier_and_keep_their_review_state():
    public = Tier.objects.get(level=Tier.PUBLIC_LEVEL)
    circle = Tier.objects.get(slug=Tier.STRATEGIC_CIRCLE_SLUG)
    evidence = EvidenceItemFactory(review_state=EvidenceItem.Review.APPROVED)
    EvidenceItem.objects.filter(pk=evidence.pk).update(required_tier=public)
    members_only = WatchpointFactory(required_tier=circle)
    open_watchpoint = WatchpointFactory()
    Watchpoint.objects.filter(pk=open_watchpoint.pk).update(required_tier=public)

    migration.public_tier_means_no_tier(apps, schema_editor=None)

    evidence.refresh_from_db()
    assert evidence.required_tier is None and evidence.review_state == EvidenceItem.Review.APPROVED
    assert Watchpoint.objects.get(pk=open_watchpoint.pk).required_tier is None
    assert Watchpoint.objects.get(pk=members_only.pk).required_tier == circle
