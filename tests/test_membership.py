"""The tiers page, the reader's own state, locked blocks' calls to action, and ending memberships."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from membership import gating, services
from membership.models import Membership, Tier

from .factories import BriefingFactory, StaffFactory, tier
from .factories_membership import (
    alliance_member,
    analyst,
    moderator,
    pending_applicant,
    strategic_member,
    unverified_user,
)

pytestmark = pytest.mark.django_db


def fresh(user):
    """The user as the next request would load it (no Reader cached on the object)."""
    return type(user).objects.get(pk=user.pk)


READERS = {
    "anonymous": lambda: None,
    "unverified": unverified_user,
    "member": strategic_member,
    "pending": lambda: pending_applicant().user,
    "alliance": alliance_member,
}


# --- /membership/ -----------------------------------------------------------------------------------


def test_tiers_page_lists_every_tier_with_what_it_unlocks(client):
    html = client.get(reverse("membership:tiers")).content.decode()
    for t in Tier.objects.all():
        assert t.name in html
        for line in t.unlock_lines():
            assert line in html


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("anonymous", "Join free"),
        ("unverified", "not confirmed yet"),
        ("member", "Apply to the Leadership Alliance"),
        ("pending", "under review"),
        ("alliance", "You are a <strong>Leadership Alliance</strong> member"),
    ],
)
def test_tiers_page_shows_the_readers_own_state(client, state, expected):
    user = READERS[state]()
    if user is not None:
        client.force_login(user)
    response = client.get(reverse("membership:tiers"))
    assert response.context["reader"].state == state
    assert expected in response.content.decode()


def test_tiers_page_shows_when_the_pending_application_was_submitted(client):
    application = pending_applicant()
    client.force_login(application.user)
    html = client.get(reverse("membership:tiers")).content.decode()
    assert f"{application.created_at:%-d %B %Y}" in html
    assert application.organisation in html


def test_tiers_page_is_private_to_a_signed_in_reader(client):
    client.force_login(strategic_member())
    response = client.get(reverse("membership:tiers"))
    assert "private" in response["Cache-Control"]
    assert "Cookie" in response["Vary"]


def test_tiers_page_query_budget(client, django_assert_max_num_queries):
    application = pending_applicant()
    client.force_login(application.user)
    with django_assert_max_num_queries(12):
        client.get(reverse("membership:tiers"))


# --- reader state ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(READERS))
def test_reader_state_follows_membership(state):
    user = READERS[state]()
    reader = gating.reader_for(user if user is not None else AnonymousUser())
    assert reader.state == state


def test_staff_state_and_level():
    reader = gating.reader_for(StaffFactory())
    assert reader.state == "staff" and reader.level == gating.STAFF_LEVEL


def test_pending_reader_knows_when_they_applied():
    application = pending_applicant()
    assert gating.reader_for(application.user).application_submitted_at == application.created_at


# --- locked blocks: title, tier, the right call to action, never the text ---------------------------


def render_locked(user, briefing):
    request = RequestFactory().get(briefing.institution.get_absolute_url())
    request.user = user if user is not None else AnonymousUser()
    reader = gating.reader_for_request(request)
    [block] = gating.split(reader, [briefing])
    assert isinstance(block, gating.LockedBlock)
    return render_to_string(
        "membership/includes/locked_block.html", {"block": block, "reader": reader, "request": request}
    )


@pytest.mark.parametrize(
    ("state", "tier_slug", "cta"),
    [
        ("anonymous", Tier.STRATEGIC_CIRCLE_SLUG, "Join Strategic Circle free"),
        ("anonymous", Tier.LEADERSHIP_ALLIANCE_SLUG, "Join free, then apply to Leadership Alliance"),
        ("unverified", Tier.STRATEGIC_CIRCLE_SLUG, "Verify your e-mail to unlock"),
        ("unverified", Tier.LEADERSHIP_ALLIANCE_SLUG, "Verify your e-mail to unlock"),
        ("member", Tier.LEADERSHIP_ALLIANCE_SLUG, "Apply to Leadership Alliance"),
        ("pending", Tier.LEADERSHIP_ALLIANCE_SLUG, "application is under review"),
    ],
)
def test_locked_block_shows_title_tier_and_the_call_to_action_for_the_readers_state(state, tier_slug, cta):
    briefing = BriefingFactory(
        title="Rack supply outlook", body="SECRET-BODY-TEXT", source_notes="SECRET-SOURCE-NOTES",
        required_tier=tier(tier_slug),
    )
    html = render_locked(READERS[state](), briefing)
    assert "Rack supply outlook" in html
    assert f"Only for {tier(tier_slug).name}" in html
    assert cta in html
    assert f'data-reader-state="{state}"' in html
    assert "SECRET" not in html


def test_anonymous_call_to_action_offers_sign_in_back_to_the_page():
    briefing = BriefingFactory()
    html = render_locked(None, briefing)
    assert f"{reverse('account_login')}?next=/profiles/{briefing.institution.slug}/" in html


def test_staff_preview_as_public_sees_the_anonymous_call_to_action():
    briefing = BriefingFactory(body="SECRET-BODY-TEXT")
    request = RequestFactory().get("/", {"as_tier": "public"})
    request.user = StaffFactory(is_superuser=True)
    reader = gating.reader_for_request(request)
    [block] = gating.split(reader, [briefing])
    context = {"block": block, "reader": reader, "request": request}
    html = render_to_string("membership/includes/locked_block.html", context)
    assert 'data-reader-state="anonymous"' in html and "SECRET" not in html


# --- ending memberships locks again at once -----------------------------------------------------------


def test_lapsed_alliance_membership_locks_alliance_briefings_at_once():
    briefing = BriefingFactory(required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    member = alliance_member()
    assert gating.can_view(fresh(member), briefing)
    services.lapse_membership(membership=Membership.objects.get(user=member, tier__level=2))
    reader = fresh(member)
    assert not gating.can_view(reader, briefing)
    assert gating.reader_for(reader).level == 1
    assert briefing not in type(briefing).objects.visible_to(reader)


def test_revoked_membership_shows_on_the_members_very_next_request(client):
    member = alliance_member()
    client.force_login(member)
    assert client.get(reverse("membership:tiers")).context["reader"].state == "alliance"
    services.revoke_membership(membership=Membership.objects.get(user=member, tier__level=2), by=moderator())
    reader = client.get(reverse("membership:tiers")).context["reader"]
    assert reader.state == "member" and reader.level == 1


def test_services_drop_the_reader_cached_on_the_user_they_were_given():
    briefing = BriefingFactory()
    membership = Membership.objects.select_related("user").get(user=strategic_member())
    assert gating.can_view(membership.user, briefing)  # a Reader is now cached on membership.user
    services.lapse_membership(membership=membership)
    assert not gating.can_view(membership.user, briefing)


def test_reader_is_fresh_after_membership_change():
    """A user loaded with its reader row (as every signed-in request loads it) reads afresh after a service."""
    from membership.backends import ModelBackend

    user = ModelBackend().get_user(strategic_member().pk)
    assert gating.reader_for(user).state == "member"
    services.submit_application(
        user=user, organisation="Example Exchange", role="Head of peering", qualification_statement="Ten years.",
        consent=True,
    )
    assert gating.reader_for(user).state == "pending"
    membership = Membership.objects.get(user=user)
    membership.user = user
    services.lapse_membership(membership=membership)
    assert gating.reader_for(user).level == 0


def test_a_response_that_read_the_reader_varies_by_cookie_and_one_that_did_not_is_left_alone():
    from django.http import HttpResponse

    from membership.middleware import ReaderMiddleware

    def asking(request):
        return HttpResponse(request.reader.state)

    def not_asking(request):
        return HttpResponse("same for everyone")

    def serve(view):
        request = RequestFactory().get("/")
        request.user = AnonymousUser()
        return ReaderMiddleware(view)(request)

    assert "Cookie" in serve(asking)["Vary"]
    assert not serve(not_asking).has_header("Vary")


def test_expired_membership_gives_no_level():
    from django.utils import timezone

    member = strategic_member()
    Membership.objects.filter(user=member).update(ends_at=timezone.now())
    assert gating.reader_for(fresh(member)).level == 0


def test_lapse_permitted_for_a_moderator():
    member = strategic_member()
    membership = Membership.objects.get(user=member)
    services.lapse_membership(membership=membership, by=moderator())
    membership.refresh_from_db()
    assert membership.status == Membership.Status.LAPSED and membership.ends_at is not None


def test_lapse_denied_without_change_membership_permission():
    membership = Membership.objects.get(user=strategic_member())
    with pytest.raises(services.NotPermitted):
        services.lapse_membership(membership=membership, by=analyst())
    membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE


def test_lapse_refuses_an_inactive_membership():
    membership = Membership.objects.get(user=strategic_member())
    services.lapse_membership(membership=membership)
    with pytest.raises(services.AlreadyDecided):
        services.lapse_membership(membership=membership)


# --- admin: tiers and memberships ---------------------------------------------------------------------


def test_tier_admin_is_read_mostly(client):
    client.force_login(StaffFactory(is_superuser=True))
    sc = tier(Tier.STRATEGIC_CIRCLE_SLUG)
    assert client.get(reverse("admin:membership_tier_add")).status_code == 403
    assert client.get(reverse("admin:membership_tier_delete", args=[sc.pk])).status_code == 403
    html = client.get(reverse("admin:membership_tier_change", args=[sc.pk])).content.decode()
    assert 'name="level"' not in html and 'name="description"' in html


def test_membership_admin_lists_and_filters_by_tier_and_status(client):
    client.force_login(moderator())
    strategic_member(email="circle@example.org")
    alliance_member(email="alliance@example.org")
    url = reverse("admin:membership_membership_changelist")
    html = client.get(url, {"tier__id__exact": tier(Tier.LEADERSHIP_ALLIANCE_SLUG).pk}).content.decode()
    assert "alliance@example.org" in html and "circle@example.org" not in html
    assert client.get(url, {"status__exact": "active"}).status_code == 200


def test_membership_admin_lapse_action_permitted_for_moderator(client):
    member = alliance_member()
    membership = Membership.objects.get(user=member, tier__level=2)
    client.force_login(moderator())
    response = client.post(
        reverse("admin:membership_membership_changelist"),
        {"action": "lapse_selected", "_selected_action": [membership.pk], "index": 0},
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.status == Membership.Status.LAPSED
    assert gating.reader_for(fresh(member)).level == 1


def test_membership_admin_lapse_action_denied_to_analyst(client):
    membership = Membership.objects.get(user=strategic_member())
    staff = analyst()
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_membership"))
    client.force_login(staff)
    response = client.post(
        reverse("admin:membership_membership_changelist"),
        {"action": "lapse_selected", "_selected_action": [membership.pk], "index": 0},
    )
    assert response.status_code in (200, 302)
    membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE


def test_membership_admin_changelist_query_budget(client, django_assert_max_num_queries):
    client.force_login(moderator())
    url = reverse("admin:membership_membership_changelist")
    strategic_member()
    with django_assert_max_num_queries(15) as one:
        client.get(url)
    for _ in range(30):
        strategic_member()
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(url)


def test_memberships_are_not_added_or_deleted_in_the_admin(client):
    membership = Membership.objects.get(user=strategic_member())
    client.force_login(StaffFactory(is_superuser=True))
    assert client.get(reverse("admin:membership_membership_add")).status_code == 403
    assert client.get(reverse("admin:membership_membership_delete", args=[membership.pk])).status_code == 403
    html = client.get(reverse("admin:membership_membership_change", args=[membership.pk])).content.decode()
    assert 'name="status"' not in html  # status changes only through the lapse / revoke actions


def test_membership_admin_revoke_action_records_who_revoked(client):
    member = alliance_member()
    membership = Membership.objects.get(user=member, tier__level=2)
    staff = moderator()
    client.force_login(staff)
    client.post(
        reverse("admin:membership_membership_changelist"),
        {"action": "revoke_selected", "_selected_action": [membership.pk], "index": 0},
    )
    membership.refresh_from_db()
    assert membership.status == Membership.Status.REJECTED and membership.reviewed_by == staff
    assert gating.reader_for(fresh(member)).level == 1


def test_revoke_denied_without_change_membership_permission():
    membership = Membership.objects.get(user=strategic_member())
    with pytest.raises(services.NotPermitted):
        services.revoke_membership(membership=membership, by=analyst())
    membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE


# --- the named rules the gate's reader row is generated from ----------------------------------------


def test_active_membership_is_active_status_not_yet_ended():
    from datetime import timedelta

    from django.utils import timezone

    member = strategic_member()
    membership = Membership.objects.get(user=member)
    now = timezone.now()
    assert Membership.objects.active(at=now).filter(pk=membership.pk).exists()
    Membership.objects.filter(pk=membership.pk).update(ends_at=now + timedelta(hours=1))
    assert Membership.objects.active(at=now).filter(pk=membership.pk).exists()
    assert not Membership.objects.active(at=now + timedelta(hours=1)).filter(pk=membership.pk).exists()
    Membership.objects.filter(pk=membership.pk).update(ends_at=None, status=Membership.Status.LAPSED)
    assert not Membership.objects.active(at=now).filter(pk=membership.pk).exists()


def test_pending_applications_are_those_under_review():
    from membership.models import Application

    application = pending_applicant()
    assert list(Application.objects.pending()) == [application]
    Application.objects.filter(pk=application.pk).update(state=Application.State.WITHDRAWN)
    assert not Application.objects.pending().exists()


def test_verified_emails_are_the_confirmed_addresses_only():
    from membership.models import verified_emails

    confirmed, unconfirmed = strategic_member(), unverified_user()
    assert verified_emails().filter(user=confirmed).exists()
    assert not verified_emails().filter(user=unconfirmed).exists()
