"""The review workflow's rules: legal moves, permissions, four eyes, append-only records, races."""

import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, connections
from guardian.shortcuts import assign_perm

from membership.models import Tier
from profiles import review
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


def test_editing_retrieval_date_keeps_approval(moderator, analyst):
    import datetime

    item = review.approve(submitted(submitted_by=analyst), actor=moderator)
    item.retrieved_at = datetime.date(2025, 1, 2)
    review.save_edited(item, actor=analyst)
    item.refresh_from_db()
    assert item.review_state == S.APPROVED


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
