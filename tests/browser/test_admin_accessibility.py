"""axe-core on the desk's busiest pages, at a phone's and a desktop's size: the profile change form
with every inline filled and the Markdown editor on, its history, the moderation queue with an
item waiting, and the admin index with the moderator's and analyst's panels."""

import pytest
from django.urls import reverse

from profiles import review
from profiles.models import EvidenceItem
from tests.browser.axe import assert_no_serious_violations
from tests.browser.journeys import sign_in
from tests.factories import EvidenceItemFactory, StaffFactory
from tests.factories_membership import analyst, moderator
from tests.factories_pages import full_profile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 900}}


@pytest.fixture
def desk():
    """A full profile, and a source its analyst submitted that waits in the moderators' queue."""
    writer = analyst(email="writer@example.org")
    profile = full_profile(2)
    item = EvidenceItemFactory.build(institution=profile, review_state=EvidenceItem.Review.SUBMITTED,
                                     title="Waiting for a moderator")
    review.record_submission(item, actor=writer)
    return profile


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_change_form_history_and_index_have_no_serious_violations(new_page, desk, viewport):
    editor = StaffFactory(is_superuser=True, verified=True, email="editor@example.org")
    page = new_page()
    page.set_viewport_size(VIEWPORTS[viewport])
    sign_in(page, editor.email, next_url="/admin/")
    for url in (
        reverse("admin:index"),
        reverse("admin:profiles_institution_change", args=[desk.pk]),
        reverse("admin:profiles_institution_history", args=[desk.pk]),
    ):
        page.goto(url)
        assert_no_serious_violations(page)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_moderation_queue_has_no_serious_violations(new_page, desk, viewport):
    reviewer = moderator(email="reviewer@example.org")
    page = new_page()
    page.set_viewport_size(VIEWPORTS[viewport])
    sign_in(page, reviewer.email, next_url="/admin/")
    page.goto(reverse("admin:index"))
    assert_no_serious_violations(page)
    with page.expect_navigation():
        page.click("#moderation-pending .dashboard-queue-evidence a")
    assert "Waiting for a moderator" in page.content()
    assert_no_serious_violations(page)
