"""The decision log (profiles/admin/decision_log.py): every review decision on one admin page.

Read from the audit log, where each decision is recorded once: who decided, when, what, the outcome
and the reason, newest first; filterable by outcome, kind and moderator; paginated; scoped —
moderators and lead analysts see all, analysts only decisions on their own profiles' items.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from membership import services as membership_services
from profiles import review
from profiles.models import EvidenceItem

from .factories import EvidenceItemFactory, InstitutionFactory, RelationshipFactory, StaffFactory
from .factories_membership import pending_applicant

pytestmark = pytest.mark.django_db

S = EvidenceItem.Review
LOG = reverse("admin:profiles_reviewrecord_changelist")


def rows_of(html: str) -> list[str]:
    """Each row of the log as plain text."""
    rows = re.findall(r'<tr class="decision-log-row[^"]*">(.*?)</tr>', html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def kinds_of(html: str) -> list[str]:
    """The "Kind" cell of each row."""
    rows = re.findall(r'<tr class="decision-log-row[^"]*">(.*?)</tr>', html, re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[2].strip() for row in rows]


def submit(profile, by, **kwargs) -> EvidenceItem:
    item = EvidenceItemFactory.build(institution=profile, review_state=S.SUBMITTED, **kwargs)
    return review.record_submission(item, actor=by)


@pytest.fixture
def mine():
    return InstitutionFactory(name="Mine Exchange", slug="mine-exchange")


@pytest.fixture
def theirs():
    return InstitutionFactory(name="Other Registry", slug="other-registry")


@pytest.fixture
def named_moderator(staff_factory):
    return staff_factory("Moderators", first_name="Mona", last_name="Moderator")


@pytest.fixture
def decisions(named_moderator, analyst, mine, theirs):
    """Three decisions, oldest first: evidence approved on `mine`, a relationship rejected on
    `theirs`, an application approved — plus a submission and an application, which are not decisions."""
    approved = submit(mine, analyst, title="Annual report 2025")
    review.approve(approved, actor=named_moderator, note="Matches the filing.")
    relationship = RelationshipFactory(source=theirs, target=mine, review_state=S.SUBMITTED, submitted_by=analyst)
    review.reject(relationship, actor=named_moderator, note="No source names the supplier.")
    submit(mine, analyst, title="Still waiting")
    application = pending_applicant()
    membership_services.approve_application(application=application, reviewer=named_moderator, note="Welcome.")
    return {"evidence": approved, "relationship": relationship, "application": application}


def test_log_lists_every_decision_newest_first_with_who_what_outcome_and_reason(
    client, named_moderator, decisions
):
    client.force_login(named_moderator)
    response = client.get(LOG)
    html = response.content.decode()
    rows = rows_of(html)
    assert len(rows) == 3  # the submission and the application itself are not decisions
    assert "Application" in rows[0] and "Approved" in rows[0] and "Welcome." in rows[0]
    assert "Relationship" in rows[1] and "Rejected" in rows[1] and "No source names the supplier." in rows[1]
    assert "Other Registry" in rows[1]
    assert "Evidence" in rows[2] and "Annual report 2025" in rows[2] and "Matches the filing." in rows[2]
    assert all("Mona Moderator" in row for row in rows)
    assert reverse("admin:profiles_evidenceitem_change", args=[decisions["evidence"].pk]) in html
    assert reverse("admin:membership_application_change", args=[decisions["application"].pk]) in html
    assert "<title>Decision log" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("outcome=rejected", ["Relationship"]),
        ("outcome=approved", ["Application", "Evidence"]),
        ("kind=evidence", ["Evidence"]),
        ("kind=application&outcome=approved", ["Application"]),
        ("outcome=retracted", []),
    ],
)
def test_log_filters_by_outcome_and_kind(client, named_moderator, decisions, query, expected):
    client.force_login(named_moderator)
    assert kinds_of(client.get(f"{LOG}?{query}").content.decode()) == expected


def test_log_filters_by_moderator(client, named_moderator, analyst, mine, decisions, superuser):
    other = submit(mine, analyst, title="Decided by the superuser")
    review.approve(other, actor=superuser)
    client.force_login(named_moderator)
    html = client.get(f"{LOG}?moderator={superuser.pk}").content.decode()
    assert [("Decided by the superuser" in row) for row in rows_of(html)] == [True]
    assert f'<option value="{named_moderator.pk}">Mona Moderator</option>' in html


def test_bad_filter_value_is_reported_on_its_field_and_left_off(client, named_moderator, decisions):
    client.force_login(named_moderator)
    response = client.get(f"{LOG}?outcome=deleted&kind=evidence")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Select a valid choice" in html and "decision-log-error" in html
    assert len(rows_of(html)) == 1  # the valid filter (kind) still applies


def test_log_is_paginated_and_keeps_its_filters(client, named_moderator, analyst, mine):
    for n in range(51):
        review.approve(submit(mine, analyst, title=f"Source {n}"), actor=named_moderator)
    client.force_login(named_moderator)
    html = client.get(f"{LOG}?outcome=approved").content.decode()
    assert len(rows_of(html)) == 50 and "Source 50" in rows_of(html)[0]
    assert 'href="?outcome=approved&amp;p=2"' in html
    page_two = rows_of(client.get(f"{LOG}?outcome=approved&p=2").content.decode())
    assert len(page_two) == 1 and "Source 0" in page_two[0]


# --- scope -----------------------------------------------------------------------------------------------


def test_analyst_sees_only_decisions_on_their_profiles(client, analyst, mine, decisions):
    assign_perm("profiles.change_institution", analyst, mine)
    client.force_login(analyst)
    rows = rows_of(client.get(LOG).content.decode())
    assert len(rows) == 1 and "Annual report 2025" in rows[0]  # not the other profile's, not applications


def test_unassigned_analyst_sees_no_decisions(client, staff_factory, decisions):
    client.force_login(staff_factory("Analysts"))
    response = client.get(LOG)
    assert response.status_code == 200 and rows_of(response.content.decode()) == []
    assert "No decisions" in response.content.decode()


def test_per_profile_moderator_sees_their_profiles_decisions(client, staff_factory, theirs, decisions):
    local = staff_factory()
    assign_perm("profiles.moderate_evidence", local, theirs)
    client.force_login(local)
    rows = rows_of(client.get(LOG).content.decode())
    assert len(rows) == 1 and "Relationship" in rows[0]


@pytest.mark.parametrize("role", ["lead", "global moderator", "superuser"])
def test_leads_and_moderators_see_every_decision(client, staff_factory, decisions, role):
    user = {
        "lead": lambda: staff_factory("Analysts", "Lead analysts"),
        "global moderator": lambda: staff_factory("Moderators"),
        "superuser": lambda: StaffFactory(is_superuser=True),
    }[role]()
    client.force_login(user)
    assert len(rows_of(client.get(LOG).content.decode())) == 3


def test_readers_are_sent_to_sign_in(client, member_factory, decisions):
    client.force_login(member_factory())
    response = client.get(LOG)
    assert response.status_code == 302 and "login" in response["Location"]


def test_log_has_no_inline_style_or_script(client, named_moderator, decisions):
    client.force_login(named_moderator)
    html = client.get(LOG).content.decode()
    assert "style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)


# --- the query budget ------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 200])
@pytest.mark.parametrize("who", ["global", "analyst"])
def test_log_query_budget(client, staff_factory, analyst, mine, django_assert_max_num_queries, count, who):
    moderator = staff_factory("Moderators")
    for n in range(count):
        review.approve(submit(mine, analyst, title=f"Source {n}"), actor=moderator)
    viewer = moderator
    if who == "analyst":
        viewer = staff_factory("Analysts")
        assign_perm("profiles.change_institution", viewer, mine)
    client.force_login(viewer)
    client.get(LOG)  # warm per-process caches (content types)
    with django_assert_max_num_queries(12):
        html = client.get(LOG).content.decode()
    assert len(rows_of(html)) == min(count, 50)


def test_the_moderation_queue_links_to_the_decision_log(client, named_moderator):
    client.force_login(named_moderator)
    html = client.get("/admin/profiles/evidencequeueitem/").content.decode()
    assert f'<a href="{LOG}" class="decision-log-link">Decision log</a>' in html
