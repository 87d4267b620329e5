"""The gate's rules, asserted on querysets and single objects (DESIGN.md "Gating rules")."""

import pytest
from guardian.shortcuts import assign_perm

from membership import gating, grants, prepared, readers
from membership.models import Membership, Tier

from .factories import BriefingFactory, MembershipFactory, UserFactory, tier

pytestmark = pytest.mark.django_db


def alliance_briefing():
    return BriefingFactory(required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))


def carried_reader_row(user):
    """The reader row a user object carries: the annotations `reader_users` puts on its users."""
    return tuple(getattr(user, name) for name in gating.READER_COLUMNS)


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


# --- object permissions: one briefing, one reader or group -----------------------------------------


def test_view_briefing_group_grant_opens_that_briefing_to_group_members_only():
    from django.contrib.auth.models import Group

    granted, other = alliance_briefing(), alliance_briefing()
    group = Group.objects.create(name="Partner newsroom")
    insider, outsider = UserFactory(verified=True), UserFactory(verified=True)
    insider.groups.add(group)
    assign_perm("profiles.view_briefing", group, granted)
    assert gating.can_view(insider, granted) and not gating.can_view(insider, other)
    assert list(type(granted).objects.visible_to(insider)) == [granted]
    assert not gating.can_view(outsider, granted)
    assert list(type(granted).objects.visible_to(outsider)) == []
    opened, locked = gating.split(insider, [granted, other])
    assert opened == granted and isinstance(locked, gating.LockedBlock)


def test_grant_to_another_user_opens_nothing():
    briefing = alliance_briefing()
    assign_perm("profiles.view_briefing", UserFactory(verified=True), briefing)
    reader = UserFactory(verified=True)
    assert not gating.can_view(reader, briefing)
    assert not type(briefing).objects.visible_to(reader).exists()


