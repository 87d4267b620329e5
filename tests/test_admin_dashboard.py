"""The admin index's desk for each role (profiles/dashboard.py), and the publication checklist at the
top of the profile's change form.

Moderators see their queues (evidence, relationships, applications) with counts and the oldest
item's age; analysts their drafts, their items with a moderator and the decisions on them; lead
analysts the profiles without an analyst and the stale ones. The index costs the same number of
queries with one item as with two hundred.
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from membership.models import Application
from profiles import dashboard, review
from profiles.models import EvidenceItem, Institution, Relationship

from .factories import (
    ApplicationFactory,
    EvidenceItemFactory,
    FAQItemFactory,
    InstitutionFactory,
    RelationshipFactory,
    StaffFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

S = EvidenceItem.Review
INDEX = "/admin/"


def panel(html: str, panel_id: str) -> str:
    """The HTML of one panel of the desk ('' when it is not there)."""
    match = re.search(rf'<div class="module dashboard-panel [^"]*" id="{panel_id}">(.*?)\n</div>', html, re.S)
    return match.group(1) if match else ""


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def submit(profile, by, **kwargs) -> EvidenceItem:
    item = EvidenceItemFactory.build(institution=profile, review_state=S.SUBMITTED, **kwargs)
    return review.record_submission(item, actor=by)


def age(obj, days, field="submitted_at"):
    type(obj).objects.filter(pk=obj.pk).update(**{field: timezone.now() - datetime.timedelta(days=days)})


@pytest.fixture
def profile():
    return InstitutionFactory(name="LINX London", slug="linx-london")


@pytest.fixture
def lead(staff_factory):
    return staff_factory("Analysts", "Lead analysts")


# --- moderators ---------------------------------------------------------------------------------------


def test_moderator_sees_each_queue_with_its_count_oldest_age_and_link(client, moderator, analyst, profile):
    old = submit(profile, analyst)
    submit(profile, analyst)
    age(old, 3)
    RelationshipFactory(source=profile, review_state=S.SUBMITTED, submitted_by=analyst)
    application = ApplicationFactory()
    Application.objects.filter(pk=application.pk).update(created_at=timezone.now() - datetime.timedelta(days=9))
    client.force_login(moderator)
    html = panel(client.get(INDEX).content.decode(), "moderation-pending")
    text = text_of(html)
    assert "4 items awaiting review" in text
    assert "Evidence 2 waiting 3 days" in text
    assert "Relationships 1 waiting" in text
    assert "Leadership Alliance applications 1 waiting 1 week" in text
    assert 'href="/admin/profiles/evidencequeueitem/"' in html
    assert 'href="/admin/profiles/relationshipqueueitem/"' in html
    assert 'href="/admin/membership/application/?state__exact=pending"' in html


def test_moderator_counts_leave_out_what_they_wrote_and_decided_items(client, moderator, analyst, profile):
    submit(profile, moderator)  # four eyes: another moderator's
    submit(profile, analyst)
    EvidenceItemFactory(institution=profile, review_state=S.APPROVED)
    ApplicationFactory(user=moderator)  # their own application
    ApplicationFactory(state=Application.State.REJECTED)
    client.force_login(moderator)
    text = text_of(panel(client.get(INDEX).content.decode(), "moderation-pending"))
    assert "1 item awaiting review" in text
    assert "Evidence 1" in text and "Leadership Alliance applications 0 —" in text


def test_per_profile_moderator_gets_no_applications_queue(client, staff_factory, analyst, profile):
    local = staff_factory("Analysts")
    assign_perm("profiles.moderate_evidence", local, profile)
    submit(profile, analyst)
    submit(InstitutionFactory(), analyst)  # another profile: not theirs
    client.force_login(local)
    html = panel(client.get(INDEX).content.decode(), "moderation-pending")
    assert "1 item awaiting review" in text_of(html)
    assert "applications" not in html


def test_analyst_gets_no_moderation_panel(client, analyst, profile):
    submit(profile, StaffFactory())
    client.force_login(analyst)
    html = client.get(INDEX).content.decode()
    assert 'id="moderation-pending"' not in html and "awaiting review" not in html


# --- analysts ------------------------------------------------------------------------------------------


def test_analyst_sees_their_drafts_their_items_with_a_moderator_and_decisions(client, analyst, moderator):
    draft = InstitutionFactory(name="Draft of mine", status=Institution.Status.DRAFT, published_at=None)
    InstitutionFactory(name="Draft of someone else", status=Institution.Status.DRAFT, published_at=None)
    published = InstitutionFactory(name="Published of mine")
    for institution in (draft, published):
        assign_perm("profiles.change_institution", analyst, institution)
    waiting = submit(published, analyst, title="Waiting source")
    rejected = submit(published, analyst, title="Rejected source")
    review.reject(rejected, actor=moderator, note="The figure is not in the source.")
    submit(published, StaffFactory(), title="A colleague's source")
    client.force_login(analyst)
    html = panel(client.get(INDEX).content.decode(), "analyst-desk")
    text = text_of(html)
    assert "Drafts (1)" in text and "Draft of mine" in text and "someone else" not in text
    assert reverse("admin:profiles_institution_change", args=[draft.pk]) in html
    assert "Submitted by you, with a moderator (1)" in text and "Waiting source" in text
    assert reverse("admin:profiles_evidenceitem_change", args=[waiting.pk]) in html
    assert "colleague" not in text
    assert "Rejected : " in text.replace("Rejected: ", "Rejected : ") and "The figure is not in the source." in text
    assert "awaiting review" not in text


def test_moderator_alone_gets_no_analyst_desk(client, moderator):
    client.force_login(moderator)
    assert 'id="analyst-desk"' not in client.get(INDEX).content.decode()


def test_analyst_sees_their_profiles_due_for_reverification_with_the_queue_link(client, analyst, settings):
    settings.BTW_REVERIFY_DAYS = 90
    mine = InstitutionFactory(name="Mine, never verified")
    week_ago = timezone.now() - datetime.timedelta(days=7)
    fresh = InstitutionFactory(name="Mine, verified last week", last_verified_at=week_ago)
    InstitutionFactory(name="Someone else's")
    for profile in (mine, fresh):
        assign_perm("profiles.change_institution", analyst, profile)
    client.force_login(analyst)
    html = panel(client.get(INDEX).content.decode(), "analyst-desk")
    assert "Due for re-verification (1)" in text_of(html) and "Mine, never verified" in html
    assert "verified last week" not in html and "Someone else" not in html
    assert reverse("admin:profiles_reverificationqueueitem_changelist") in html


def test_analyst_with_every_profile_verified_is_told_so(client, analyst):
    profile = InstitutionFactory(last_verified_at=timezone.now())
    assign_perm("profiles.change_institution", analyst, profile)
    client.force_login(analyst)
    html = panel(client.get(INDEX).content.decode(), "analyst-desk")
    assert "Due for re-verification (0)" in text_of(html) and "verified recently" in html


# --- lead analysts -------------------------------------------------------------------------------------


def test_lead_sees_profiles_without_an_analyst(client, lead, analyst):
    assigned = InstitutionFactory(name="Assigned profile")
    assign_perm("profiles.change_institution", analyst, assigned)
    InstitutionFactory(name="Profile with nobody")
    InstitutionFactory(name="Archived profile", status=Institution.Status.ARCHIVED)
    client.force_login(lead)
    text = text_of(panel(client.get(INDEX).content.decode(), "lead-desk"))
    assert "Profiles without an analyst (1)" in text and "Profile with nobody" in text
    assert "Assigned profile" not in text and "Archived profile" not in text


def test_lead_sees_profiles_not_saved_for_the_stale_period(client, lead, settings):
    settings.BTW_STALE_DAYS = 30
    stale = InstitutionFactory(name="Untouched profile")
    age(stale, 45, field="updated_at")
    fresh = InstitutionFactory(name="Fresh profile")
    age(fresh, 10, field="updated_at")
    client.force_login(lead)
    text = text_of(panel(client.get(INDEX).content.decode(), "lead-desk"))
    assert "Stale: not saved for 30 days (1)" in text
    assert "Untouched profile" in text and "Fresh profile" not in text.split("Stale:")[1]


def test_stale_period_defaults_to_180_days(settings):
    del settings.BTW_STALE_DAYS
    assert dashboard.stale_days() == 180


def test_analyst_gets_no_lead_desk(client, analyst):
    client.force_login(analyst)
    assert 'id="lead-desk"' not in client.get(INDEX).content.decode()


# --- links -----------------------------------------------------------------------------------------------


def test_the_audit_log_is_one_click_away_for_those_who_read_it(client, lead, analyst):
    client.force_login(lead)
    html = client.get(INDEX).content.decode()
    assert f'href="{reverse("admin:audit_auditentry_changelist")}" class="dashboard-audit-log"' in html
    assert f'href="{reverse("admin:profiles_reviewrecord_changelist")}" class="dashboard-decision-log"' in html
    client.force_login(analyst)
    html = client.get(INDEX).content.decode()
    assert "dashboard-audit-log" not in html
    assert "dashboard-decision-log" in html


def test_index_has_no_inline_style(client, superuser):
    client.force_login(superuser)
    html = client.get(INDEX).content.decode()
    assert "style=" not in html and "profiles/admin_moderation.css" in html


# --- the query budget ----------------------------------------------------------------------------------


def _world(n):
    """n of everything each desk lists: submitted evidence and relationships, pending applications,
    drafts, stale and unassigned profiles, decided items of the analyst."""
    analyst = StaffFactory(username=f"analyst-{n}")
    analyst.groups.add(Group.objects.get(name="Analysts"))
    profiles = Institution.objects.bulk_create([
        Institution(name=f"Profile {i}", slug=f"profile-{n}-{i}", status=Institution.Status.DRAFT)
        for i in range(n)
    ])
    Institution.objects.filter(pk__in=[p.pk for p in profiles]).update(
        updated_at=timezone.now() - datetime.timedelta(days=400)
    )
    target = InstitutionFactory(slug=f"target-{n}")
    now = timezone.now()
    EvidenceItem.objects.bulk_create([
        EvidenceItem(institution=p, url=f"https://e.example.org/{p.pk}", publisher="P", title=f"T{p.pk}",
                     claim="C", review_state=state, submitted_by=analyst, submitted_at=now,
                     reviewed_at=now if state != S.SUBMITTED else None)
        for p in profiles for state in (S.SUBMITTED, S.REJECTED)
    ])
    Relationship.objects.bulk_create([
        Relationship(source=p, target=target, kind=Relationship.Kind.PARTNER, review_state=S.SUBMITTED,
                     submitted_by=analyst)
        for p in profiles
    ])
    for i in range(n):
        ApplicationFactory(user=UserFactory(username=f"applicant-{n}-{i}"))
    return analyst


@pytest.mark.parametrize("rows", [1, 200])
def test_index_query_count_does_not_grow_with_items(client, superuser, rows, django_assert_max_num_queries):
    _world(rows)
    client.force_login(superuser)
    client.get(INDEX)  # warm per-process caches (content types, tier levels)
    with django_assert_max_num_queries(25):
        html = client.get(INDEX).content.decode()
    assert 'id="moderation-pending"' in html and 'id="analyst-desk"' in html and 'id="lead-desk"' in html


def test_index_queries_are_the_same_with_1_and_200_items(client, superuser):
    counts = []
    for rows in (1, 200):
        analyst = _world(rows)
        for user in (superuser, analyst):
            client.force_login(user)
            client.get(INDEX)
            with CaptureQueriesContext(connection) as queries:
                assert client.get(INDEX).status_code == 200
            counts.append(len(queries))
    assert counts[:2] == counts[2:], counts


# --- the profile form's publication checklist ---------------------------------------------------------


def change_form(client, user, institution) -> str:
    client.force_login(user)
    return client.get(reverse("admin:profiles_institution_change", args=[institution.pk])).content.decode()


def checklist_of(html: str) -> str:
    match = re.search(r'<div class="publication-checklist-panel[^"]*" id="publication-checklist">(.*?)</div>\s*\n',
                      html, re.S)
    return match.group(1) if match else ""


@pytest.fixture
def draft(analyst):
    institution = InstitutionFactory(name="Draft profile", status=Institution.Status.DRAFT, published_at=None)
    assign_perm("profiles.change_institution", analyst, institution)
    return institution


def test_checklist_links_to_the_evidence_awaiting_approval(client, analyst, draft):
    pending = submit(draft, analyst, title="Press release of the partnership")
    panel_html = checklist_of(change_form(client, analyst, draft))
    assert "Before publishing" in panel_html and panel_html.count("✗ Missing:") == 1
    assert 'href="#evidence-group"' in panel_html
    assert f'href="{reverse("admin:profiles_evidenceitem_change", args=[pending.pk])}"' in panel_html
    assert "Awaiting approval: “Press release of the partnership”" in panel_html
    assert "style=" not in panel_html


def test_checklist_links_each_unresolved_citation_to_where_it_is_written(client, analyst, draft):
    EvidenceItemFactory(institution=draft, review_state=S.APPROVED)
    pending = submit(draft, analyst)
    Institution.objects.filter(pk=draft.pk).update(body=f"Capacity doubled.[^ev:{pending.pk}]")
    FAQItemFactory(institution=draft, answer="See [^ev:999999].")
    panel_html = checklist_of(change_form(client, analyst, draft))
    assert f'<a href="#id_body">[^ev:{pending.pk}] in what happened</a>' in panel_html
    assert 'href="#faqs-group"' in panel_html
    assert f'href="{reverse("admin:profiles_evidenceitem_change", args=[pending.pk])}"' in panel_html
    assert panel_html.count("✗ Missing:") == 1  # the public evidence check passes: not listed


def test_complete_checklist_of_a_draft_says_ready(client, analyst, draft):
    EvidenceItemFactory(institution=draft, review_state=S.APPROVED)
    html = change_form(client, analyst, draft)
    assert checklist_of(html) == ""
    assert 'id="publication-checklist">Ready to publish: every item of the publication checklist is done.' in html


def test_published_profile_with_a_complete_checklist_shows_no_panel(client, lead):
    published = InstitutionFactory()
    EvidenceItemFactory(institution=published, review_state=S.APPROVED)
    assert 'id="publication-checklist"' not in change_form(client, lead, published)
