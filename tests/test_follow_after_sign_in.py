""""Sign in to follow" completes the follow: the anonymous reader's link remembers the profile, and the
sign-in (a POST: password, or the sign-in after confirming a new account) makes the follow and says so.
The link itself changes nothing; only members (Strategic Circle and above) follow."""

import re

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse

from membership.models import Membership, Tier
from profiles.models import Follow, Institution

from .factories import BriefingFactory, InstitutionFactory, UserFactory, tier
from .factories_membership import PASSWORD, strategic_member

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-Long-enough-passphrase-9"


@pytest.fixture
def profile():
    return InstitutionFactory(name="Harbour Exchange")


def sign_in_to_follow(client, institution):
    return client.get(reverse("profiles:follow_sign_in", args=[institution.slug]))


def sign_in(client, user, next_url):
    return client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD, "next": next_url})


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_sign_in_to_follow_sends_to_sign_in_and_back_without_following(client, profile):
    response = sign_in_to_follow(client, profile)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert f"next={profile.get_absolute_url()}" in response["Location"].replace("%2F", "/")
    assert not Follow.objects.exists()


def test_signing_in_completes_the_follow_and_says_so(client, profile):
    member = strategic_member()
    sign_in_to_follow(client, profile)
    response = sign_in(client, member, profile.get_absolute_url())
    assert response.status_code == 302 and response["Location"] == profile.get_absolute_url()
    assert Follow.objects.filter(user=member, institution=profile).exists()
    page = client.get(profile.get_absolute_url()).content.decode()
    assert "You now follow Harbour Exchange." in page
    assert "You follow this profile." in page


def test_the_follow_is_completed_once(client, profile):
    member = strategic_member()
    sign_in_to_follow(client, profile)
    sign_in(client, member, "/")
    Follow.objects.all().delete()
    client.post(reverse("account_logout"))
    sign_in(client, member, "/")
    assert not Follow.objects.exists()


def test_signing_in_without_having_asked_follows_nothing(client, profile):
    sign_in(client, strategic_member(), profile.get_absolute_url())
    assert not Follow.objects.exists()


def test_the_link_changes_nothing_for_a_signed_in_member(client, profile):
    member = strategic_member()
    client.force_login(member)
    response = sign_in_to_follow(client, profile)
    assert response.status_code == 302 and response["Location"] == profile.get_absolute_url()
    assert not Follow.objects.exists()


def test_a_signed_in_reader_below_the_circle_is_told_watchlists_are_for_members(client, profile):
    reader = UserFactory(verified=True)  # verified, but no active membership
    sign_in_to_follow(client, profile)
    response = sign_in(client, reader, profile.get_absolute_url())
    assert not Follow.objects.exists()
    assert any("Watchlists are for members" in m for m in messages_of(response))


def test_an_unpublished_profile_cannot_be_asked_for(client):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    assert sign_in_to_follow(client, draft).status_code == 404


def test_a_profile_unpublished_before_the_sign_in_is_not_followed(client, profile):
    sign_in_to_follow(client, profile)
    Institution.objects.filter(pk=profile.pk).update(status=Institution.Status.ARCHIVED)
    sign_in(client, strategic_member(), "/")
    assert not Follow.objects.exists()


def test_signing_up_then_confirming_follows_and_says_you_are_a_member_once(client, profile):
    sign_in_to_follow(client, profile)
    client.post(
        reverse("account_signup"),
        {"email": "new.follower@example.org", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert not Follow.objects.exists()
    [message] = mail.outbox
    confirm_url = re.sub(r"^https?://[^/]+", "", re.search(r"https?://\S+", message.body).group(0))

    response = client.post(confirm_url, follow=True)
    body = response.content.decode()
    assert Follow.objects.filter(user__email="new.follower@example.org", institution=profile).exists()
    assert "You are now a Strategic Circle member" in body
    assert "You now follow Harbour Exchange." in body
    assert "You are now a Strategic Circle member" not in client.get("/").content.decode()  # said once


def test_confirming_a_second_address_does_not_announce_membership_again(client):
    member = strategic_member()
    client.force_login(member)
    client.post(reverse("account_email"), {"action_add": "", "email": "second@example.org"})
    confirmation = next(m for m in mail.outbox if "second@example.org" in m.to)
    confirm_url = re.sub(r"^https?://[^/]+", "", re.search(r"https?://\S+", confirmation.body).group(0))
    body = client.post(confirm_url, follow=True).content.decode()
    assert "You are now a Strategic Circle member" not in body
    assert Membership.objects.filter(user=member, tier__slug=Tier.STRATEGIC_CIRCLE_SLUG).count() == 1


def test_members_are_not_told_to_sign_in_on_a_profile_with_a_locked_briefing(client, profile):
    BriefingFactory(institution=profile, title="Alliance context", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    anonymous = client.get(profile.get_absolute_url()).content.decode()
    assert "Sign in with the right membership" in anonymous
    client.force_login(strategic_member())
    body = client.get(profile.get_absolute_url()).content.decode()
    assert "Only for Leadership Alliance" in body
    assert "Sign in" not in body.split('id="main"', 1)[1]  # nothing in the page asks a member to sign in
