"""The profile's change form costs the same number of queries whatever the number of inline rows:
no query per row for a tier select, an autocomplete's selected label or a row's title."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import assign_perm

from membership.models import Tier

from .factories import (
    BriefingFactory,
    EvidenceItemFactory,
    FAQItemFactory,
    InstitutionFactory,
    RelatedLinkFactory,
    RelationshipFactory,
    TimelineEventFactory,
    WatchpointFactory,
    tier,
)

pytestmark = pytest.mark.django_db


def profile_with(rows: int):
    profile = InstitutionFactory()
    circle = tier(Tier.STRATEGIC_CIRCLE_SLUG)
    for n in range(rows):
        evidence = EvidenceItemFactory(institution=profile, required_tier=circle if n % 2 else None)
        RelationshipFactory(source=profile, evidence=evidence)
        TimelineEventFactory(institution=profile, evidence=evidence, date=datetime.date(2025, 1, 1 + n % 28))
        WatchpointFactory(institution=profile, required_tier=circle, order=n)
        FAQItemFactory(institution=profile, order=n)
        RelatedLinkFactory(institution=profile, target=InstitutionFactory(), url="", order=n)
    BriefingFactory(institution=profile)
    return profile


def change_form_queries(client, profile) -> int:
    url = reverse("admin:profiles_institution_change", args=[profile.pk])
    client.get(url)  # the session and per-process caches warm up
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", ["superuser", "assigned analyst"])
def test_change_form_queries_do_not_grow_with_inline_rows(client, superuser, analyst, role):
    small, large = profile_with(1), profile_with(25)
    user = superuser if role == "superuser" else analyst
    if user is analyst:
        assign_perm("profiles.change_institution", analyst, small)
        assign_perm("profiles.change_institution", analyst, large)
    client.force_login(user)
    assert change_form_queries(client, large) == change_form_queries(client, small)
