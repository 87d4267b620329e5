"""A branded, tidy admin: the newsroom's name on every page, a greeting by name, titles that say
what the list is for, one way to say "public", and help text said once, readable."""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from profiles.citations import CITATION_HELP
from profiles.forms import CITATION_HINT
from profiles.models import Briefing, EvidenceItem, Institution, Watchpoint

from .factories import BriefingFactory, EvidenceItemFactory, InstitutionFactory, WatchpointFactory

pytestmark = pytest.mark.django_db


def page(client, user, url) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def select_options(content: str, name: str) -> list[tuple[str, str]]:
    """The (value, label) pairs of the <select name=…> on the page."""
    select = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', content, re.S)
    assert select is not None, f"no select named {name}"
    return [(value, html.unescape(label).strip())
            for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1))]


@pytest.fixture
def assigned(analyst):
    institution = InstitutionFactory(name="DE-CIX Frankfurt", slug="de-cix-frankfurt")
    assign_perm("profiles.change_institution", analyst, institution)
    return institution


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def add_url(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")


# --- the site's name and the greeting ------------------------------------------------------------


def test_admin_is_titled_btw_profiles_not_django_administration(client, superuser):
    content = page(client, superuser, reverse("admin:index"))
    assert re.search(r"<title>[^<]*BTW Profiles</title>", content)
    assert re.search(r'<div id="site-name"><a href="[^"]*">BTW Profiles</a></div>', content)
    assert "<h1>BTW Profiles</h1>" in content  # the index title
    assert "Django administration" not in content
    assert "Django site admin" not in content


def test_admin_greets_staff_by_full_name(client, staff_factory):
    editor = staff_factory("Analysts", first_name="Site", last_name="Editor")
    content = page(client, editor, reverse("admin:index"))
    assert re.search(r'Signed in as\s*<strong class="staff-name">Site Editor</strong>', content)
    assert "Welcome," not in content


def test_admin_greets_staff_without_a_name_by_username(client, staff_factory):
    editor = staff_factory("Analysts", username="desk7", first_name="", last_name="")
    content = page(client, editor, reverse("admin:index"))
    assert re.search(r'<strong class="staff-name">desk7</strong>', content)


# --- the list's title says what the list is for ---------------------------------------------------


def test_assigned_analyst_list_offers_profiles_to_change(client, analyst, assigned):
    content = page(client, analyst, reverse("admin:profiles_institution_changelist"))
    assert "Select institution to change" in content
    assert "Select institution to view" not in content


def test_moderator_list_offers_profiles_to_view_only(client, moderator, assigned):
    content = page(client, moderator, reverse("admin:profiles_institution_changelist"))
    assert "Select institution to view" in content
    assert "Select institution to change" not in content


def test_analyst_list_title_grants_no_edit_of_an_unassigned_profile(client, analyst, assigned):
    other = InstitutionFactory(name="Verisign", slug="verisign")
    client.force_login(analyst)
    assert client.get(change_url(other)).status_code == 403


# --- "public" is said once: the empty choice of an optional tier gate --------------------------------


PUBLIC_ONCE = ("", "Public (everyone)")


def assert_public_offered_once(options):
    assert options[0] == PUBLIC_ONCE
    labels = [label for _, label in options]
    assert "---------" not in labels
    assert "Public" not in labels
    assert "Strategic Circle" in labels


def test_evidence_inline_offers_public_once(client, analyst, assigned):
    EvidenceItemFactory(institution=assigned)
    content = page(client, analyst, change_url(assigned))
    assert_public_offered_once(select_options(content, "evidence-0-required_tier"))
    assert_public_offered_once(select_options(content, "watchpoints-__prefix__-required_tier"))


def test_evidence_and_watchpoint_pages_offer_public_once(client, analyst, assigned):
    evidence = EvidenceItemFactory(institution=assigned)
    watchpoint = WatchpointFactory(institution=assigned)
    for url in (change_url(evidence), change_url(watchpoint), add_url(EvidenceItem), add_url(Watchpoint)):
        assert_public_offered_once(select_options(page(client, analyst, url), "required_tier"))


def test_briefing_tier_offers_members_tiers_only(client, analyst, assigned):
    briefing = BriefingFactory(institution=assigned)
    for content, name in ((page(client, analyst, change_url(briefing)), "required_tier"),
                          (page(client, analyst, add_url(Briefing)), "required_tier"),
                          (page(client, analyst, change_url(assigned)), "briefings-0-required_tier")):
        labels = [label for _, label in select_options(content, name)]
        assert "Public" not in labels and "Public (everyone)" not in labels
        assert "Strategic Circle" in labels


# --- help text: readable, and said once ---------------------------------------------------------------


def test_slug_help_shows_the_address_pattern(client, analyst):
    content = page(client, analyst, add_url(Institution))
    assert "/profiles//" not in content
    assert "/profiles/‹slug›/" in content


def test_profile_form_explains_citations_once_and_hints_under_each_field(client, analyst, assigned):
    content = page(client, analyst, change_url(assigned))
    assert content.count(html.escape(CITATION_HELP)) == 1
    assert content.count(CITATION_HINT) >= 10  # dek, key points, body, … each keep the short reminder


def test_briefing_page_explains_citations_once(client, analyst, assigned):
    briefing = BriefingFactory(institution=assigned)
    content = page(client, analyst, change_url(briefing))
    assert content.count(html.escape(CITATION_HELP)) == 1
    assert content.count(CITATION_HINT) == 2  # body and source notes
