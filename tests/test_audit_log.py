"""The audit log: append-only, written in the transaction of the act, read in the admin by superusers
and lead analysts, filterable by actor, object and date."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from audit.models import AuditEntry
from audit.services import Action, record
from profiles import review
from profiles.models import EvidenceItem

from .factories import EvidenceItemFactory, InstitutionFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audit/auditentry/"


def decided_item(analyst, moderator):
    item = EvidenceItemFactory.build(institution=InstitutionFactory(), review_state=EvidenceItem.Review.SUBMITTED)
    review.record_submission(item, actor=analyst)
    return review.approve(item, actor=moderator, note="Checked against the filing.")


def test_a_review_decision_is_recorded_with_its_actor_and_target(analyst, moderator):
    item = decided_item(analyst, moderator)
    entry = AuditEntry.objects.about(item).get()
    assert (entry.actor, entry.action) == (moderator, Action.REVIEW)
    assert entry.data["note"] == "Checked against the filing." and entry.data["to"] == "approved"


def test_a_refused_decision_leaves_no_entry(analyst):
    item = EvidenceItemFactory.build(institution=InstitutionFactory(), review_state=EvidenceItem.Review.SUBMITTED)
    review.record_submission(item, actor=analyst)
    with pytest.raises(Exception):  # noqa: B017 - PermissionDenied; what matters is what is left behind
        review.approve(item, actor=analyst)
    assert not AuditEntry.objects.exists()


def test_an_act_rolled_back_leaves_no_entry(analyst, moderator):
    item = EvidenceItemFactory.build(institution=InstitutionFactory(), review_state=EvidenceItem.Review.SUBMITTED)
    review.record_submission(item, actor=analyst)
    with pytest.raises(RuntimeError), transaction.atomic():
        review.approve(item, actor=moderator)
        raise RuntimeError("the surrounding request failed")
    assert not AuditEntry.objects.exists()


def test_entries_cannot_be_changed_or_deleted(analyst):
    entry = record(actor=analyst, action=Action.GRANT, summary="Granted something.")
    entry.summary = "Rewritten."
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    assert AuditEntry.objects.get().summary == "Granted something."


@pytest.mark.parametrize("who", ["superuser", "lead"])
def test_superusers_and_leads_read_the_audit_log(client, who, superuser, staff_factory, analyst, moderator):
    decided_item(analyst, moderator)
    client.force_login(superuser if who == "superuser" else staff_factory("Analysts", "Lead analysts"))
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 1


@pytest.mark.parametrize("who", ["Analysts", "Moderators"])
def test_analysts_and_moderators_do_not_read_the_audit_log(client, who, staff_factory, analyst, moderator):
    decided_item(analyst, moderator)
    client.force_login(staff_factory(who))
    assert client.get(CHANGELIST).status_code == 403


def test_audit_log_filters_by_actor_object_and_date(client, superuser, analyst, moderator, staff_factory):
    first = decided_item(analyst, moderator)
    other_moderator = staff_factory("Moderators")
    decided_item(analyst, other_moderator)
    client.force_login(superuser)
    by_actor = client.get(CHANGELIST, {"actor__id__exact": moderator.pk})
    assert [e.actor for e in by_actor.context["cl"].result_list] == [moderator]
    entry = AuditEntry.objects.about(first).get()
    by_object = client.get(CHANGELIST, {"content_type": entry.content_type_id, "q": str(first.pk)})
    assert entry in by_object.context["cl"].result_list
    day = entry.created_at
    by_date = client.get(CHANGELIST, {"created_at__year": day.year, "created_at__month": day.month,
                                      "created_at__day": day.day})
    assert by_date.context["cl"].result_count == 2


def test_audit_log_offers_no_add_change_or_delete(client, superuser, analyst):
    entry = record(actor=analyst, action=Action.GRANT, summary="Granted something.")
    client.force_login(superuser)
    assert client.get(CHANGELIST + "add/").status_code == 403
    assert client.post(reverse("admin:audit_auditentry_change", args=[entry.pk]), {"summary": "x"}).status_code == 403
    assert client.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.get().summary == "Granted something."