def test_global_view_briefing_permission_opens_no_briefing():
    """Analysts hold the model permission for the admin; it must not open briefings to a reader."""
    from django.contrib.auth.models import Permission

    briefing = alliance_briefing()
    reader = UserFactory(verified=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_briefing"))
    reader = type(reader).objects.get(pk=reader.pk)
    assert not gating.can_view(reader, briefing)
    assert not type(briefing).objects.visible_to(reader).exists()
    assert isinstance(gating.split(reader, [briefing])[0], gating.LockedBlock)


def test_grant_to_an_inactive_user_opens_nothing():
    briefing = alliance_briefing()
    reader = UserFactory(verified=True, is_active=False)
    assign_perm("profiles.view_briefing", reader, briefing)
    assert not gating.can_view(reader, briefing)
    assert not type(briefing).objects.visible_to(reader).exists()


def test_anonymous_reader_has_no_grants():
    from django.contrib.auth.models import AnonymousUser

    briefing = alliance_briefing()
    assert not gating.can_view(AnonymousUser(), briefing)
    assert not type(briefing).objects.visible_to(AnonymousUser()).exists()


@pytest.mark.parametrize("tier_slug", [None, Tier.STRATEGIC_CIRCLE_SLUG, Tier.LEADERSHIP_ALLIANCE_SLUG])
def test_can_view_and_visible_to_agree_for_every_reader(member_factory, tier_slug, staff_factory):
    from django.contrib.auth.models import AnonymousUser

    briefings = [BriefingFactory(), alliance_briefing(), alliance_briefing()]
    reader = AnonymousUser() if tier_slug is None else member_factory(tier_slug)
    if tier_slug is not None:
        assign_perm("profiles.view_briefing", reader, briefings[2])
    visible = set(type(briefings[0]).objects.visible_to(reader))
    for briefing in briefings:
        assert gating.can_view(reader, briefing) == (briefing in visible)
        assert (gating.split(reader, [briefing])[0] is briefing) == (briefing in visible)


# --- public blocks and models without tiers ----------------------------------------------------------


def test_public_evidence_and_watchpoints_are_visible_to_anonymous():
    from django.contrib.auth.models import AnonymousUser

    from .factories import EvidenceItemFactory, WatchpointFactory

    evidence = EvidenceItemFactory(required_tier=None)
    members_only = EvidenceItemFactory(required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    watchpoint = WatchpointFactory(required_tier=None)
    anonymous = AnonymousUser()
    assert list(type(evidence).objects.filter(pk__in=[evidence.pk, members_only.pk]).visible_to(anonymous)) == [
        evidence
    ]
    assert gating.can_view(anonymous, watchpoint)


def test_models_without_a_tier_field_are_public():
    from django.contrib.auth.models import AnonymousUser

    from .factories import RelationshipFactory

    relationship = RelationshipFactory()
    assert gating.can_view(AnonymousUser(), relationship)
    assert relationship in type(relationship).objects.visible_to(AnonymousUser())


# --- locked blocks' titles ----------------------------------------------------------------------------


def test_locked_evidence_gets_a_generic_title_when_asked():
    from django.contrib.auth.models import AnonymousUser

    from .factories import EvidenceItemFactory

    evidence = EvidenceItemFactory(title="SECRET-TITLE", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    [block] = gating.split(AnonymousUser(), [evidence], title_attr=None)
    assert block.title == "Members-only evidence item"
    assert block.tier.slug == Tier.LEADERSHIP_ALLIANCE_SLUG and block.kind == "evidenceitem"


def test_locked_watchpoint_title_is_its_kind_not_its_text():
    from django.contrib.auth.models import AnonymousUser

    from .factories import WatchpointFactory

    watchpoint = WatchpointFactory(text="SECRET-WATCH", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    [block] = gating.split(AnonymousUser(), [watchpoint])
    assert "SECRET" not in block.title


def test_split_handles_a_mixed_list():
    from django.contrib.auth.models import AnonymousUser

    from .factories import WatchpointFactory

    watchpoint = WatchpointFactory(required_tier=None)
    briefing = alliance_briefing()
    assert gating.split(AnonymousUser(), [watchpoint, briefing])[0] is watchpoint


# --- query budget: split and visible_to cost the same at 1 and many rows -----------------------------


def test_split_prefetches_tiers_and_permissions(member_factory, django_assert_max_num_queries):
    from profiles.models import Briefing

    reader = member_factory(Tier.STRATEGIC_CIRCLE_SLUG)
    for _ in range(3):
        alliance_briefing()
    assign_perm("profiles.view_briefing", reader, Briefing.objects.first())
    gating.reader_for(reader)  # resolved once per request, after the grant as a request would be
    few = list(Briefing.objects.all())
    with django_assert_max_num_queries(10) as one:
        gating.split(reader, few)
    for _ in range(40):
        alliance_briefing()
    many = list(Briefing.objects.all())
    reader = type(reader).objects.get(pk=reader.pk)
    gating.reader_for(reader)
    with django_assert_max_num_queries(len(one.captured_queries)):
        result = gating.split(reader, many)
    assert sum(not isinstance(b, gating.LockedBlock) for b in result) == 1
    assert sum(not isinstance(b, gating.LockedBlock) for b in gating.split(reader, few)) == 1


# --- staff, superusers and the "view as tier" preview ------------------------------------------------


def preview_request(user, as_tier):
    from django.test import RequestFactory

    request = RequestFactory().get("/", {"as_tier": as_tier})
    request.user = user
    return request


def test_staff_preview_as_a_tier_sees_only_that_tier(staff_factory):
    sc_briefing, la_briefing = BriefingFactory(), alliance_briefing()
    reader = gating.reader_for_request(preview_request(staff_factory(), Tier.STRATEGIC_CIRCLE_SLUG))
    assert reader.is_previewing and reader.level == 1
    assert gating.can_view(reader, sc_briefing) and not gating.can_view(reader, la_briefing)
    assert list(type(la_briefing).objects.visible_to(reader)) == [sc_briefing]


def test_superuser_preview_as_public_ignores_superuser_and_object_permissions(superuser):
    briefing = alliance_briefing()
    assign_perm("profiles.view_briefing", superuser, briefing)
    reader = gating.reader_for_request(preview_request(superuser, "public"))
    assert not gating.can_view(reader, briefing)
    assert not type(briefing).objects.visible_to(reader).exists()
    assert isinstance(gating.split(reader, [briefing])[0], gating.LockedBlock)


def test_readers_cannot_use_the_preview_switch(member_factory):
    briefing = BriefingFactory()
    reader = gating.reader_for_request(preview_request(member_factory(Tier.STRATEGIC_CIRCLE_SLUG), "public"))
    assert not reader.is_previewing and gating.can_view(reader, briefing)


def test_preview_with_an_unknown_tier_is_ignored(staff_factory):
    reader = gating.reader_for_request(preview_request(staff_factory(), "no-such-tier"))
    assert reader.sees_everything


def test_superuser_without_staff_flag_sees_everything():
    briefing = alliance_briefing()
    user = UserFactory(is_superuser=True, is_staff=False)
    assert gating.can_view(user, briefing)
    assert briefing in type(briefing).objects.visible_to(user)


def test_staff_see_every_tier_in_querysets_and_split(staff_factory):
    briefing = alliance_briefing()
    staff = staff_factory()
    assert briefing in type(briefing).objects.visible_to(staff)
    assert gating.split(staff, [briefing]) == [briefing]


def test_reader_resolution_is_one_query(member_factory, django_assert_num_queries):
    user = member_factory(Tier.STRATEGIC_CIRCLE_SLUG)
    user = type(user).objects.get(pk=user.pk)
    with django_assert_num_queries(1):
        gating.reader_for(user)
    with django_assert_num_queries(0):
        gating.reader_for(user)


# --- the signed-in request: user and reader row in one query (membership.backends) ------------------


def test_signed_in_request_reads_user_and_reader_row_in_one_query(client, member_factory):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG))
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/membership/").status_code == 200
    touching = [q["sql"] for q in queries if "membership_membership" in q["sql"] or '"auth_user"' in q["sql"]]
    assert len(touching) == 1 and "auth_user" in touching[0] and "membership_membership" in touching[0]


def test_membership_lapsing_mid_session_locks_on_the_next_request(client, member_factory):
    briefing = BriefingFactory(body="circle-only-analysis", required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG))
    member = member_factory(Tier.STRATEGIC_CIRCLE_SLUG)
    client.force_login(member)
    url = briefing.institution.get_absolute_url()
    assert b"circle-only-analysis" in client.get(url).content
    Membership.objects.filter(user=member).update(status=Membership.Status.LAPSED)
    assert b"circle-only-analysis" not in client.get(url).content


def test_deactivated_user_is_signed_out_on_the_next_request(client, member_factory):
    member = member_factory(Tier.STRATEGIC_CIRCLE_SLUG)
    client.force_login(member)
    type(member).objects.filter(pk=member.pk).update(is_active=False)
    response = client.get("/membership/")
    assert not response.wsgi_request.user.is_authenticated


@pytest.mark.parametrize("user_id", ["not-a-number", "999999", "", None])
def test_session_naming_no_user_gives_no_user(user_id):
    from membership.backends import ModelBackend

    assert ModelBackend().get_user(user_id) is None


def test_signed_in_reader_costs_no_query_beyond_session_user(member_factory, django_assert_num_queries):
    from membership.backends import ModelBackend

    member = member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG)
    with django_assert_num_queries(1):
        user = ModelBackend().get_user(member.pk)  # what AuthenticationMiddleware asks once per request
    with django_assert_num_queries(0):
        assert gating.reader_for(user).level == 2
        assert gating.reader_for(user).state == "alliance"


