"""Staff see everything only in a session that has passed MFA (DESIGN.md, gating rule 1).

With settings.BTW_REQUIRE_STAFF_MFA on, a staff member whose session has not passed a second factor
reads the public site as their memberships allow — locked briefings, drafts 404, no "view as tier"
preview, no staff banner — and sees everything once it has. Sessions pass MFA through allauth's own
flows here (a TOTP code at sign-in, or on reauthentication), never by writing the session by hand.
"""

import time
import uuid

import pytest
from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.contrib.auth.models import AnonymousUser, Group
from django.contrib.sessions.backends.cache import SessionStore
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from membership import gating
from membership.mfa import session_passed_mfa
from membership.models import Membership, Tier
from profiles.models import Follow, Institution

from .factories import BriefingFactory, InstitutionFactory, MembershipFactory, StaffFactory, tier
from .factories_membership import PASSWORD, activate_totp, strategic_member

pytestmark = pytest.mark.django_db

SC, LA = Tier.STRATEGIC_CIRCLE_SLUG, Tier.LEADERSHIP_ALLIANCE_SLUG
STAFF_BANNER = ("Staff view", "Preview — not public", "View as:")


@pytest.fixture(autouse=True)
def _staff_mfa_required(settings):
    settings.BTW_REQUIRE_STAFF_MFA = True


@pytest.fixture
def secret():
    return f"ALLIANCE-SECRET-{uuid.uuid4().hex}"


@pytest.fixture
def profile(secret):
    """A published profile with a Strategic Circle briefing and a Leadership Alliance one holding the secret."""
    institution = InstitutionFactory(name="MFA Test Exchange", slug="mfa-test-exchange")
    BriefingFactory(institution=institution, title="Circle context", body="CIRCLE-BODY-OPEN", required_tier=tier(SC))
    BriefingFactory(
        institution=institution, title="Alliance context", body=f"Alliance body {secret}.", required_tier=tier(LA)
    )
    return institution


@pytest.fixture
def draft():
    return InstitutionFactory(name="Unannounced Draft Exchange", status=Institution.Status.DRAFT, published_at=None)


def staff_member(*, totp=True):
    """Staff with a verified e-mail and a Strategic Circle membership; with an enrolled TOTP authenticator
    unless `totp=False` (its secret is kept on the user for the test)."""
    user = StaffFactory(verified=True)
    MembershipFactory(user=user, tier=tier(SC), status=Membership.Status.ACTIVE)
    user.totp_secret = activate_totp(user) if totp else None
    return user


def totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def sign_in_with_password(client, user):
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return response


def sign_in_with_totp(client, user):
    """The real sign-in: password, then allauth's MFA step with a current TOTP code."""
    assert sign_in_with_password(client, user)["Location"] == reverse("mfa_authenticate")
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(user.totp_secret)})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    return client


def page(client, institution, **params):
    return client.get(institution.get_absolute_url(), params)


def body(response) -> str:
    return response.content.decode()


# --- the profile page: briefings -------------------------------------------------------------------


def test_staff_without_mfa_read_site_at_membership_level(client, profile, secret):
    sign_in_with_password(client, staff_member(totp=False))  # a new staff member who never enrolled
    response = page(client, profile)
    html = body(response)
    assert response.status_code == 200
    assert "CIRCLE-BODY-OPEN" in html  # their Strategic Circle membership still counts
    assert secret not in html and "Alliance context" in html  # locked: title only
    assert response.context["reader"].state == "member"


def test_staff_after_mfa_read_every_briefing(client, profile, secret):
    sign_in_with_totp(client, staff_member())
    html = body(page(client, profile))
    assert secret in html and "CIRCLE-BODY-OPEN" in html


def test_staff_signed_in_by_password_read_at_membership_level_until_they_enter_a_code(client, profile, secret):
    """Enrolled, but this session has not passed MFA (signed in before enrolling, say)."""
    staff = staff_member()
    client.force_login(staff)
    assert secret not in body(page(client, profile))
    reauthenticate = f"{reverse('mfa_reauthenticate')}?next={profile.get_absolute_url()}"
    response = client.post(reauthenticate, {"code": totp_code(staff.totp_secret)})
    assert response["Location"] == profile.get_absolute_url()
    assert secret in body(page(client, profile))


# --- drafts and the staff preview ----------------------------------------------------------------------


def test_staff_without_mfa_get_404_for_a_draft(client, draft):
    sign_in_with_password(client, staff_member(totp=False))
    response = page(client, draft)
    assert response.status_code == 404
    assert draft.name not in body(response)


def test_staff_after_mfa_preview_a_draft_with_the_staff_banner(client, draft):
    sign_in_with_totp(client, staff_member())
    response = page(client, draft)
    html = body(response)
    assert response.status_code == 200
    assert draft.name in html and "Preview — not public" in html and "View as:" in html


def test_staff_without_mfa_see_no_staff_banner(client, profile):
    sign_in_with_password(client, staff_member(totp=False))
    html = body(page(client, profile))
    assert not any(marker in html for marker in STAFF_BANNER)


def test_staff_after_mfa_see_the_staff_banner(client, profile):
    sign_in_with_totp(client, staff_member())
    html = body(page(client, profile))
    assert "Staff view" in html and "View as:" in html


def test_staff_without_mfa_cannot_preview_as_a_tier(client, profile, draft, secret):
    """`?as_tier=` would otherwise *raise* their level to the tier asked for."""
    sign_in_with_password(client, staff_member(totp=False))
    assert secret not in body(page(client, profile, as_tier=LA))
    assert page(client, draft, as_tier=LA).status_code == 404


