"""Moderation in the admin: the queue, its actions, the change form's buttons, and forged POSTs.

Every refusal is asserted twice: the moderator is told why (a message naming the item), and
nothing changed (state, review records, admin log). Each permission rule has a permitted and
a denied test; `test_permission_matrix` states the whole role × action table in one place.
"""

from __future__ import annotations

import threading

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from guardian.shortcuts import assign_perm

from membership.models import Tier
from outbox.models import OutgoingMail
from profiles import review, services
from profiles.models import EvidenceItem, FAQItem, ReviewRecord

from .factories import (
    EvidenceItemFactory,
    FAQItemFactory,
    InstitutionFactory,
    RelationshipFactory,
    StaffFactory,
    tier,
)
from .test_admin import add_inline_row, admin_form_data, change_url, form_errors

pytestmark = pytest.mark.django_db

S = EvidenceItem.Review
EVIDENCE_QUEUE = "/admin/profiles/evidencequeueitem/"
RELATIONSHIP_QUEUE = "/admin/profiles/relationshipqueueitem/"
EVIDENCE_CHANGELIST = "/admin/profiles/evidenceitem/"
INDEX = "/admin/"


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def profile():
    return InstitutionFactory(name="DE-CIX Frankfurt", slug="de-cix-frankfurt")


@pytest.fixture
def other_profile():
    return InstitutionFactory(name="Verisign", slug="verisign")


@pytest.fixture
def local_moderator(staff_factory, profile):
    """An analyst who moderates one profile only (guardian `moderate_evidence` on it)."""
    user = staff_factory("Analysts", first_name="Lena", last_name="Local")
    assign_perm("profiles.moderate_evidence", user, profile)
    return user


def submit(institution, by, **kwargs) -> EvidenceItem:
    """Evidence entering review the way the admin makes it: through `review.record_submission`."""
    item = EvidenceItemFactory.build(institution=institution, review_state=S.SUBMITTED, **kwargs)
    return review.record_submission(item, actor=by)


def login(client, user):
    client.force_login(user)
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


def choose(client, url, action, items):
    """Pick an action in the changelist: the note page comes back, nothing is decided yet."""
    return client.post(url, {"action": action, "_selected_action": [i.pk for i in items], "index": 0})


def confirm(client, url, action, items, decision, note=""):
    """Confirm the note page (what its form posts)."""
    return client.post(
        url,
        {
            "action": action,
            "_selected_action": [i.pk for i in items],
            "decision": decision,
            "note": note,
            "confirm": "yes",
        },
    )


def review_url(item) -> str:
    return reverse(f"admin:profiles_{item._meta.model_name}_review", args=[item.pk])


def snapshot(*items):
    """What a decision could change: each item's review fields, the records, the admin log."""
    rows = []
    for item in items:
        fresh = type(item).objects.get(pk=item.pk)
        rows.append((fresh.pk, fresh.review_state, fresh.reviewed_by_id, fresh.review_note))
    return rows, ReviewRecord.objects.count(), LogEntry.objects.count()


def state_of(item) -> str:
    return type(item).objects.values_list("review_state", flat=True).get(pk=item.pk)


# --- the queue ---------------------------------------------------------------------------------


def test_queue_lists_submitted_items_oldest_submission_first(client, moderator, analyst, profile, other_profile):
    first = submit(profile, analyst, claim="First in.")
    second = submit(other_profile, analyst, claim="Second in.")
    resubmitted = submit(profile, analyst, claim="Rejected, then edited.")
    review.reject(resubmitted, actor=moderator, note="Wrong date.")
    resubmitted.claim = "Rejected, then edited: the date is fixed."
    services.save_reviewed_item(item=resubmitted, user=analyst)  # back in review: its age restarts at the back
    EvidenceItemFactory(institution=profile, review_state=S.APPROVED)
    EvidenceItemFactory(institution=profile, review_state=S.REJECTED)
    response = login(client, moderator).get(EVIDENCE_QUEUE)
    assert response.status_code == 200
    assert [item.pk for item in response.context["cl"].result_list] == [first.pk, second.pk, resubmitted.pk]


