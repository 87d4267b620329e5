"""The gate's rules, asserted on querysets and single objects (DESIGN.md "Gating rules")."""

import pytest
from guardian.shortcuts import assign_perm

from membership import gating
from membership.models import Membership, Tier

from .factories import BriefingFactory, MembershipFactory, UserFactory, tier

pytestmark = pytest.mark.django_db


def alliance_briefing():
    return BriefingFactory(required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))


def test_anonymous_reader_has_public_level():
    from django.contrib.auth.models import AnonymousUser

    assert gating.reader_for(AnonymousUser()).level == 0


def test_reader_level_is_highest_active_membership(member_factory):
    assert gating.reader_for(member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG)).level == 2


def test_lapsed_membership_gives_no_level():
    membership = MembershipFactory(tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG), status=Membership.Status.LAPSED)
    assert gating.reader_for(membership.user).level == 0


def test_alliance_briefing_hidden_from_strategic_circle(member_factory):
    briefing = alliance_briefing()
    reader = member_factory(Tier.STRATEGIC_CIRCLE_SLUG)
    assert not gating.can_view(reader, briefing)
    assert briefing not in type(briefing).objects.visible_to(reader)


def test_alliance_briefing_open_to_alliance_member(member_factory):
    briefing = alliance_briefing()
    reader = member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG)
    assert gating.can_view(reader, briefing)
    assert briefing in type(briefing).objects.visible_to(reader)


def test_view_briefing_object_permission_opens_one_briefing():
    granted, other = alliance_briefing(), alliance_briefing()
    reader = UserFactory(verified=True)
    assign_perm("profiles.view_briefing", reader, granted)
    assert gating.can_view(reader, granted)
    assert not gating.can_view(reader, other)
    assert list(type(granted).objects.visible_to(reader)) == [granted]


def test_locked_block_carries_no_body(member_factory):
    briefing = alliance_briefing()
    [block] = gating.split(member_factory(Tier.STRATEGIC_CIRCLE_SLUG), [briefing])
    assert isinstance(block, gating.LockedBlock)
    assert not hasattr(block, "body") and not hasattr(block, "source_notes")


def test_staff_see_every_tier(staff_factory):
    briefing = alliance_briefing()
    assert gating.can_view(staff_factory(), briefing)
