"""`profiles.json_lists`: several querysets in one round trip give exactly what the ORM gives."""

import datetime

import pytest
from django.utils import timezone

from membership.models import Tier
from profiles.json_lists import Rows, fetch_lists
from profiles.models import EvidenceItem, Institution, RelatedLink, Sector

from .factories import (
    EvidenceItemFactory,
    InstitutionFactory,
    RelatedLinkFactory,
    SectorFactory,
    tier,
)

pytestmark = pytest.mark.django_db


def field_values(obj, fields=None):
    names = fields or [f.attname for f in obj._meta.concrete_fields]
    return {name: getattr(obj, name) for name in names}


@pytest.fixture
def profile():
    institution = InstitutionFactory()
    for n, (day, required) in enumerate([(3, None), (1, Tier.STRATEGIC_CIRCLE_SLUG), (None, None), (3, None)]):
        EvidenceItemFactory(
            institution=institution,
            title=f"Item {n} — “quoted” & <b>marked</b>",
            source_date=datetime.date(2025, 11, day) if day else None,
            required_tier=tier(required) if required else None,
        )
    EvidenceItemFactory(institution=institution, review_state=EvidenceItem.Review.REJECTED)
    return institution


def test_rows_match_the_orm_in_order_and_value(profile):
    queryset = EvidenceItem.objects.approved().filter(institution=profile)
    fetched = fetch_lists(sources=Rows(queryset))["sources"]
    expected = list(queryset)
    assert [o.pk for o in fetched] == [o.pk for o in expected]  # "-source_date", "pk", nulls as the DB sorts
    assert [field_values(o) for o in fetched] == [field_values(o) for o in expected]
    assert all(not o._state.adding for o in fetched)


def test_datetimes_come_back_aware_and_equal(profile):
    profile.published_at = timezone.now().replace(microsecond=123456)
    profile.save()
    fields = ("id", "name", "published_at", "status")
    (fetched,) = fetch_lists(one=Rows(Institution.objects.filter(pk=profile.pk), fields=fields))["one"]
    assert timezone.is_aware(fetched.published_at)
    assert fetched.published_at == Institution.objects.get(pk=profile.pk).published_at


def test_foreign_keys_are_attached_without_another_query(profile, django_assert_num_queries):
    queryset = EvidenceItem.objects.approved().filter(institution=profile)
    with django_assert_num_queries(1):
        fetched = fetch_lists(sources=Rows(queryset, related={"required_tier": ("slug", "level")}))["sources"]
        tiers = [item.required_tier for item in fetched]
    assert [t.slug if t else None for t in tiers] == [
        item.required_tier.slug if item.required_tier_id else None for item in queryset
    ]


def test_several_lists_one_query_empty_and_sliced(profile, django_assert_num_queries):
    other = InstitutionFactory()
    RelatedLinkFactory(institution=profile, url="", target=other, title="")
    SectorFactory(name="Subsea cables").institutions.add(profile)
    with django_assert_num_queries(1):
        lists = fetch_lists(
            links=Rows(RelatedLink.objects.filter(institution=profile), related={"target": ("name", "slug")}),
            sectors=Rows(Sector.objects.filter(institutions=profile)),
            nothing=Rows(Sector.objects.filter(institutions=other)),
            first_two=Rows(EvidenceItem.objects.approved().filter(institution=profile)[:2]),
        )
        assert [link.display_title for link in lists["links"]] == [other.name]
    assert [s.name for s in lists["sectors"]] == ["Subsea cables"]
    assert lists["nothing"] == []
    assert [o.pk for o in lists["first_two"]] == [
        o.pk for o in EvidenceItem.objects.approved().filter(institution=profile)[:2]
    ]


def test_fields_left_out_are_deferred_not_wrong(profile, django_assert_num_queries):
    (fetched,) = fetch_lists(one=Rows(Institution.objects.filter(pk=profile.pk), fields=("name",)))["one"]
    assert fetched.name == profile.name
    with django_assert_num_queries(1):  # a deferred field loads on access, with its true value
        assert fetched.dek == profile.dek