def test_queue_shows_claim_source_profile_submitter_and_age(client, moderator, staff_factory, profile):
    analyst = staff_factory("Analysts", first_name="Ana", last_name="Lyst")
    submit(
        profile, analyst, claim="Peak traffic passed 17 Tbit/s. " * 10, publisher="DE-CIX",
        title="New traffic record", url="https://www.de-cix.net/en/news/record",
    )
    html = login(client, moderator).get(EVIDENCE_QUEUE).content.decode()
    assert "Peak traffic passed 17 Tbit/s." in html and "…" in html  # truncated claim
    assert 'href="https://www.de-cix.net/en/news/record"' in html and "DE-CIX" in html
    assert "DE-CIX Frankfurt" in html and "Ana Lyst" in html
    assert "ago" in html and 'value="approve_selected"' in html and 'value="reject_selected"' in html
    assert 'value="delete_selected"' not in html


def test_queue_leaves_out_what_the_moderator_submitted(client, moderator, analyst, profile):
    theirs = submit(profile, analyst)
    submit(profile, moderator)
    response = login(client, moderator).get(EVIDENCE_QUEUE)
    assert [item.pk for item in response.context["cl"].result_list] == [theirs.pk]


def test_per_profile_moderator_queue_holds_only_their_profile(
    client, local_moderator, analyst, profile, other_profile
):
    mine = submit(profile, analyst)
    submit(other_profile, analyst)
    response = login(client, local_moderator).get(EVIDENCE_QUEUE)
    assert response.status_code == 200
    assert [item.pk for item in response.context["cl"].result_list] == [mine.pk]


def test_per_profile_moderator_without_any_group_uses_the_queue(client, staff_factory, analyst, profile):
    bare = staff_factory()  # staff, no group, one guardian permission
    assign_perm("profiles.moderate_evidence", bare, profile)
    item = submit(profile, analyst)
    login(client, bare)
    assert [i.pk for i in client.get(EVIDENCE_QUEUE).context["cl"].result_list] == [item.pk]
    assert client.get(change_url(item)).status_code == 200
    confirm(client, EVIDENCE_QUEUE, "approve_selected", [item], "approve")
    assert state_of(item) == S.APPROVED


def test_old_queue_addresses_redirect_to_the_queue(client, moderator):
    login(client, moderator)
    for old, new in [
        ("admin:profiles_evidenceitem_queue", EVIDENCE_QUEUE),
        ("admin:profiles_relationship_queue", RELATIONSHIP_QUEUE),
    ]:
        response = client.get(reverse(old))
        assert response.status_code == 302 and response["Location"] == new


def test_queue_rows_open_the_items_own_page_with_its_review_buttons(client, moderator, analyst, profile):
    item = submit(profile, analyst)
    html = login(client, moderator).get(EVIDENCE_QUEUE).content.decode()
    assert f'href="{change_url(item)}' in html
    assert "/evidencequeueitem/" + str(item.pk) not in html  # the queue has no pages of its own


def test_analyst_gets_403_from_the_queue(client, analyst, profile):
    item = submit(profile, StaffFactory())
    login(client, analyst)
    assert client.get(EVIDENCE_QUEUE).status_code == 403
    before = snapshot(item)
    assert confirm(client, EVIDENCE_QUEUE, "approve_selected", [item], "approve").status_code == 403
    assert snapshot(item) == before


def test_relationship_queue_lists_submitted_relationships(client, moderator, analyst, profile, other_profile):
    evidence = EvidenceItemFactory(institution=profile, publisher="Reuters")
    rel = RelationshipFactory(
        source=profile, target=other_profile, review_state=S.SUBMITTED, submitted_by=analyst,
        description="Peers at the exchange.", evidence=evidence,
    )
    RelationshipFactory(source=profile, review_state=S.APPROVED)
    response = login(client, moderator).get(RELATIONSHIP_QUEUE)
    assert [r.pk for r in response.context["cl"].result_list] == [rel.pk]
    assert "Reuters" in response.content.decode()
    confirm(client, RELATIONSHIP_QUEUE, "approve_selected", [rel], "approve")
    assert state_of(rel) == S.APPROVED


