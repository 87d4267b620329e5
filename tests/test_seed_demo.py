"""`manage.py seed_demo`: realistic, complete, idempotent, all-or-nothing."""

from __future__ import annotations

import io

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from membership import gating
from membership.models import Membership, Tier
from profiles import demo_data
from profiles.models import (
    Briefing,
    EvidenceItem,
    Institution,
    Relationship,
    ReviewRecord,
    ReviewState,
)

from .test_admin import admin_form_data, change_url, form_errors

pytestmark = pytest.mark.django_db

SLUG = "foxconn-openai-ai-infrastructure"
SECTIONS = [
    "dek", "key_points", "headline", "body", "domain_summary", "public_role", "operating_surface", "what_it_does",
    "why_it_matters", "what_to_watch", "public_view", "caveats",
]


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def row_counts() -> dict[str, int]:
    """Every table the command could touch, history and audit tables included."""
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.app_label in {"profiles", "membership", "auth", "account", "guardian"}
    }


@pytest.fixture
def seeded():
    return seed()


def test_second_run_changes_nothing(seeded):
    before = row_counts()
    versions = dict(Institution.objects.values_list("slug", "version"))
    dates = dict(Institution.objects.values_list("slug", "public_updated_at"))
    output = seed()
    assert row_counts() == before
    assert dict(Institution.objects.values_list("slug", "version")) == versions
    assert dict(Institution.objects.values_list("slug", "public_updated_at")) == dates
    assert "0 rows created, 0 updated" in output


def test_credentials_are_printed_once_and_marked_demo_only(seeded):
    assert demo_data.DEMO_PASSWORD in seeded and "DEMO ONLY" in seeded
    assert "analyst@example.org" in seeded
    assert demo_data.DEMO_PASSWORD not in seed()


def test_demo_staff_and_readers(seeded):
    User = get_user_model()
    analyst, lead = User.objects.get(username="analyst"), User.objects.get(username="lead")
    moderator, admin = User.objects.get(username="moderator"), User.objects.get(username="admin")
    assert set(analyst.groups.values_list("name", flat=True)) == {"Analysts"}
    assert set(lead.groups.values_list("name", flat=True)) == {"Analysts", "Lead analysts"}
    assert set(moderator.groups.values_list("name", flat=True)) == {"Moderators"}
    assert admin.is_superuser and admin.is_staff
    for user in User.objects.filter(email__in=[u["email"] for u in demo_data.USERS]):
        assert user.check_password(demo_data.DEMO_PASSWORD)
        assert EmailAddress.objects.filter(user=user, email=user.email, verified=True, primary=True).exists()
    member, alliance = User.objects.get(username="member"), User.objects.get(username="alliance")
    assert gating.reader_for(member).level == 1
    assert gating.reader_for(alliance).level == 2
    assert Membership.objects.filter(user=alliance, status="active").count() == 2
    assert not member.is_staff


def test_analyst_is_assigned_to_a_few_profiles_only(seeded):
    analyst = get_user_model().objects.get(username="analyst")
    for institution in Institution.objects.all():
        assert analyst.has_perm("profiles.change_institution", institution) == (
            institution.slug in demo_data.ANALYST_ASSIGNMENTS
        )


def test_demo_users_can_log_in_by_email(seeded, client):
    response = client.post("/accounts/login/", {"login": "member@example.org", "password": demo_data.DEMO_PASSWORD})
    assert response.status_code == 302
    assert client.session.get("_auth_user_id")


def test_about_a_dozen_profiles_one_draft_one_scheduled(seeded):
    assert 10 <= Institution.objects.count() <= 15
    now = timezone.now()
    assert Institution.objects.filter(status=Institution.Status.DRAFT).count() == 1
    scheduled = [i for i in Institution.objects.all() if i.is_scheduled(now)]
    assert len(scheduled) == 1
    assert Institution.objects.published().count() == Institution.objects.count() - 2