def test_backend_loads_the_user_exactly_as_reader_users_would(member_factory):
    from membership.backends import load_user_and_reader_row

    for user in _readers_in_every_state(member_factory):
        loaded, annotated = load_user_and_reader_row(user.pk), gating.reader_users().get(pk=user.pk)
        assert carried_reader_row(loaded) == carried_reader_row(annotated), user
        assert loaded.__dict__.keys() - {"_state"} == annotated.__dict__.keys() - {"_state"}


def test_a_user_loaded_without_the_reader_row_gets_it_in_one_query_once(member_factory, django_assert_num_queries):
    user = fresh_user(member_factory(Tier.STRATEGIC_CIRCLE_SLUG))
    assert not any(hasattr(user, name) for name in gating.READER_COLUMNS)
    with django_assert_num_queries(1):
        gating.reader_for(user)
    assert carried_reader_row(user) == carried_reader_row(gating.reader_users().get(pk=user.pk))


def test_no_private_attributes_on_user_or_request(client, member_factory):
    client.force_login(member_factory(Tier.STRATEGIC_CIRCLE_SLUG))
    response = client.get(BriefingFactory().institution.get_absolute_url())
    assert response.status_code == 200
    request = response.wsgi_request
    assert isinstance(request.reader, gating.Reader) and request.reader.level == 1
    assert response.context["reader"].level == 1
    assert [name for name in dir(request) if name.startswith("_btw")] == []
    assert [name for name in dir(request.user) if name.startswith("_btw")] == []
    assert carried_reader_row(request.user)[0] == 1  # the public annotations of `reader_users`


