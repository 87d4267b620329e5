"""The profile page is kept whole per reader variant, with holes for what is per request.

A signed-in reader's page is the cached parts laid out by the page's templates; that layout is the
same for every reader of a variant but for the CSRF token of its forms, the follow control and
messages. So the whole page is cached per variant (`profile_parts.SHELL`) with holes the view fills
on every request (`profile_parts.fill`), and a request with messages is rendered in full and never
kept. These tests hold each hole to its reader and the page to its variant.
"""

import re

import pytest
from django.test import Client
from django.urls import reverse

from membership.models import Tier
from profiles import profile_parts
from profiles.models import Follow

from .factories import BriefingFactory, InstitutionFactory, tier
from .test_shared_renders import TEMPLATES, used_attributes_in

pytestmark = pytest.mark.django_db

#: The templates the page is laid out with around its parts (and what they include).
SHELL_TEMPLATES = [
    TEMPLATES / "base.html",
    TEMPLATES / "profiles" / "base_profiles.html",
    TEMPLATES / "profiles" / "institution_detail.html",
    *sorted((TEMPLATES / "includes").glob("*.html")),
]


def page(client, institution) -> str:
    response = client.get(institution.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def rendered_layouts(client, institution) -> list[str]:
    """The templates one request of the page rendered (none of the layout when the shell was used)."""
    response = client.get(institution.get_absolute_url())
    return [t.name for t in response.templates]


def csrf_value(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_a_members_second_visit_is_laid_out_from_the_cached_page(client, member_factory):
    profile = InstitutionFactory()
    client.force_login(member_factory())
    first = page(client, profile)
    assert "profiles/institution_detail.html" not in rendered_layouts(client, profile)
    again = page(client, profile)
    assert re.sub(r'value="[^"]+"', "", first) == re.sub(r'value="[^"]+"', "", again)
    assert "\x00" not in again


def test_the_token_filled_into_a_cached_page_is_this_readers_and_is_accepted(member_factory):
    """Two members of one variant: each page from the shared shell carries a token that passes their
    own CSRF check (a real client, checks on), so following from a cached page works."""
    profile = InstitutionFactory()
    first, second = member_factory(), member_factory()
    first_browser, second_browser = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first_browser.force_login(first)
    second_browser.force_login(second)
    page(first_browser, profile)  # renders and keeps the shell
    html = page(second_browser, profile)  # from the shell
    response = second_browser.post(
        reverse("profiles:follow", args=[profile.slug]), {"action": "follow", "csrfmiddlewaretoken": csrf_value(html)}
    )
    assert response.status_code == 302
    assert Follow.objects.filter(user=second, institution=profile).exists()
    assert not Follow.objects.filter(user=first).exists()


def test_each_member_sees_their_own_follow_state_from_one_shell(member_factory):
    profile = InstitutionFactory()
    following, not_following = member_factory(), member_factory()
    Follow.objects.create(user=following, institution=profile)
    browsers = {}
    for user in (not_following, following, not_following, following):
        browsers.setdefault(user.pk, Client()).force_login(user)
    first = page(browsers[not_following.pk], profile)
    assert "Follow this profile" in first and "You follow this profile" not in first
    assert "You follow this profile" in page(browsers[following.pk], profile)
    assert "You follow this profile" not in page(browsers[not_following.pk], profile)


def test_messages_are_shown_once_and_never_kept_in_the_shared_page(client, member_factory):
    profile = InstitutionFactory()
    other = Client()
    other.force_login(member_factory())
    page(other, profile)  # the shell exists before the message
    client.force_login(member_factory())
    client.post(reverse("profiles:follow", args=[profile.slug]), {"action": "follow"})
    with_message = page(client, profile)
    assert f"You now follow {profile.name}." in with_message
    assert "You now follow" not in page(client, profile)  # shown once
    assert "You now follow" not in page(other, profile)  # never in the shared page


def test_a_page_with_messages_is_not_what_the_next_reader_gets(client, member_factory):
    """No shell yet: the first render carries a message, so it must not become the shell."""
    profile = InstitutionFactory()
    client.force_login(member_factory())
    client.post(reverse("profiles:follow", args=[profile.slug]), {"action": "follow"})
    assert "You now follow" in page(client, profile)
    other = Client()
    other.force_login(member_factory())
    assert "You now follow" not in page(other, profile)


def test_a_shell_kept_for_an_alliance_member_never_reaches_a_strategic_member(member_factory, secret):
    profile = InstitutionFactory()
    BriefingFactory(institution=profile, body=secret, required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    alliance, strategic = Client(), Client()
    alliance.force_login(member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG))
    strategic.force_login(member_factory())
    assert secret in page(alliance, profile)
    assert secret in page(alliance, profile)  # from its shell
    assert secret not in page(strategic, profile)
    assert secret not in page(strategic, profile)


def test_staff_pages_are_never_kept(client, analyst):
    profile = InstitutionFactory()
    client.force_login(analyst)
    for _ in range(2):
        assert "profiles/institution_detail.html" in rendered_layouts(client, profile)


def test_anonymous_pages_from_the_shell_set_no_csrf_cookie(client, settings):
    settings.BTW_PAGE_CACHE_TIMEOUT = 0  # the shell alone, not the shared page cache
    profile = InstitutionFactory()
    for _ in range(2):
        response = client.get(profile.get_absolute_url())
        assert "csrftoken" not in response.cookies
        assert "csrfmiddlewaretoken" not in response.content.decode()


def test_the_layout_reads_of_the_reader_only_what_the_variant_holds():
    """The shell is shared by a variant: its templates may read of the reader only what the variant
    keys (`Reader.render_key`: level and state), of the user only whether they are signed in or staff
    (staff pages are never kept), of the request only which page it is."""
    assert used_attributes_in(SHELL_TEMPLATES, "reader") <= {"is_member"}
    assert used_attributes_in(SHELL_TEMPLATES, "user") <= {"is_authenticated", "is_staff"}
    assert used_attributes_in(SHELL_TEMPLATES, "request") <= {"resolver_match"}
    assert profile_parts.CSRF_HOLE not in profile_parts.FOLLOW_HOLE
