"""No path around review: four eyes covers everyone who wrote the text, every field readers see is
reviewed, items never move between profiles, and history pages follow assignment."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import assign_perm

from audit.models import AuditEntry
from membership.models import Tier
from profiles import review
from profiles.models import EvidenceItem, Relationship, ReviewRecord

from .factories import BriefingFactory, EvidenceItemFactory, InstitutionFactory, RelationshipFactory, tier
from .test_admin import admin_form_data, change_url

pytestmark = pytest.mark.django_db

S = EvidenceItem.Review


@pytest.fixture
def profile():
    return InstitutionFactory(name="DE-CIX Frankfurt", slug="de-cix-frankfurt")


def submit(institution, by, **kwargs) -> EvidenceItem:
    item = EvidenceItemFactory.build(institution=institution, review_state=S.SUBMITTED, **kwargs)
    return review.record_submission(item, actor=by)


def edit(item, actor, **changes):
    fresh = type(item).objects.get(pk=item.pk)
    for name, value in changes.items():
        setattr(fresh, name, value)
    return review.save_edited(fresh, actor=actor)


def state_of(item) -> str:
    return type(item).objects.values_list("review_state", flat=True).get(pk=item.pk)


# --- four eyes covers authorship -----------------------------------------------------------------------


def test_moderator_who_rewrote_anothers_claim_cannot_approve_it(moderator, staff_factory, analyst, profile):
    item = submit(profile, analyst)
    edit(item, moderator, claim="The moderator's own wording.")
    with pytest.raises(review.ReviewError, match="Four eyes"):
        review.approve(item, actor=moderator)
    assert state_of(item) == S.SUBMITTED
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.REVIEW).exists()
    review.approve(item, actor=staff_factory("Moderators"))  # a second person may
    assert state_of(item) == S.APPROVED


def test_superuser_who_rewrote_an_item_cannot_approve_it(superuser, analyst, profile):
    item = submit(profile, analyst)
    edit(item, superuser, title="Rewritten by the superuser")
    with pytest.raises(review.ReviewError, match="Four eyes"):
        review.approve(item, actor=superuser)
    assert state_of(item) == S.SUBMITTED


def test_editor_of_an_approved_item_cannot_approve_its_return(staff_factory, moderator, profile):
    """A per-profile moderator who is also an analyst edits a lead's approved item: it goes back to
    review with the editor as an author, and neither the editor nor the original submitter decides it."""
    lead = staff_factory("Lead analysts", "Moderators")  # a lead who also moderates
    editor = staff_factory("Analysts")
    assign_perm("profiles.change_institution", editor, profile)
    assign_perm("profiles.moderate_evidence", editor, profile)
    item = review.approve(submit(profile, lead), actor=moderator)
    edit(item, editor, claim="Claim changed by the per-profile moderator.")
    assert state_of(item) == S.SUBMITTED
    for author in (editor, lead):
        with pytest.raises(review.ReviewError, match="Four eyes"):
            review.approve(item, actor=author)
    review.approve(item, actor=moderator)
    assert state_of(item) == S.APPROVED


def test_moderation_queue_leaves_out_items_the_moderator_changed(moderator, analyst, profile):
    untouched = submit(profile, analyst)
    changed = submit(profile, analyst)
    edit(changed, moderator, quote="A quote the moderator typed.")
    queue = list(review.review_queue(moderator, EvidenceItem))
    assert untouched in queue and changed not in queue


def test_an_edit_that_changes_no_reviewed_field_makes_no_author(moderator, staff_factory, analyst, profile):
    item = submit(profile, analyst)
    edit(item, moderator)  # saved as it was
    review.approve(item, actor=moderator)
    assert state_of(item) == S.APPROVED


def test_approval_starts_a_new_round_of_authorship(staff_factory, moderator, analyst, profile):
    other = staff_factory("Moderators")
    item = submit(profile, analyst)
    edit(item, other, claim="Tightened by a colleague.")
    review.approve(item, actor=moderator)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.REVIEW)
    assert set(entry.data["authors"]) == {analyst.pk, other.pk}
    assert not EvidenceItem.objects.get(pk=item.pk).authors.exists()
    review.retract(item, actor=other, note="The outlet corrected its story.")  # no longer an author
    assert state_of(item) == S.RETRACTED


def test_one_person_newsroom_switch_lets_an_author_approve(settings, moderator, analyst, profile):
    settings.BTW_ALLOW_SELF_REVIEW = True
    item = submit(profile, analyst)
    edit(item, moderator, claim="Edited by the only editor.")
    review.approve(item, actor=moderator)
    assert state_of(item) == S.APPROVED


def test_superuser_who_edited_through_the_admin_is_refused_at_approval(client, superuser, analyst, profile):
    item = submit(profile, analyst)
    client.force_login(superuser)
    data = admin_form_data(client.get(change_url(item)))
    data["claim"] = "Typed into the admin by the superuser."
    assert client.post(change_url(item), data).status_code == 302
    records = ReviewRecord.objects.count()
    response = client.post(
        reverse("admin:profiles_evidenceitem_review", args=[item.pk]),
        {"decision": "approve", "confirm": "yes", "note": ""},
        follow=True,
    )
    assert any("Four eyes" in str(m) for m in response.context["messages"])
    assert state_of(item) == S.SUBMITTED and ReviewRecord.objects.count() == records


# --- every field readers see is reviewed -------------------------------------------------------------------

EVIDENCE_CHANGES = {
    "url": "https://elsewhere.example.org/changed",
    "publisher": "Another Outlet",
    "title": "A changed title",
    "source_date": datetime.date(2024, 5, 6),
    "retrieved_at": datetime.date(2024, 5, 7),
    "claim": "A changed claim.",
    "quote": "A changed quote.",
    "archive_url": "https://archive.example.org/changed",
    "kind": EvidenceItem.Kind.FILING,
    "required_tier": "strategic-circle",
}


def test_every_reviewed_evidence_field_is_declared():
    assert set(EvidenceItem.review_fields) == {*EVIDENCE_CHANGES, "institution"}


@pytest.mark.parametrize("field", list(EVIDENCE_CHANGES))
def test_changing_a_reviewed_evidence_field_sends_it_back_to_review(field, moderator, analyst, profile):
    item = review.approve(submit(profile, analyst), actor=moderator)
    value = EVIDENCE_CHANGES[field]
    edit(item, analyst, **{field: tier(value) if field == "required_tier" else value})
    assert state_of(item) == S.SUBMITTED
    assert item not in EvidenceItem.objects.public_for(None)
    record = ReviewRecord.objects.for_item(item).first()
    assert (record.from_state, record.to_state, record.actor) == (S.APPROVED, S.SUBMITTED, analyst)


def test_no_history_row_shows_edited_text_as_approved(moderator, analyst, profile):
    item = review.approve(submit(profile, analyst, claim="The approved claim."), actor=moderator)
    edit(item, analyst, claim="An unreviewed claim.")
    approved_claims = set(item.history.filter(review_state=S.APPROVED).values_list("claim", flat=True))
    assert approved_claims == {"The approved claim."}


def test_moving_evidence_to_another_profile_is_refused(moderator, analyst, profile):
    item = review.approve(submit(profile, analyst), actor=moderator)
    elsewhere = InstitutionFactory()
    with pytest.raises(ValidationError, match="new item"):
        edit(item, analyst, institution=elsewhere)
    item.refresh_from_db()
    assert (item.institution, item.review_state) == (profile, S.APPROVED)


RELATIONSHIP_CHANGES = ["target", "kind", "description", "since", "evidence"]


def test_every_reviewed_relationship_field_is_declared():
    assert set(Relationship.review_fields) == {*RELATIONSHIP_CHANGES, "source"}


@pytest.mark.parametrize("field", RELATIONSHIP_CHANGES)
def test_changing_a_reviewed_relationship_field_sends_it_back_to_review(field, moderator, analyst, profile):
    rel = RelationshipFactory(source=profile, review_state=S.SUBMITTED, submitted_by=analyst)
    review.approve(rel, actor=moderator)
    value = {
        "target": InstitutionFactory(),
        "kind": Relationship.Kind.SUPPLIER,
        "description": "A changed description.",
        "since": datetime.date(2023, 1, 1),
        "evidence": EvidenceItemFactory(institution=profile),
    }[field]
    edit(rel, analyst, **{field: value})
    assert state_of(rel) == S.SUBMITTED


def test_moving_a_relationship_to_another_source_is_refused(moderator, analyst, profile):
    rel = RelationshipFactory(source=profile, review_state=S.APPROVED, submitted_by=analyst)
    with pytest.raises(ValidationError):
        edit(rel, analyst, source=InstitutionFactory())
    rel.refresh_from_db()
    assert rel.source == profile


def test_per_profile_moderator_cannot_launder_an_item_through_their_profile(client, staff_factory, analyst, profile):
    """Moving is impossible in the admin: the profile field is read-only on an existing item."""
    theirs = InstitutionFactory()
    launderer = staff_factory("Analysts")
    for institution in (profile, theirs):
        assign_perm("profiles.change_institution", launderer, institution)
    assign_perm("profiles.moderate_evidence", launderer, theirs)
    item = submit(profile, analyst)
    client.force_login(launderer)
    data = admin_form_data(client.get(change_url(item)))
    data["institution"] = str(theirs.pk)
    client.post(change_url(item), data)
    item.refresh_from_db()
    assert item.institution == profile
    with pytest.raises(PermissionDenied):
        review.approve(item, actor=launderer)
    assert state_of(item) == S.SUBMITTED


# --- the review page: authors and what changed -----------------------------------------------------------


def test_review_page_names_the_authors_and_shows_the_changes(client, staff_factory, moderator, analyst, profile):
    editor = staff_factory("Lead analysts", first_name="Edith", last_name="Editor")
    item = review.approve(submit(profile, analyst, claim="Racks ship in spring."), actor=moderator)
    edit(item, editor, claim="Racks ship in autumn.")
    client.force_login(moderator)
    html = client.get(change_url(item)).content.decode()
    assert "Edith Editor" in html
    assert "<del>spring.</del>" in html and "<ins>autumn.</ins>" in html


def test_review_page_of_a_never_approved_item_says_so(client, moderator, analyst, profile):
    item = submit(profile, analyst)
    client.force_login(moderator)
    assert "Never approved" in client.get(change_url(item)).content.decode()


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_review_page_queries_do_not_grow_with_authors_or_history(client, staff_factory, moderator, profile):
    small = review.approve(submit(profile, staff_factory("Analysts")), actor=moderator)
    edit(small, staff_factory("Lead analysts"), claim="One edit.")
    big = review.approve(submit(profile, staff_factory("Analysts")), actor=moderator)
    for n in range(8):
        edit(big, staff_factory("Lead analysts"), claim=f"Edit number {n}.")
    client.force_login(moderator)
    _queries(client, change_url(small))  # warm per-process caches (content types, permissions)
    assert _queries(client, change_url(big)) == _queries(client, change_url(small))


def test_queue_queries_do_not_grow_with_authors(client, staff_factory, moderator, profile):
    queue = reverse("admin:profiles_evidencequeueitem_changelist")
    submit(profile, staff_factory("Analysts"))
    client.force_login(moderator)
    _queries(client, queue)
    few = _queries(client, queue)
    for _ in range(10):
        item = submit(profile, staff_factory("Analysts"))
        for n in range(3):
            edit(item, staff_factory("Lead analysts"), claim=f"Edit {n}.")
    assert _queries(client, queue) == few


# --- history pages follow assignment -------------------------------------------------------------------------


@pytest.fixture
def unassigned_analyst(analyst):
    return analyst


def _history_urls(obj):
    opts = obj._meta
    history = obj.history.first()
    return [
        reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk]),
        reverse(f"admin:{opts.app_label}_{opts.model_name}_simple_history", args=[obj.pk, history.history_id]),
    ]


def test_unassigned_analyst_gets_403_on_evidence_history(client, staff_factory, unassigned_analyst, profile):
    item = submit(profile, staff_factory("Analysts"), claim="Submitted text, never public.")
    client.force_login(unassigned_analyst)
    for url in _history_urls(item):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"never public" not in response.content


def test_assigned_analyst_reads_evidence_history(client, staff_factory, analyst, profile):
    assign_perm("profiles.change_institution", analyst, profile)
    item = submit(profile, staff_factory("Analysts"), claim="Submitted text, never public.")
    client.force_login(analyst)
    for url in _history_urls(item):
        assert client.get(url).status_code == 200, url


def test_unassigned_analyst_gets_403_on_briefing_history(client, analyst, profile):
    briefing = BriefingFactory(institution=profile, body="Alliance-only analysis.",
                               required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    client.force_login(analyst)
    for url in _history_urls(briefing):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"Alliance-only analysis" not in response.content


def test_history_of_a_deleted_item_stays_scoped(client, staff_factory, analyst, profile):
    item = submit(profile, staff_factory("Analysts"), claim="Deleted before review.")
    pk = item.pk
    EvidenceItem.objects.filter(pk=pk).delete()
    client.force_login(analyst)
    response = client.get(reverse("admin:profiles_evidenceitem_history", args=[pk]))
    assert response.status_code in (403, 404)
    assert b"Deleted before review" not in response.content


def test_the_admin_form_marks_every_reviewed_field(client, superuser, analyst, profile):
    from profiles.forms import REVIEWED_FIELD_HELP

    item = submit(profile, analyst)
    client.force_login(superuser)
    fields = client.get(change_url(item)).context["adminform"].form.fields
    marked = {name for name, field in fields.items() if REVIEWED_FIELD_HELP in (field.help_text or "")}
    assert marked == set(EvidenceItem.review_fields) - {"institution"}  # the profile is read-only here
