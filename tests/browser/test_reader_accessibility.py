"""axe-core finds no serious or critical violation on the reader's pages, on a phone and on a desktop,
for a guest and for a signed-in member (tests/browser/axe.py)."""

import pytest
from django.utils import timezone

from profiles.api import dumps
from profiles.models import Correction
from tests.browser.axe import assert_no_serious_violations
from tests.browser.journeys import sign_in
from tests.factories import RelationshipFactory
from tests.factories_membership import strategic_member
from tests.factories_pages import full_profile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture
def profile(settings, tmp_path):
    institution = full_profile(n=3, name="Accessible Exchange")
    RelationshipFactory(source=institution, kind="partner")  # a tie of every drawing style on the map
    Correction.objects.create(institution=institution, note="An earlier version gave the wrong capacity.")
    settings.BTW_DUMP_DIR = tmp_path / "dumps"
    dumps.export("public")  # /data/ lists its files
    return institution


def guest_pages(profile) -> list[str]:
    return [
        "/",
        "/profiles/",
        "/profiles/?q=Accessible",
        profile.get_absolute_url(),
        f"/profiles/{profile.slug}/map/",
        f"/profiles/{profile.slug}/changes/",
        f"{profile.get_absolute_url()}?as_of={timezone.localdate().isoformat()}",
        "/api/docs/",
        "/data/",
        "/membership/",
        "/accounts/login/",
        "/accounts/signup/",
        "/profiles/no-such-profile/",
    ]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_guest_pages_have_no_serious_violations(new_page, profile, viewport):
    page = new_page()
    page.set_viewport_size(VIEWPORTS[viewport])
    for url in guest_pages(profile):
        page.goto(url)
        assert_no_serious_violations(page)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_member_pages_have_no_serious_violations(new_page, profile, viewport):
    member = strategic_member()
    page = new_page()
    page.set_viewport_size(VIEWPORTS[viewport])
    sign_in(page, member.email)
    for url in (
        "/accounts/email/",
        "/accounts/password/change/",
        "/accounts/2fa/",
        profile.get_absolute_url(),
        f"/profiles/{profile.slug}/changes/",
        "/watchlist/",
        "/membership/",
        "/membership/api-tokens/",
    ):
        page.goto(url)
        assert_no_serious_violations(page)
