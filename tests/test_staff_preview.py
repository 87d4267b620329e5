"""Staff preview: "Staff (everything)" lists evidence waiting for review, marked "pending review", so an
analyst sees how a source will look before approval; "view as tier" reads exactly as that tier.
(Readers never see pending evidence: tests/test_no_leak.py.)"""

import pytest
from django.urls import reverse

from membership.models import Tier
from profiles.models import EvidenceItem

from .factories import EvidenceItemFactory, InstitutionFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile():
    institution = InstitutionFactory(name="Preview Exchange")
    EvidenceItemFactory(institution=institution, title="Approved filing")
    pending = EvidenceItemFactory(institution=institution, title="Submitted press release", review_state="submitted")
    EvidenceItemFactory(institution=institution, title="Rejected rumour", review_state="rejected")
    institution.body = f"Capacity doubled [^ev:{pending.pk}]."
    institution.save()
    return institution


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def sources_html(response) -> str:
    body = response.content.decode()
    return body[body.index('<ol class="sources">'):]


def test_staff_everything_lists_pending_evidence_marked_pending_review(staff_client, profile):
    html = sources_html(staff_client.get(profile.get_absolute_url()))
    assert "Submitted press release" in html and "Pending review" in html
    assert html.count("Pending review") == 1  # the approved source is not marked
    assert "Approved filing" in html
    assert "Rejected rumour" not in html  # rejected items are no preview of anything


def test_staff_everything_resolves_a_citation_of_pending_evidence(staff_client, profile):
    pending = EvidenceItem.objects.get(institution=profile, review_state="submitted")
    body = staff_client.get(profile.get_absolute_url()).content.decode()
    assert f'href="#evidence-{pending.pk}"' in body


@pytest.mark.parametrize("tier_slug", [Tier.STRATEGIC_CIRCLE_SLUG, Tier.LEADERSHIP_ALLIANCE_SLUG])
def test_view_as_tier_shows_no_pending_evidence(staff_client, profile, tier_slug):
    response = staff_client.get(profile.get_absolute_url(), {"as_tier": tier_slug})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Submitted press release" not in body and "Pending review" not in body
    assert "Approved filing" in body
    assert 'aria-current="true"' in body  # the switch marks the tier being viewed


def test_switching_back_to_staff_everything_shows_pending_again(staff_client, profile):
    url = profile.get_absolute_url()
    staff_client.get(url, {"as_tier": Tier.STRATEGIC_CIRCLE_SLUG})
    assert "Pending review" in staff_client.get(url).content.decode()


def test_readers_and_staff_without_sight_get_no_pending_evidence(client, profile, settings):
    assert "Submitted press release" not in client.get(profile.get_absolute_url()).content.decode()
    settings.BTW_REQUIRE_STAFF_MFA = True  # staff whose session has not passed MFA read as readers
    client.force_login(StaffFactory())
    assert "Submitted press release" not in client.get(profile.get_absolute_url()).content.decode()


@pytest.mark.parametrize("count", [1, 200])
def test_staff_preview_with_pending_evidence_keeps_its_query_budget(
    staff_client, count, settings, django_assert_max_num_queries
):
    """The staff budget of tests/test_page_query_budgets.py, whatever the number of pending items."""
    settings.BTW_FRAGMENT_CACHE_TIMEOUT = 0
    settings.BTW_PAGE_CACHE_TIMEOUT = 0
    institution = InstitutionFactory()
    EvidenceItemFactory.create_batch(count, institution=institution, review_state="submitted")
    url = reverse("profiles:detail", args=[institution.slug])
    staff_client.get(url)
    with django_assert_max_num_queries(5):
        response = staff_client.get(url)
    assert response.content.decode().count('<span class="review-tag">Pending review</span>') == count
