"""The review workflow's rules: legal moves, permissions, four eyes, append-only records, races."""

import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, connections
from guardian.shortcuts import assign_perm

from membership.models import Tier
from outbox.models import OutgoingMail
from profiles import permissions, review
from profiles.models import EvidenceItem, ReviewRecord, TimelineEvent

from .factories import EvidenceItemFactory, InstitutionFactory, RelationshipFactory, tier

pytestmark = pytest.mark.django_db

S = EvidenceItem.Review


def submitted(**kwargs):
    return EvidenceItemFactory(review_state=S.SUBMITTED, **kwargs)


def test_moderator_approves_submitted_evidence(moderator, analyst):
    item = submitted(submitted_by=analyst)
    review.approve(item, actor=moderator)
    item.refresh_from_db()
    assert item.review_state == S.APPROVED and item.reviewed_by == moderator
    [record] = ReviewRecord.objects.for_item(item)
    assert (record.from_state, record.to_state, record.actor) == (S.SUBMITTED, S.APPROVED, moderator)


def test_analyst_cannot_approve(analyst, staff_factory):
    item = submitted(submitted_by=staff_factory("Analysts"))
    with pytest.raises(PermissionDenied):
        review.approve(item, actor=analyst)
    item.refresh_from_db()
    assert item.review_state == S.SUBMITTED
    assert not ReviewRecord.objects.exists()


def test_per_profile_moderator_approves_only_their_institution(staff_factory, analyst):
    mine, other = InstitutionFactory(), InstitutionFactory()
    moderator = staff_factory()
    assign_perm("profiles.moderate_evidence", moderator, mine)
    review.approve(submitted(institution=mine, submitted_by=analyst), actor=moderator)
    with pytest.raises(PermissionDenied):
        review.approve(submitted(institution=other, submitted_by=analyst), actor=moderator)


def test_nobody_approves_what_they_submitted(moderator):
    item = submitted(submitted_by=moderator)
    with pytest.raises(review.ReviewError, match="Four eyes"):
        review.approve(item, actor=moderator)
    item.refresh_from_db()
    assert item.review_state == S.SUBMITTED


def test_superuser_is_bound_by_four_eyes_too(superuser):
    with pytest.raises(review.ReviewError):
        review.approve(submitted(submitted_by=superuser), actor=superuser)


def test_one_person_newsroom_may_allow_self_review(settings, superuser):
    settings.BTW_ALLOW_SELF_REVIEW = True
    item = review.approve(submitted(submitted_by=superuser), actor=superuser)
    assert item.review_state == S.APPROVED


def test_rejection_needs_a_note(moderator, analyst):
    item = submitted(submitted_by=analyst)
    with pytest.raises(review.ReviewError, match="note"):
        review.reject(item, actor=moderator, note="  ")
    review.reject(item, actor=moderator, note="The source does not say this.")
    item.refresh_from_db()
    assert item.review_state == S.REJECTED and item.review_note


def test_retraction_needs_a_note_whoever_calls_it(moderator, analyst):
    """The admin's form asks for it; the workflow itself refuses a retraction without one."""
    item = review.approve(submitted(submitted_by=analyst), actor=moderator)
    with pytest.raises(review.ReviewError, match="retraction needs a note"):
        review.retract(item, actor=moderator, note="")
    item.refresh_from_db()
    assert item.review_state == S.APPROVED and ReviewRecord.objects.count() == 1
    review.retract(item, actor=moderator, note="The outlet withdrew the story.")
    item.refresh_from_db()
    assert item.review_state == S.RETRACTED


@pytest.mark.parametrize(
    "state,move",
    [
        (S.APPROVED, review.approve),
        (S.REJECTED, review.approve),
        (S.SUBMITTED, review.retract),
        (S.RETRACTED, review.approve),
    ],
)
def test_illegal_moves_are_refused_and_change_nothing(moderator, analyst, state, move):
    item = EvidenceItemFactory(review_state=state, submitted_by=analyst)
    with pytest.raises(review.ReviewError):
        move(item, actor=moderator, note="n")
    item.refresh_from_db()
    assert item.review_state == state
    assert not ReviewRecord.objects.exists()