#: Session, user, the user's permissions (user + group), for a per-profile moderator whether they
#: moderate anything (guardian), the changelist's two counts (page and unfiltered), and the page of
#: rows with profile, tier, submitter and submission time joined in one query. None per row:
#: 7 for a global moderator, 8 for a per-profile one, at 1 and at 200 rows.
QUEUE_QUERIES = 8


@pytest.mark.parametrize("rows", [1, 200])
@pytest.mark.parametrize("who", ["moderator", "local_moderator"])
def test_queue_query_budget(client, django_assert_max_num_queries, rows, who, request, profile, staff_factory):
    user = request.getfixturevalue(who)
    analysts = [staff_factory("Analysts") for _ in range(3)]
    sc = tier(Tier.STRATEGIC_CIRCLE_SLUG)
    for n in range(rows):
        submit(profile, analysts[n % 3], required_tier=sc if n % 2 else None)
    login(client, user)
    client.get(EVIDENCE_QUEUE)  # warm process-wide caches (content types, templates)
    with django_assert_max_num_queries(QUEUE_QUERIES) as captured:
        response = client.get(EVIDENCE_QUEUE)
    assert response.status_code == 200
    assert response.context["cl"].result_count == rows
    print(f"queue queries, {who}, {rows} rows: {len(captured)}")


# --- the actions -------------------------------------------------------------------------------


def test_approve_action_asks_then_approves_each_object_by_object(
    client, moderator, analyst, profile, django_capture_on_commit_callbacks
):
    items = [submit(profile, analyst), submit(profile, analyst)]
    login(client, moderator)
    page = choose(client, EVIDENCE_QUEUE, "approve_selected", items)
    assert page.status_code == 200 and 'name="note"' in page.content.decode()
    assert all(state_of(i) == S.SUBMITTED for i in items)  # nothing decided yet

    with django_capture_on_commit_callbacks(execute=True):
        response = confirm(client, EVIDENCE_QUEUE, "approve_selected", items, "approve", note="Checked.")
    assert response.status_code == 302 and response["Location"] == EVIDENCE_QUEUE
    for item in items:
        item.refresh_from_db()
        assert (item.review_state, item.reviewed_by, item.review_note) == (S.APPROVED, moderator, "Checked.")
        record = ReviewRecord.objects.for_item(item).first()
        assert (record.from_state, record.to_state, record.actor) == (S.SUBMITTED, S.APPROVED, moderator)
        assert LogEntry.objects.filter(object_id=str(item.pk), user=moderator).exists()
        latest = item.history.latest("history_date")
        assert latest.history_change_reason == "review: submitted → approved"
        assert latest.history_user == moderator
    assert len(mail.outbox) == 2 and mail.outbox[0].to == [analyst.email]


def test_reject_action_without_a_note_is_refused_and_changes_nothing(client, moderator, analyst, profile):
    item = submit(profile, analyst)
    login(client, moderator)
    before = snapshot(item)
    response = confirm(client, EVIDENCE_QUEUE, "reject_selected", [item], "reject", note="   ")
    assert response.status_code == 200
    assert "A rejection needs a note" in response.content.decode()
    assert snapshot(item) == before


def test_reject_action_with_a_note_rejects_and_tells_the_analyst(
    client, moderator, analyst, profile, django_capture_on_commit_callbacks
):
    item = submit(profile, analyst, title="Traffic record")
    login(client, moderator)
    with django_capture_on_commit_callbacks(execute=True):
        confirm(client, EVIDENCE_QUEUE, "reject_selected", [item], "reject", note="The source says 14 Tbit/s.")
    item.refresh_from_db()
    assert item.review_state == S.REJECTED and item.review_note == "The source says 14 Tbit/s."
    [message] = mail.outbox
    assert message.to == [analyst.email] and "rejected" in message.subject
    assert "The source says 14 Tbit/s." in message.body
    assert "The source says 14 Tbit/s." in message.alternatives[0][0]
    assert change_url(item) in message.body