def test_reference_profile_has_every_section(seeded):
    profile = Institution.objects.get(slug=SLUG)
    assert profile.get_type_display() == "Internet Infrastructure Institution"
    assert (profile.get_base_region_display(), profile.profile_focus) == ("North America", "Institution")
    assert (profile.get_criticality_display(), profile.get_time_horizon_display()) == ("Medium", "Next quarter")
    for section in SECTIONS:
        assert getattr(profile, section).strip(), section
    assert profile.body.count("\n- ") >= 3  # the three objectives, as a Markdown list
    assert profile.sectors.count() >= 2
    assert profile.is_published()


def test_reference_profile_evidence_mix(seeded):
    evidence = EvidenceItem.objects.filter(institution__slug=SLUG)
    public_approved = evidence.filter(review_state=ReviewState.APPROVED, required_tier__isnull=True)
    assert public_approved.count() >= 4
    assert evidence.filter(review_state=ReviewState.SUBMITTED).count() == 1
    members = evidence.get(review_state=ReviewState.APPROVED, required_tier__slug=Tier.STRATEGIC_CIRCLE_SLUG)
    assert members.url.startswith("https://")
    for item in evidence:
        assert item.url.startswith("https://") and item.publisher and item.claim
    for item in evidence.filter(review_state=ReviewState.APPROVED):
        assert item.reviewed_by != item.submitted_by  # four eyes, even in demo data
        assert [r.to_state for r in ReviewRecord.objects.for_item(item)] == ["approved", "submitted"]


def test_reference_profile_children(seeded):
    profile = Institution.objects.get(slug=SLUG)
    watchpoints = profile.watchpoints.all()
    assert watchpoints.filter(required_tier__isnull=True).count() >= 2
    assert watchpoints.filter(required_tier__isnull=False).count() == 1
    assert profile.timeline.count() >= 2
    assert profile.faqs.count() == 3
    links = profile.related_links.all()
    assert any(link.target_id for link in links) and any(link.url for link in links)
    tiers = set(profile.briefings.values_list("required_tier__slug", flat=True))
    assert tiers == {Tier.STRATEGIC_CIRCLE_SLUG, Tier.LEADERSHIP_ALLIANCE_SLUG}
    for briefing in profile.briefings.all():
        assert briefing.body and briefing.source_notes


def test_reference_profile_dependency_map(seeded):
    outgoing = Relationship.objects.filter(source__slug=SLUG)
    approved_targets = set(outgoing.approved().values_list("target__slug", flat=True))
    assert {"foxconn-hon-hai", "openai", "softbank-stargate-ohio"} <= approved_targets
    assert outgoing.submitted().count() == 1
    # the map goes beyond one hop: Foxconn and OpenAI both tie to the Stargate site
    assert Relationship.objects.approved().filter(target__slug="softbank-stargate-ohio").count() >= 3


def test_members_only_content_stays_locked_for_anonymous_readers(seeded):
    from django.contrib.auth.models import AnonymousUser

    profile = Institution.objects.get(slug=SLUG)
    visible = EvidenceItem.objects.filter(institution=profile).public_for(AnonymousUser())
    assert not visible.filter(required_tier__isnull=False).exists()
    assert not Briefing.objects.filter(institution=profile).visible_to(AnonymousUser()).exists()


def test_seeded_reference_profile_round_trips_through_the_admin(seeded, client):
    """Every inline filled in: an unchanged save succeeds and changes nothing readers see."""
    lead = get_user_model().objects.get(username="lead")
    profile = Institution.objects.get(slug=SLUG)
    client.force_login(lead)
    data = admin_form_data(client.get(change_url(profile)))
    response = client.post(change_url(profile), data)
    assert response.status_code == 302, form_errors(response)
    after = Institution.objects.get(slug=SLUG)
    assert after.version == profile.version + 1
    assert after.public_updated_at == profile.public_updated_at


def test_a_failure_leaves_nothing_half_written(monkeypatch):
    from django.core.exceptions import ValidationError

    before = row_counts()
    bad_item = {**demo_data.FOXCONN_OPENAI["evidence"][0], "url": "javascript:alert(1)"}
    broken = {**demo_data.PROFILES[-1], "slug": "broken", "evidence": [bad_item]}
    monkeypatch.setattr(demo_data, "PROFILES", [*demo_data.PROFILES, broken])
    with pytest.raises(ValidationError):
        seed()
    assert row_counts() == before
