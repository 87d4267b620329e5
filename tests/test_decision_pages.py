"""The decision (note) pages of moderators: applications, evidence and relationships.

The page is titled by the action its button takes; the button is the action (primary), cancelling is
a plain link; and it never offers a decision that will be refused: a row the moderator may not decide
(four eyes, already decided) says why, is not posted back, and is not counted on the button.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from membership.models import Application
from profiles import review
from profiles.models import EvidenceItem

from .factories import ApplicationFactory, EvidenceItemFactory, InstitutionFactory, RelationshipFactory
from .factories_membership import moderator as application_moderator
from .factories_membership import pending_applicant

pytestmark = pytest.mark.django_db

S = EvidenceItem.Review
APPLICATIONS = reverse("admin:membership_application_changelist")
EVIDENCE_QUEUE = "/admin/profiles/evidencequeueitem/"


def decide_url(application, decision=None) -> str:
    url = reverse("admin:membership_application_decide", args=[application.pk])
    return f"{url}?decision={decision}" if decision else url


def review_url(item, decision) -> str:
    return reverse(f"admin:profiles_{item._meta.model_name}_review", args=[item.pk]) + f"?decision={decision}"


def title_of(html: str) -> str:
    return re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()


def breadcrumbs_of(html: str) -> str:
    crumbs = re.search(r'<div class="breadcrumbs">(.*?)</div>', html, re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", "", crumbs).split())


def buttons_of(html: str) -> list[str]:
    """The submit buttons of the page's decision form, as `class|label`."""
    buttons = re.findall(r'<button type="submit"[^>]*class="([^"]*)"[^>]*>(.*?)</button>', html, re.S)
    inputs = re.findall(r'<input type="submit" class="([^"]*)" value="([^"]*)">', html)
    return [f"{cls}|{label.strip()}" for cls, label in [*buttons, *inputs]]


def posted_ids(html: str) -> list[str]:
    return re.findall(r'name="_selected_action" value="(\d+)"', html)


def submit(profile, by, **kwargs) -> EvidenceItem:
    item = EvidenceItemFactory.build(institution=profile, review_state=S.SUBMITTED, **kwargs)
    return review.record_submission(item, actor=by)


@pytest.fixture
def profile():
    return InstitutionFactory(name="Equinix FR5", slug="equinix-fr5")


# --- titles and breadcrumbs say the action taken --------------------------------------------------------


def test_approving_one_application_is_titled_approve_application(client):
    application = pending_applicant()
    client.force_login(application_moderator())
    html = client.get(decide_url(application, "approve")).content.decode()
    assert title_of(html).startswith("Approve application")
    assert breadcrumbs_of(html).endswith("Approve application")
    assert "Reject application" not in html


def test_rejecting_several_applications_is_titled_reject_applications(client):
    applications = [pending_applicant(), pending_applicant()]
    client.force_login(application_moderator())
    response = client.post(
        APPLICATIONS, {"action": "reject_selected", "_selected_action": [a.pk for a in applications]}
    )
    html = response.content.decode()
    assert title_of(html).startswith("Reject applications")
    assert breadcrumbs_of(html).endswith("Reject applications")
    assert "Approve" not in title_of(html)


def test_approve_action_on_applications_is_titled_approve_not_reject(client):
    application = pending_applicant()
    client.force_login(application_moderator())
    response = client.post(APPLICATIONS, {"action": "approve_selected", "_selected_action": [application.pk]})
    html = response.content.decode()
    assert title_of(html).startswith("Approve application")
    assert "Reject applications" not in html


def test_application_page_without_a_preset_decision_offers_both_and_names_both(client):
    application = pending_applicant()
    client.force_login(application_moderator())
    html = client.get(decide_url(application)).content.decode()
    assert title_of(html).startswith("Approve or reject application")
    assert buttons_of(html) == [
        "button decision-submit decision-approve default|Approve",
        "button decision-submit decision-reject|Reject",
    ]


def test_a_refused_rejection_comes_back_titled_reject(client):
    application = pending_applicant()
    client.force_login(application_moderator())
    response = client.post(decide_url(application), {"decision": "reject", "note": "", "confirm": "yes"})
    html = response.content.decode()
    assert response.status_code == 200 and "a note is required to reject" in html
    assert title_of(html).startswith("Reject application")
    application.refresh_from_db()
    assert application.state == Application.State.PENDING


def test_evidence_pages_are_titled_by_the_decision_and_the_item(client, moderator, analyst, profile):
    items = [submit(profile, analyst), submit(profile, analyst)]
    client.force_login(moderator)
    html = client.get(review_url(items[0], "reject")).content.decode()
    assert breadcrumbs_of(html).endswith("Reject evidence item")
    html = client.post(EVIDENCE_QUEUE, {"action": "approve_selected", "_selected_action": [i.pk for i in items]})
    assert title_of(html.content.decode()).startswith("Approve evidence items")