def test_bulk_action_names_each_refused_item_and_decides_the_rest(client, moderator, analyst, profile):
    good = submit(profile, analyst, title="Good source")
    own = submit(profile, moderator, title="Own source")
    decided = submit(profile, analyst, title="Decided source")
    review.approve(decided, actor=StaffFactory(is_superuser=True))
    login(client, moderator)
    before = snapshot(own, decided)
    response = confirm(client, EVIDENCE_CHANGELIST, "reject_selected", [good, own, decided], "reject", note="No.")
    messages = messages_of(response)
    assert state_of(good) == S.REJECTED
    assert snapshot(own, decided)[0] == before[0]
    assert any("Own source" in m and "Four eyes" in m for m in messages)
    assert any("Decided source" in m and "already approved" in m for m in messages)
    assert any(m.startswith("1 evidence item rejected") for m in messages)


def test_stale_queue_page_loser_is_told_the_item_was_already_approved(client, moderator, analyst, profile):
    item = submit(profile, analyst, title="Contested source")
    login(client, moderator)
    choose(client, EVIDENCE_QUEUE, "reject_selected", [item])  # the page this moderator is reading
    colleague = StaffFactory(is_superuser=True, first_name="Cora", last_name="Colleague")
    review.approve(item, actor=colleague)  # a colleague decides first
    before = snapshot(item)
    response = confirm(client, EVIDENCE_QUEUE, "reject_selected", [item], "reject", note="Too late.")
    assert snapshot(item) == before
    [message] = messages_of(response)
    assert "Contested source" in message and "already approved by Cora Colleague" in message


def test_retracting_a_submitted_item_is_an_illegal_move(client, moderator, analyst, profile):
    item = submit(profile, analyst, title="Pending source")
    login(client, moderator)
    before = snapshot(item)
    response = confirm(client, EVIDENCE_CHANGELIST, "retract_selected", [item], "retract", note="Withdraw.")
    assert snapshot(item) == before
    assert any("Pending source" in m and "only approved items can be retracted" in m for m in messages_of(response))


def test_retraction_needs_a_note_then_withdraws_the_item(client, moderator, analyst, profile):
    item = submit(profile, analyst)
    review.approve(item, actor=moderator)
    login(client, moderator)
    before = snapshot(item)
    response = confirm(client, EVIDENCE_CHANGELIST, "retract_selected", [item], "retract", note="")
    assert response.status_code == 200 and "A retraction needs a note" in response.content.decode()
    assert snapshot(item) == before
    confirm(client, EVIDENCE_CHANGELIST, "retract_selected", [item], "retract", note="The outlet corrected it.")
    assert state_of(item) == S.RETRACTED
    assert ReviewRecord.objects.for_item(item).first().note == "The outlet corrected it."