def test_review_records_are_append_only(moderator, analyst):
    review.approve(submitted(submitted_by=analyst), actor=moderator)
    record = ReviewRecord.objects.get()
    record.note = "rewritten"
    with pytest.raises(ValueError):
        record.save()
    with pytest.raises(ValueError):
        record.delete()


def test_relationships_share_the_workflow(moderator, analyst):
    rel = RelationshipFactory(review_state=S.SUBMITTED, submitted_by=analyst)
    review.approve(rel, actor=moderator)
    rel.refresh_from_db()
    assert rel.review_state == S.APPROVED
    assert ReviewRecord.objects.get().institution == rel.source


def test_editing_an_approved_claim_sends_it_back_to_review(moderator, analyst):
    item = review.approve(submitted(submitted_by=analyst), actor=moderator)
    item.claim = "A different claim."
    review.save_edited(item, actor=analyst)
    item.refresh_from_db()
    assert item.review_state == S.SUBMITTED
    assert item not in EvidenceItem.objects.approved()


def test_editing_retrieval_date_sends_approved_item_back_to_review(moderator, analyst):
    """The retrieval date is provenance readers see: a moderator approves a changed one."""
    import datetime

    item = review.approve(submitted(submitted_by=analyst), actor=moderator)
    item.retrieved_at = datetime.date(2025, 1, 2)
    review.save_edited(item, actor=analyst)
    item.refresh_from_db()
    assert item.review_state == S.SUBMITTED


def test_approving_public_evidence_moves_public_last_updated(moderator, analyst):
    item = submitted(submitted_by=analyst)
    before = item.institution.public_updated_at
    review.approve(item, actor=moderator)
    item.institution.refresh_from_db()
    assert item.institution.public_updated_at > before
    assert TimelineEvent.objects.filter(institution=item.institution, kind=TimelineEvent.Kind.PROFILE_UPDATE).exists()