# --- the primary button is the action; cancelling is a link ---------------------------------------------


def test_the_decision_is_the_primary_button_and_cancel_a_plain_link(client):
    application = pending_applicant()
    client.force_login(application_moderator())
    html = client.get(decide_url(application, "approve")).content.decode()
    assert buttons_of(html) == ["button default decision-submit decision-approve|Approve 1 application"]
    cancel = re.search(r'<a href="([^"]+)" class="decision-cancel">Cancel</a>', html)
    assert cancel and cancel.group(1) == reverse("admin:membership_application_change", args=[application.pk])
    assert "No, take me back" not in html


def test_cancel_from_the_queue_goes_back_to_the_queue(client, moderator, analyst, profile):
    item = submit(profile, analyst)
    client.force_login(moderator)
    html = client.post(EVIDENCE_QUEUE, {"action": "reject_selected", "_selected_action": [item.pk]}).content.decode()
    assert f'<a href="{EVIDENCE_QUEUE}" class="decision-cancel">Cancel</a>' in html
    assert buttons_of(html) == ["button default decision-submit decision-reject|Reject 1 item"]


def test_decision_page_has_no_inline_style_or_script(client, moderator, analyst, profile):
    item = submit(profile, analyst)
    client.force_login(moderator)
    html = client.get(review_url(item, "retract")).content.decode()
    assert "style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "profiles/admin_moderation.css" in html


# --- four eyes: only what will go through is offered ----------------------------------------------------


def test_four_eyes_page_offers_only_the_items_the_moderator_may_approve(client, moderator, analyst, profile):
    theirs = submit(profile, analyst, title="Analyst's source")
    own = submit(profile, moderator, title="Moderator's own source")
    client.force_login(moderator)
    response = client.post(
        "/admin/profiles/evidenceitem/", {"action": "approve_selected", "_selected_action": [theirs.pk, own.pk]}
    )
    html = response.content.decode()
    assert buttons_of(html) == ["button default decision-submit decision-approve|Approve 1 item"]
    assert posted_ids(html) == [str(theirs.pk)]  # the refused row is not posted back
    assert "you wrote or changed it: another moderator must decide it" in html
    assert "1 of the 2 selected will be left as is" in html


def test_confirming_the_four_eyes_page_approves_the_rest_without_an_error(client, moderator, analyst, profile):
    theirs = submit(profile, analyst)
    own = submit(profile, moderator)
    client.force_login(moderator)
    response = client.post("/admin/profiles/evidenceitem/", {
        "action": "approve_selected", "_selected_action": [theirs.pk], "decision": "approve", "note": "",
        "confirm": "yes",
    })  # what the page posts
    messages = [str(m) for m in response.wsgi_request._messages]
    assert review.is_author(own, moderator)
    assert EvidenceItem.objects.get(pk=theirs.pk).review_state == S.APPROVED
    assert EvidenceItem.objects.get(pk=own.pk).review_state == S.SUBMITTED
    assert messages == ["1 evidence item approved; its submitter is e-mailed the decision."]


def test_nothing_to_approve_offers_no_button_and_says_why(client, moderator, profile):
    own = submit(profile, moderator, title="Only my own source")
    client.force_login(moderator)
    html = client.get(review_url(own, "approve")).content.decode()
    assert buttons_of(html) == []
    assert 'name="note"' not in html and 'name="confirm"' not in html
    assert "Nothing here is yours to approve" in html
    assert "you wrote or changed it" in html
    assert 'class="button default decision-back"' in html


def test_already_decided_items_are_not_offered_again(client, moderator, analyst, superuser, profile):
    decided = submit(profile, analyst, title="Decided elsewhere")
    review.approve(decided, actor=superuser)
    relationship = RelationshipFactory(source=profile, review_state=S.SUBMITTED, submitted_by=analyst)
    client.force_login(moderator)
    html = client.post("/admin/profiles/evidenceitem/",
                       {"action": "reject_selected", "_selected_action": [decided.pk]}).content.decode()
    assert buttons_of(html) == [] and "already approved" in html
    html = client.get(review_url(relationship, "approve")).content.decode()
    assert buttons_of(html) == ["button default decision-submit decision-approve|Approve 1 item"]


def test_own_application_is_not_offered_to_its_moderator(client):
    reviewer = application_moderator()
    own = ApplicationFactory(user=reviewer)
    other = pending_applicant()
    client.force_login(reviewer)
    html = client.post(APPLICATIONS, {"action": "approve_selected", "_selected_action": [own.pk, other.pk]})
    html = html.content.decode()
    assert buttons_of(html) == ["button default decision-submit decision-approve|Approve 1 application"]
    assert posted_ids(html) == [str(other.pk)]
    assert "your own: another moderator must decide it" in html