def test_analyst_forging_the_approve_action_is_told_and_nothing_changes(client, analyst, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    item = submit(profile, StaffFactory())
    login(client, analyst)
    assert 'value="approve_selected"' not in client.get(EVIDENCE_CHANGELIST).content.decode()
    before = snapshot(item)
    response = confirm(client, EVIDENCE_CHANGELIST, "approve_selected", [item], "approve")
    assert response.status_code == 302
    assert snapshot(item) == before
    assert any("Only moderators approve" in m for m in messages_of(response))


def test_per_profile_moderator_cannot_decide_another_profiles_item(
    client, local_moderator, analyst, profile, other_profile
):
    mine = submit(profile, analyst, title="Mine")
    hidden = submit(other_profile, analyst, title="Hidden elsewhere")
    login(client, local_moderator)
    before = snapshot(hidden)
    response = confirm(client, EVIDENCE_QUEUE, "approve_selected", [mine, hidden], "approve")
    assert state_of(mine) == S.APPROVED
    assert snapshot(hidden)[0] == before[0]
    messages = messages_of(response)
    assert any(f"Item #{hidden.pk}: not found" in m for m in messages)
    assert not any("Hidden elsewhere" in m for m in messages)  # no hint of what it is


def test_moderator_who_edits_a_profile_still_cannot_decide_its_evidence(
    client, local_moderator, analyst, other_profile
):
    assign_perm("profiles.change_institution", local_moderator, other_profile)  # sees it, may not decide it
    item = submit(other_profile, analyst, title="Edited, not moderated")
    login(client, local_moderator)
    before = snapshot(item)
    response = confirm(client, EVIDENCE_CHANGELIST, "approve_selected", [item], "approve")
    assert snapshot(item) == before
    assert any("Edited, not moderated" in m and "may not moderate" in m for m in messages_of(response))


def test_superuser_is_bound_by_four_eyes_in_the_admin(client, superuser, profile):
    item = submit(profile, superuser, title="Self-submitted")
    login(client, superuser)
    before = snapshot(item)
    response = client.post(review_url(item), {"decision": "approve", "confirm": "yes", "note": ""})
    assert snapshot(item) == before
    assert any("Four eyes" in m for m in messages_of(response))


def test_one_person_newsroom_setting_lets_the_superuser_self_review(client, settings, superuser, profile):
    settings.BTW_ALLOW_SELF_REVIEW = True
    item = submit(profile, superuser)
    login(client, superuser)
    assert [i.pk for i in client.get(EVIDENCE_QUEUE).context["cl"].result_list] == [item.pk]
    client.post(review_url(item), {"decision": "approve", "confirm": "yes", "note": ""})
    assert state_of(item) == S.APPROVED


# --- the permission matrix: role × action → result -------------------------------------------------

MATRIX = [
    # role,                         whose item,  action,    permitted
    ("global moderator", "analyst", "approve", True),
    ("global moderator", "analyst", "reject", True),
    ("global moderator", "analyst", "retract", True),
    ("global moderator", "self", "approve", False),
    ("local moderator (own profile)", "analyst", "approve", True),
    ("local moderator (own profile)", "analyst", "reject", True),
    ("local moderator (own profile)", "analyst", "retract", True),
    ("local moderator (other profile)", "analyst", "approve", False),
    ("local moderator (other profile)", "analyst", "reject", False),
    ("analyst", "analyst2", "approve", False),
    ("analyst", "analyst2", "reject", False),
    ("analyst", "analyst2", "retract", False),
    ("superuser", "analyst", "approve", True),
    ("superuser", "self", "approve", False),
    ("superuser", "self", "reject", False),
]


@pytest.mark.parametrize("role,whose,action,permitted", MATRIX)
def test_permission_matrix(client, staff_factory, profile, other_profile, role, whose, action, permitted):
    analyst = staff_factory("Analysts")
    if role == "global moderator":
        actor = staff_factory("Moderators")
    elif role.startswith("local moderator"):
        actor = staff_factory("Analysts")
        assign_perm("profiles.change_institution", actor, profile)
        assign_perm("profiles.change_institution", actor, other_profile)  # sees both, moderates one
        assign_perm("profiles.moderate_evidence", actor, profile)
    elif role == "analyst":
        actor = staff_factory("Analysts")
        assign_perm("profiles.change_institution", actor, profile)
    else:
        actor = StaffFactory(is_superuser=True)
    institution = other_profile if role.endswith("(other profile)") else profile
    submitter = actor if whose == "self" else analyst
    item = submit(institution, submitter, title="Matrix source")
    if action == "retract":
        review.approve(item, actor=StaffFactory(is_superuser=True))
    login(client, actor)
    before = snapshot(item)
    response = client.post(review_url(item), {"decision": action, "confirm": "yes", "note": "Because."})
    expected = {"approve": S.APPROVED, "reject": S.REJECTED, "retract": S.RETRACTED}[action]
    if permitted:
        assert state_of(item) == expected
        assert ReviewRecord.objects.for_item(item).first().actor == actor
    elif role == "analyst" or role.endswith("(other profile)"):
        assert snapshot(item) == before
        assert response.status_code == 403  # not a moderator of this profile: the door is shut
    else:
        assert snapshot(item) == before
        assert response.status_code == 302  # a moderator refused by the workflow is told why
        assert any("Matrix source" in m for m in messages_of(response))


# --- one item: the change form's buttons -------------------------------------------------------------


def test_moderator_sees_approve_and_reject_buttons(client, moderator, analyst, profile):
    item = submit(profile, analyst)
    html = login(client, moderator).get(change_url(item)).content.decode()
    assert f'action="{review_url(item)}"' in html and ">Approve</button>" in html
    assert f"{review_url(item)}?decision=reject" in html
    assert "?decision=retract" not in html


def test_approved_item_offers_retract_only(client, moderator, analyst, profile):
    item = submit(profile, analyst)
    review.approve(item, actor=moderator)
    html = login(client, moderator).get(change_url(item)).content.decode()
    assert "?decision=retract" in html and ">Approve</button>" not in html


def test_analyst_and_submitter_see_no_review_buttons(client, moderator, analyst, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    item = submit(profile, analyst)
    assert review_url(item) not in login(client, analyst).get(change_url(item)).content.decode()
    own = submit(profile, moderator)
    html = login(client, moderator).get(change_url(own)).content.decode()
    assert review_url(own) not in html and "another moderator decides it" in html


def test_one_click_approve_from_the_change_form(client, moderator, analyst, profile):
    item = submit(profile, analyst)
    login(client, moderator)
    response = client.post(review_url(item), {"decision": "approve", "confirm": "yes", "note": ""})
    assert response.status_code == 302 and response["Location"] == change_url(item)
    assert state_of(item) == S.APPROVED
    assert LogEntry.objects.filter(object_id=str(item.pk)).count() == 1


def test_reject_button_opens_the_note_page_then_rejects(client, moderator, analyst, profile):
    item = submit(profile, analyst, title="To reject")
    login(client, moderator)
    page = client.get(review_url(item), {"decision": "reject"})
    assert page.status_code == 200 and "To reject" in page.content.decode() and "(required)" in page.content.decode()
    refused = client.post(review_url(item), {"decision": "reject", "confirm": "yes", "note": ""})
    assert refused.status_code == 200 and state_of(item) == S.SUBMITTED
    client.post(review_url(item), {"decision": "reject", "confirm": "yes", "note": "Paywalled; no quote."})
    assert state_of(item) == S.REJECTED


def test_review_page_is_403_for_an_analyst_and_their_forged_post_changes_nothing(client, analyst, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    item = submit(profile, StaffFactory(), title="Not yours to decide")
    login(client, analyst)
    assert client.get(review_url(item), {"decision": "reject"}).status_code == 403
    before = snapshot(item)
    assert client.post(review_url(item), {"decision": "approve", "confirm": "yes"}).status_code == 403
    assert snapshot(item) == before


def test_review_url_of_an_item_outside_ones_profiles_is_403(client, analyst, other_profile):
    item = submit(other_profile, StaffFactory())
    login(client, analyst)
    before = snapshot(item)
    assert client.post(review_url(item), {"decision": "approve", "confirm": "yes"}).status_code == 403
    assert snapshot(item) == before


def test_unknown_decision_is_refused(client, moderator, analyst, profile):
    item = submit(profile, analyst)
    login(client, moderator)
    before = snapshot(item)
    response = client.post(review_url(item), {"decision": "publish", "confirm": "yes"})
    assert response.status_code == 302 and snapshot(item) == before
    assert any("Choose approve, reject or retract" in m for m in messages_of(response))


def test_relationship_page_has_the_same_buttons(client, moderator, analyst, profile, other_profile):
    rel = RelationshipFactory(source=profile, target=other_profile, review_state=S.SUBMITTED, submitted_by=analyst)
    login(client, moderator)
    assert review_url(rel) in client.get(change_url(rel)).content.decode()
    client.post(review_url(rel), {"decision": "approve", "confirm": "yes", "note": ""})
    assert state_of(rel) == S.APPROVED


# --- the admin index --------------------------------------------------------------------------------


def test_index_shows_moderators_their_pending_count(client, moderator, local_moderator, analyst, profile,
                                                    other_profile):
    submit(profile, analyst)
    submit(other_profile, analyst)
    RelationshipFactory(source=profile, target=other_profile, review_state=S.SUBMITTED, submitted_by=analyst)
    html = login(client, moderator).get(INDEX).content.decode()
    assert "3 items awaiting review" in html and EVIDENCE_QUEUE in html and RELATIONSHIP_QUEUE in html
    html = login(client, local_moderator).get(INDEX).content.decode()
    assert "2 items awaiting review" in html  # one evidence item and one relationship of their profile


def test_index_shows_no_moderation_panel_to_analysts(client, analyst, profile):
    submit(profile, StaffFactory())
    html = login(client, analyst).get(INDEX).content.decode()
    assert "awaiting review" not in html and EVIDENCE_QUEUE not in html


# --- read-only review fields, the record panel, history ----------------------------------------------


def test_review_fields_cannot_be_posted_on_the_evidence_form(client, analyst, moderator, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    item = submit(profile, analyst)
    login(client, analyst)
    data = admin_form_data(client.get(change_url(item)))
    assert "review_state" not in data
    data.update(review_state="approved", reviewed_by=str(moderator.pk), claim="A sharper claim.")
    response = client.post(change_url(item), data)
    assert response.status_code == 302, form_errors(response)
    item.refresh_from_db()
    assert (item.claim, item.review_state, item.reviewed_by) == ("A sharper claim.", S.SUBMITTED, None)


def test_evidence_page_lists_its_review_records(client, moderator, staff_factory, profile):
    analyst = staff_factory("Analysts", first_name="Ana", last_name="Lyst")
    item = submit(profile, analyst)
    review.reject(item, actor=moderator, note="Needs the filing, not the blog.")
    html = login(client, moderator).get(change_url(item)).content.decode()
    assert 'class="review-records"' in html
    assert "Ana Lyst" in html and "new → Submitted" in html
    assert "Submitted → Rejected" in html and "Needs the filing, not the blog." in html
    assert f"[^ev:{item.pk}]" in html  # how to cite it


def test_history_page_shows_what_changed_field_by_field(client, analyst, moderator, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    item = submit(profile, analyst, claim="Old claim.")
    login(client, analyst)
    data = admin_form_data(client.get(change_url(item)))
    data["claim"] = "New claim."
    assert client.post(change_url(item), data).status_code == 302
    review.approve(item, actor=moderator)
    history = reverse("admin:profiles_evidenceitem_history", args=[item.pk])
    html = login(client, moderator).get(history).content.decode()
    assert "<del>Old</del><ins>New</ins> claim." in html  # a word-level diff of the whole text
    assert "review: submitted → approved" in html


def test_inline_evidence_shows_how_to_cite_it(client, analyst, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    item = submit(profile, analyst)
    html = login(client, analyst).get(change_url(profile)).content.decode()
    assert f"[^ev:{item.pk}]" in html
    assert "Cite evidence inline with [^ev:ID]" in html


# --- citations: the warning on save ------------------------------------------------------------------


def test_saving_a_profile_warns_about_citations_readers_will_not_see(client, analyst, moderator, profile,
                                                                      other_profile):
    assign_perm("profiles.change_institution", analyst, profile)
    approved = submit(profile, analyst)
    review.approve(approved, actor=moderator)
    pending = submit(profile, analyst)
    rejected = submit(profile, analyst)
    review.reject(rejected, actor=moderator, note="No.")
    elsewhere = EvidenceItemFactory(institution=other_profile)
    login(client, analyst)
    data = admin_form_data(client.get(change_url(profile)))
    data["body"] = (
        f"Fine [^ev:{approved.pk}]. Pending [^ev:{pending.pk}]. Rejected [^ev:{rejected.pk}]. "
        f"Elsewhere [^ev:{elsewhere.pk}]. Missing [^ev:999999]."
    )
    response = client.post(change_url(profile), data, follow=True)
    assert response.redirect_chain, form_errors(response)
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    profile.refresh_from_db()
    assert profile.body.startswith("Fine")  # the save went through
    assert len(warnings) == 4
    text = " ".join(warnings)
    assert f"[^ev:{pending.pk}] in what happened cites evidence #{pending.pk}, which is awaiting review" in text
    assert f"#{rejected.pk}, which is rejected" in text
    assert f"#{elsewhere.pk} of another profile" in text
    assert "#999999, which does not exist" in text
    assert f"[^ev:{approved.pk}]" not in text


def test_citation_in_a_new_faq_row_is_checked_too(client, analyst, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    login(client, analyst)
    data = admin_form_data(client.get(change_url(profile)))
    add_inline_row(data, "faqs", order="1", question="Who peers here?", answer="Hundreds [^ev:424242].")
    response = client.post(change_url(profile), data, follow=True)
    assert response.redirect_chain, form_errors(response)
    assert FAQItem.objects.filter(institution=profile).exists()
    assert any("FAQ “Who peers here?”" in str(m) and "#424242" in str(m) for m in response.context["messages"])


def test_faq_admin_warns_on_its_own_page(client, analyst, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    faq = FAQItemFactory(institution=profile)
    login(client, analyst)
    data = admin_form_data(client.get(change_url(faq)))
    data["answer"] = "See [^ev:31337]."
    response = client.post(change_url(faq), data, follow=True)
    assert any("#31337, which does not exist" in str(m) for m in response.context["messages"])


def test_clean_citations_save_without_a_warning(client, analyst, moderator, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    item = submit(profile, analyst)
    review.approve(item, actor=moderator)
    login(client, analyst)
    data = admin_form_data(client.get(change_url(profile)))
    data["body"] = f"Backed [^ev:{item.pk}]."
    response = client.post(change_url(profile), data, follow=True)
    assert not [m for m in response.context["messages"] if m.level_tag == "warning"]


# --- e-mail -----------------------------------------------------------------------------------------


def test_no_mail_when_the_decision_rolls_back(moderator, analyst, profile, django_capture_on_commit_callbacks):
    from django.db import transaction

    item = submit(profile, analyst)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        review.approve(item, actor=moderator)
        raise RuntimeError("rolled back")
    assert mail.outbox == [] and not OutgoingMail.objects.exists()  # queued with it, rolled back with it
    assert state_of(item) == S.SUBMITTED


def test_retraction_is_mailed_to_the_submitter(moderator, analyst, profile, django_capture_on_commit_callbacks):
    item = submit(profile, analyst)
    review.approve(item, actor=moderator)
    with django_capture_on_commit_callbacks(execute=True):
        review.retract(item, actor=moderator, note="Outlet withdrew the story.")
    [message] = mail.outbox
    assert "retracted" in message.subject and "Outlet withdrew the story." in message.body


def test_submitter_who_left_the_newsroom_gets_no_mail(moderator, analyst, profile, django_capture_on_commit_callbacks):
    item = submit(profile, analyst)
    analyst.is_staff = False
    analyst.save()
    with django_capture_on_commit_callbacks(execute=True):
        review.approve(item, actor=moderator)
    assert mail.outbox == []


# --- two moderators, one item, the same moment (PostgreSQL) ------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_moderators_posting_at_once_end_in_one_decision(staff_factory):
    if connection.vendor != "postgresql":
        pytest.skip("Row locks need PostgreSQL: SQLite serialises whole-database writes instead")
    profile = InstitutionFactory()
    item = submit(profile, staff_factory("Analysts"), title="Raced source")
    moderators = [staff_factory("Moderators"), staff_factory("Moderators")]
    barrier = threading.Barrier(2)
    outcomes = {}

    def decide(name, moderator, action, decision):
        client = Client()
        client.force_login(moderator)
        try:
            barrier.wait(timeout=10)
            response = confirm(client, EVIDENCE_QUEUE, action, [item], decision, note="Decided.")
            outcomes[name] = messages_of(response)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=("approve", moderators[0], "approve_selected", "approve")),
        threading.Thread(target=decide, args=("reject", moderators[1], "reject_selected", "reject")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert ReviewRecord.objects.filter(object_id=item.pk).exclude(from_state="").count() == 1
    winner_state = state_of(item)
    assert winner_state in (S.APPROVED, S.REJECTED)
    loser = "reject" if winner_state == S.APPROVED else "approve"
    assert any("Raced source" in m and f"already {winner_state}" in m for m in outcomes[loser])
    assert LogEntry.objects.filter(object_id=str(item.pk)).count() == 1