def test_approving_members_only_evidence_leaves_public_date_alone(moderator, analyst):
    item = submitted(submitted_by=analyst, required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG))
    before = item.institution.public_updated_at
    review.approve(item, actor=moderator)
    item.institution.refresh_from_db()
    assert item.institution.public_updated_at == before


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_end_in_exactly_one_state(staff_factory, analyst):
    if connection.vendor != "postgresql":
        pytest.skip("Row locks need PostgreSQL: SQLite serialises whole-database writes instead")
    item = submitted(submitted_by=analyst)
    first, second = staff_factory("Moderators"), staff_factory("Moderators")
    barrier = threading.Barrier(2)
    outcomes = {}

    def decide(name, actor, move):
        try:
            barrier.wait(timeout=10)
            move(EvidenceItem.objects.get(pk=item.pk), actor=actor, note="decided")
            outcomes[name] = "won"
        except review.ReviewError as error:
            outcomes[name] = str(error)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=("approve", first, review.approve)),
        threading.Thread(target=decide, args=("reject", second, review.reject)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(v == "won" for v in outcomes.values()) == [False, True]
    loser_message = next(v for v in outcomes.values() if v != "won")
    assert "already" in loser_message
    assert ReviewRecord.objects.filter(object_id=item.pk).count() == 1
    item.refresh_from_db()
    assert item.review_state in (S.APPROVED, S.REJECTED)


# --- refusal messages, stale edits, the queue's read, the submitter's e-mail -----------------------


def test_the_loser_is_told_who_decided_first(staff_factory, analyst):
    item = submitted(submitted_by=analyst)
    first = staff_factory("Moderators", first_name="Mo", last_name="First")
    review.approve(item, actor=first)
    stale = EvidenceItem.objects.get(pk=item.pk)
    with pytest.raises(review.ReviewError, match="already approved by Mo First on .*Nothing was changed"):
        review.reject(stale, actor=staff_factory("Moderators"), note="Late.")


def test_a_non_moderator_is_refused_before_anything_about_the_item_is_said(analyst):
    item = EvidenceItemFactory(review_state=S.APPROVED, submitted_by=analyst)
    with pytest.raises(PermissionDenied, match="may not moderate"):
        review.reject(item, actor=analyst, note="n")


def test_retracting_a_submitted_item_says_only_approved_items_can_be(moderator, analyst):
    with pytest.raises(review.ReviewError, match="only approved items can be retracted"):
        review.retract(submitted(submitted_by=analyst), actor=moderator, note="n")


def test_an_edit_from_a_stale_form_keeps_the_moderators_decision(moderator, analyst):
    item = submitted(submitted_by=analyst)
    form_copy = EvidenceItem.objects.get(pk=item.pk)  # what the analyst's form was built from
    review.approve(item, actor=moderator)  # decided while the analyst edits
    review.save_edited(form_copy, actor=analyst)  # saved unchanged: its stale review fields are ignored
    item.refresh_from_db()
    assert (item.review_state, item.reviewed_by) == (S.APPROVED, moderator)
    assert ReviewRecord.objects.for_item(item).count() == 1


def test_an_edit_cannot_write_review_fields(moderator, analyst):
    item = submitted(submitted_by=analyst)
    item.review_state = S.APPROVED
    item.reviewed_by = moderator
    review.save_edited(item, actor=analyst)
    item.refresh_from_db()
    assert (item.review_state, item.reviewed_by) == (S.SUBMITTED, None)


def test_queue_read_is_scoped_and_leaves_out_own_items(staff_factory, analyst, moderator):
    mine, other = InstitutionFactory(), InstitutionFactory()
    local = staff_factory()
    assign_perm("profiles.moderate_evidence", local, mine)
    in_mine = submitted(institution=mine, submitted_by=analyst)
    in_other = submitted(institution=other, submitted_by=analyst)
    own = submitted(institution=mine, submitted_by=local)
    EvidenceItemFactory(institution=mine, review_state=S.APPROVED)
    assert list(review.review_queue(local, EvidenceItem)) == [in_mine]
    assert set(review.review_queue(moderator, EvidenceItem)) == {in_mine, in_other, own}
    assert not review.review_queue(analyst, EvidenceItem).exists()
    assert permissions.moderates_anything(local) and not permissions.moderates_anything(analyst)


def test_decision_mail_goes_to_the_submitter_after_commit(moderator, analyst, django_capture_on_commit_callbacks):
    from django.core import mail

    item = submitted(submitted_by=analyst, title="Capacity filing")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        review.approve(item, actor=moderator, note="Matches the filing.")
    assert mail.outbox == []  # nothing sent before the commit...
    assert OutgoingMail.objects.filter(to=[analyst.email]).count() == 1  # ...but queued with the decision
    for callback in callbacks:
        callback()
    [message] = mail.outbox
    assert message.to == [analyst.email]
    assert "approved" in message.subject and "Capacity filing" in message.subject
    assert "Matches the filing." in message.body
    html = message.alternatives[0][0]
    assert "Matches the filing." in html and "<strong>approved</strong>" in html


def test_self_review_in_a_one_person_newsroom_sends_no_mail_to_oneself(
    settings, superuser, django_capture_on_commit_callbacks
):
    from django.core import mail

    settings.BTW_ALLOW_SELF_REVIEW = True
    with django_capture_on_commit_callbacks(execute=True):
        review.approve(submitted(submitted_by=superuser), actor=superuser)
    assert mail.outbox == []


def test_resubmission_sends_no_mail(moderator, analyst, django_capture_on_commit_callbacks):
    from django.core import mail

    item = submitted(submitted_by=analyst)
    review.reject(item, actor=moderator, note="Fix the date.")
    with django_capture_on_commit_callbacks(execute=True):
        item.source_date = item.source_date.replace(day=1)
        item.claim = "A corrected claim."
        review.save_edited(item, actor=analyst)
    assert item.review_state == S.SUBMITTED
    assert mail.outbox == []