def test_staff_after_mfa_preview_as_a_tier(client, profile, secret):
    sign_in_with_totp(client, staff_member())
    as_circle = body(page(client, profile, as_tier=SC))
    assert secret not in as_circle and "CIRCLE-BODY-OPEN" in as_circle and "View as:" in as_circle
    assert secret in body(page(client, profile, as_tier=LA))


# --- the setting ------------------------------------------------------------------------------------------


def test_staff_see_everything_without_mfa_when_the_requirement_is_off(client, settings, profile, draft, secret):
    settings.BTW_REQUIRE_STAFF_MFA = False
    client.force_login(staff_member(totp=False))
    assert secret in body(page(client, profile))
    assert page(client, draft).status_code == 200


def test_staff_outside_any_request_read_at_membership_level(profile):
    """Commands, digests and e-mails have no session that passed MFA."""
    staff = staff_member(totp=False)
    reader = gating.reader_for(staff)
    assert not reader.sees_everything and reader.level == 1


def test_staff_outside_any_request_see_everything_when_the_requirement_is_off(settings):
    settings.BTW_REQUIRE_STAFF_MFA = False
    assert gating.reader_for(staff_member(totp=False)).sees_everything


# --- every other path of the request gives the same answer ------------------------------------------------


def test_staff_without_mfa_or_membership_may_not_follow_profiles(client, profile):
    staff = StaffFactory(verified=True)
    client.force_login(staff)
    response = client.post(reverse("profiles:follow", args=[profile.slug]), {"action": "follow"})
    assert response["Location"] == reverse("membership:tiers")
    assert not Follow.objects.filter(user=staff).exists()


def test_staff_after_mfa_may_follow_profiles_without_a_membership(client, profile):
    """The follow view asks about `request.user` without the request: it gets the request's answer."""
    staff = StaffFactory(verified=True)
    staff.totp_secret = activate_totp(staff)
    sign_in_with_totp(client, staff)
    client.post(reverse("profiles:follow", args=[profile.slug]), {"action": "follow"})
    assert Follow.objects.filter(user=staff, institution=profile).exists()


def test_a_staff_members_user_alone_never_carries_the_sight_of_their_session(client, profile):
    """Staff sight is the request's (`request.reader`), never a property of the user object."""
    staff = staff_member()
    sign_in_with_totp(client, staff)
    assert page(client, profile).wsgi_request.reader.sees_everything
    assert not gating.reader_for(staff).sees_everything


def test_mfa_recorded_for_another_user_gives_no_staff_sight():
    """allauth's records name the user they were made for; a session handed to someone else starts afresh."""
    staff, other = staff_member(totp=False), strategic_member()
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.user = other
    record_authentication(request, other, "mfa", type="totp")
    request.user = staff
    assert not session_passed_mfa(request)
    assert not gating.has_staff_sight(staff, request)
    request.user = other
    assert session_passed_mfa(request)  # the positive control: the record is there, for `other`


def test_anonymous_and_non_staff_never_have_staff_sight():
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    assert not gating.has_staff_sight(AnonymousUser(), request)
    assert not gating.has_staff_sight(strategic_member(), request)


# --- cost ----------------------------------------------------------------------------------------------------


def queries_of_second_render(client, url) -> int:
    client.get(url + "?budget=warm")
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url + "?budget=measure").status_code == 200
    return len(queries)


def test_staff_without_mfa_cost_no_more_queries_than_a_member(settings, profile):
    settings.BTW_FRAGMENT_CACHE_TIMEOUT = 0
    member, staff = Client(), Client()
    member.force_login(strategic_member())
    sign_in_with_password(staff, staff_member(totp=False))
    url = profile.get_absolute_url()
    assert queries_of_second_render(staff, url) == queries_of_second_render(member, url)


def test_staff_after_mfa_cost_no_more_queries_than_without_the_requirement(settings, profile):
    settings.BTW_FRAGMENT_CACHE_TIMEOUT = 0
    url = profile.get_absolute_url()
    with_mfa = sign_in_with_totp(Client(), staff_member())
    required = queries_of_second_render(with_mfa, url)
    settings.BTW_REQUIRE_STAFF_MFA = False
    plain = Client()
    plain.force_login(staff_member(totp=False))
    assert required == queries_of_second_render(plain, url)


# --- the admin -----------------------------------------------------------------------------------------------


def test_admin_sends_enrolled_staff_whose_session_has_not_passed_mfa_to_enter_a_code(client):
    staff = staff_member()
    client.force_login(staff)  # signed in without a code in this session (e.g. before they enrolled)
    changelist = reverse("admin:membership_application_changelist")
    response = client.get(changelist)
    assert response["Location"] == f"{reverse('mfa_reauthenticate')}?next={changelist.replace('/', '%2F')}"
    assert client.post(response["Location"], {"code": totp_code(staff.totp_secret)})["Location"] == changelist


def test_admin_opens_to_staff_after_mfa(client):
    staff = staff_member()
    staff.groups.add(Group.objects.get(name="Moderators"))
    sign_in_with_totp(client, staff)
    assert client.get(reverse("admin:membership_application_changelist")).status_code == 200


def test_admin_sends_staff_without_an_authenticator_to_enrol(client):
    sign_in_with_password(client, staff_member(totp=False))
    assert client.get(reverse("admin:index"))["Location"] == reverse("mfa_activate_totp")