def test_forget_reader_leaves_no_reader_row_on_the_user(member_factory):
    from membership.backends import ModelBackend

    user = ModelBackend().get_user(member_factory(Tier.STRATEGIC_CIRCLE_SLUG).pk)
    gating.forget_reader(user)
    assert not any(hasattr(user, name) for name in gating.READER_COLUMNS)
    gating.forget_reader(user)  # forgetting twice is harmless


def test_forgetting_a_reader_rereads_the_row_loaded_with_the_user(member_factory):
    from membership.backends import ModelBackend

    member = member_factory(Tier.STRATEGIC_CIRCLE_SLUG)
    user = ModelBackend().get_user(member.pk)
    assert gating.reader_for(user).level == 1
    Membership.objects.filter(user=member).update(status=Membership.Status.LAPSED)
    gating.forget_reader(user)
    assert gating.reader_for(user).level == 0


# --- one written form per rule: the reader row is generated from the named querysets ---------------


def _row_from_the_named_rules(user):
    """The reader row, asked of the readable rules one by one (slow, and the reference)."""
    from django.db.models import Max

    from membership.models import Application, verified_emails

    level = Membership.objects.active().filter(user=user).aggregate(level=Max("tier__level"))["level"]
    pending = Application.objects.pending().filter(user=user).order_by("created_at").first()
    return (
        level,
        verified_emails().filter(user=user).exists(),
        pending.created_at if pending else None,
        bool(gating.granted_object_pks(gating.Reader(user=user), BriefingFactory._meta.model)),
    )


def _readers_in_every_state(member_factory):
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from django.utils import timezone

    from .factories import ApplicationFactory

    now = timezone.now()
    expired = member_factory(Tier.STRATEGIC_CIRCLE_SLUG)
    Membership.objects.filter(user=expired).update(ends_at=now - timedelta(minutes=1))
    ending_later = member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG)
    Membership.objects.filter(user=ending_later).update(ends_at=now + timedelta(days=1))
    lapsed_alliance = member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG)
    Membership.objects.filter(user=lapsed_alliance, tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG).update(
        status=Membership.Status.LAPSED
    )
    applicant = ApplicationFactory(user=member_factory(Tier.STRATEGIC_CIRCLE_SLUG)).user
    user_grant, group_grant = UserFactory(verified=True), UserFactory(verified=False)
    assign_perm("profiles.view_briefing", user_grant, alliance_briefing())
    group = Group.objects.create(name="Grantees")
    group_grant.groups.add(group)
    assign_perm("profiles.view_briefing", group, alliance_briefing())
    return [UserFactory(), expired, ending_later, lapsed_alliance, applicant, user_grant, group_grant]


def test_reader_row_agrees_with_the_named_rules_for_every_reader_state(member_factory):
    from membership.backends import load_user_and_reader_row

    for user in _readers_in_every_state(member_factory):
        expected = _row_from_the_named_rules(user)
        assert readers.read_reader_row(user.pk) == expected, user
        loaded = load_user_and_reader_row(user.pk)
        assert carried_reader_row(loaded) == expected, user
        fields = type(user)._meta.concrete_fields
        assert [f.value_from_object(loaded) for f in fields] == [f.value_from_object(fresh_user(user)) for f in fields]


def fresh_user(user):
    return type(user).objects.get(pk=user.pk)


def test_reader_row_sql_is_compiled_once_then_takes_each_calls_user_and_moment(member_factory):
    """The per-request values are parameters of SQL compiled once: no queryset is compiled again, and
    neither the first user nor the first moment sticks."""
    from datetime import timedelta
    from unittest import mock

    from django.db.models.sql.compiler import SQLCompiler
    from django.utils import timezone

    from membership.backends import load_user_and_reader_row

    circle, alliance = member_factory(Tier.STRATEGIC_CIRCLE_SLUG), member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG)
    ends = timezone.now() + timedelta(hours=1)
    Membership.objects.filter(user=alliance).update(ends_at=ends)
    assert load_user_and_reader_row(circle.pk).btw_level == 1
    assert readers.read_reader_row(circle.pk)[0] == 1
    with mock.patch.object(SQLCompiler, "as_sql", side_effect=AssertionError("compiled again")):
        assert load_user_and_reader_row(alliance.pk).btw_level == 2
        assert readers.read_reader_row(alliance.pk)[0] == 2
        with mock.patch("django.utils.timezone.now", return_value=ends + timedelta(seconds=1)):
            assert load_user_and_reader_row(alliance.pk).btw_level is None
            assert readers.read_reader_row(alliance.pk)[0] is None
        assert load_user_and_reader_row(circle.pk).pk == circle.pk


def test_a_prepared_query_refuses_a_value_it_does_not_use():
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connection

    unused = prepared.PreparedQuery(lambda user_pk: Tier.objects.all(), user_pk=prepared.user_pk_slot())
    with pytest.raises(ImproperlyConfigured):
        unused.compiled(connection)


def test_another_object_permission_flags_the_reader_but_opens_nothing():
    """The reader row's flag counts any object permission (a superset); only view_briefing opens."""
    briefing = alliance_briefing()
    reader = UserFactory(verified=True)
    assign_perm("profiles.change_briefing", reader, briefing)
    assert gating.reader_for(fresh_user(reader)).may_hold_grants
    assert not gating.can_view(fresh_user(reader), briefing)
    assert gating.granted_object_pks(gating.reader_for(fresh_user(reader)), type(briefing)) == ()


def test_a_reader_without_object_permissions_reads_no_grants(django_assert_num_queries):
    briefing = alliance_briefing()
    reader = gating.reader_for(fresh_user(UserFactory(verified=True)))
    assert not reader.may_hold_grants
    with django_assert_num_queries(0):
        assert not gating.can_view(reader, briefing)


def test_a_gated_model_without_direct_foreign_key_permission_tables_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        grants._grant_models.__wrapped__(Tier)  # uncached: Tier has no guardian tables of its own


# --- tier levels are data ----------------------------------------------------------------------------


@pytest.fixture
def restored_tier_levels():
    """A test that moves a tier's level has it rolled back afterwards; the per-process table of levels
    must forget what it read inside that transaction."""
    from membership.models import forget_tier_levels

    yield
    forget_tier_levels()


def test_tier_levels_cost_no_query_once_read(django_assert_num_queries):
    circle, alliance = tier(Tier.STRATEGIC_CIRCLE_SLUG), tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    Tier.objects.level_of(Tier.STRATEGIC_CIRCLE_SLUG)
    with django_assert_num_queries(0):
        assert Tier.objects.level_of(Tier.STRATEGIC_CIRCLE_SLUG) == circle.level
        assert Tier.objects.level_of(Tier.LEADERSHIP_ALLIANCE_SLUG) == alliance.level
        assert Tier.objects.level_of("no-such-tier") is None


def test_reader_state_and_following_follow_the_tier_levels_in_the_data(member_factory, restored_tier_levels):
    from django.contrib.auth.models import AnonymousUser

    from profiles.watch import may_follow

    member = gating.reader_users().get(pk=member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG).pk)  # level 2, read now
    reader = gating.reader_for(member)
    assert reader.state == "alliance" and may_follow(member)
    alliance = tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    alliance.level = 7
    alliance.save()  # saving a tier forgets the levels read before
    assert reader.state == "member" and may_follow(member)
    assert gating.Reader(user=member, level=7).state == "alliance"
    circle = tier(Tier.STRATEGIC_CIRCLE_SLUG)
    circle.level = 5
    circle.save()
    assert reader.state == "registered" and not may_follow(member)
    assert not may_follow(AnonymousUser())


def test_staff_preview_state_follows_the_previewed_tier(staff_factory):
    circle, alliance = tier(Tier.STRATEGIC_CIRCLE_SLUG), tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    public = Tier.objects.get(level=Tier.PUBLIC_LEVEL)
    staff = staff_factory()
    states = {
        t.slug: gating.Reader(user=staff, level=t.level, is_staff=True, viewing_as=t).state
        for t in (public, circle, alliance)
    }
    assert states == {public.slug: "anonymous", circle.slug: "member", alliance.slug: "alliance"}
