"""Every act on an application or a membership leaves one audit entry; a refused act leaves none
(DESIGN.md, "Moderation rules": the audit log records applications and memberships).

Acts go through the real interfaces where there is one (the sign-up and confirmation pages, the
application form, the admin actions), through `membership.services` otherwise.
"""

import re

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse

from audit.models import AuditEntry
from membership import services
from membership.models import Application, Membership, Tier

from .factories import ApplicationFactory
from .factories_membership import (
    alliance_member,
    analyst,
    moderator,
    pending_applicant,
    strategic_member,
    unverified_user,
)

pytestmark = pytest.mark.django_db

APPLICATION, MEMBERSHIP = AuditEntry.Action.APPLICATION, AuditEntry.Action.MEMBERSHIP
APPLICATIONS = reverse("admin:membership_application_changelist")
MEMBERSHIPS = reverse("admin:membership_membership_changelist")


def snapshot():
    """Every application, membership and audit entry: a refused act must change none of them."""
    return (
        sorted(Application.objects.values_list("pk", "state", "reviewer_id", "review_note")),
        sorted(Membership.objects.values_list("pk", "user_id", "tier_id", "status")),
        sorted(AuditEntry.objects.values_list("pk", flat=True)),
    )


def only_entry(obj, action) -> AuditEntry:
    [entry] = AuditEntry.objects.about(obj).filter(action=action)
    return entry


def decide_in_admin(client, applications, decision, note=""):
    return client.post(
        APPLICATIONS,
        {
            "action": f"{decision}_selected",
            "_selected_action": [a.pk for a in applications],
            "decision": decision,
            "note": note,
            "confirm": "yes",
        },
    )


# --- applications ------------------------------------------------------------------------------------------


def test_submitted_application_is_recorded_once_with_the_applicant_as_actor(client):
    applicant = strategic_member()
    client.force_login(applicant)
    form = {"organisation": "Northern Fibre Exchange", "role": "Chief Executive",
            "qualification_statement": "We operate an internet exchange.", "consent": "on"}
    assert client.post(reverse("membership:apply"), form).status_code == 302
    application = Application.objects.get(user=applicant)
    entry = only_entry(application, APPLICATION)
    assert entry.actor == applicant and entry.target == application
    assert entry.data["to"] == Application.State.PENDING and "Northern Fibre Exchange" in entry.summary
    assert AuditEntry.objects.count() == 1


def test_refused_application_leaves_no_entry(client):
    """Unverified, already open, already a member: each refused, nothing recorded."""
    for applicant in (unverified_user(), pending_applicant().user, alliance_member()):
        before = snapshot()
        with pytest.raises(services.MembershipError):
            services.submit_application(
                user=applicant, organisation="Org", role="CEO", qualification_statement="Assets.", consent=True
            )
        assert snapshot() == before


def test_approval_in_the_admin_records_the_decision_and_the_new_membership(client):
    application = pending_applicant()
    reviewer = moderator()
    client.force_login(reviewer)
    decide_in_admin(client, [application], "approve", note="Welcome.")
    decision = only_entry(application, APPLICATION)
    assert decision.actor == reviewer and decision.data["to"] == Application.State.APPROVED
    assert decision.data["note"] == "Welcome."
    membership = Membership.objects.get(user=application.user, tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG)
    granted = only_entry(membership, MEMBERSHIP)
    assert granted.actor == reviewer and granted.target == membership
    assert granted.data == {
        "tier": Tier.LEADERSHIP_ALLIANCE_SLUG, "from": None, "to": "active", "application": application.pk,
    }
    assert AuditEntry.objects.count() == 2


def test_approval_of_a_former_member_records_the_membership_reopened():
    member = alliance_member()
    membership = Membership.objects.get(user=member, tier__level=2)
    services.lapse_membership(membership=membership)
    services.approve_application(application=ApplicationFactory(user=member), reviewer=moderator())
    reopened = AuditEntry.objects.about(membership).filter(action=MEMBERSHIP).first()  # newest first
    assert (reopened.data["from"], reopened.data["to"]) == ("lapsed", "active")
    assert AuditEntry.objects.about(membership).count() == 2  # lapsed, then reopened


def test_rejection_in_the_admin_records_the_note_and_grants_nothing(client):
    application = pending_applicant()
    reviewer = moderator()
    client.force_login(reviewer)
    decide_in_admin(client, [application], "reject", note="No assets listed.")
    entry = only_entry(application, APPLICATION)
    assert entry.actor == reviewer and entry.data["to"] == Application.State.REJECTED
    assert entry.data["note"] == "No assets listed."
    assert not AuditEntry.objects.filter(action=MEMBERSHIP).exists()


def test_self_approval_is_refused_and_leaves_no_entry():
    reviewer = moderator()
    application = ApplicationFactory(user=reviewer)
    before = snapshot()
    with pytest.raises(services.SelfReview):
        services.approve_application(application=application, reviewer=reviewer)
    with pytest.raises(services.SelfReview):
        services.reject_application(application=application, reviewer=reviewer, note="x")
    assert snapshot() == before


def test_deciding_a_decided_application_in_the_admin_leaves_no_entry(client):
    application = pending_applicant()
    services.approve_application(application=application, reviewer=moderator())
    client.force_login(moderator())
    before = snapshot()
    decide_in_admin(client, [application], "reject", note="Late.")
    assert snapshot() == before


@pytest.mark.parametrize("who", ["analyst", "reader"])
def test_decision_without_review_permission_leaves_no_entry(who):
    application = pending_applicant()
    reviewer = analyst() if who == "analyst" else strategic_member()
    before = snapshot()
    for decide in (services.approve_application, services.reject_application):
        with pytest.raises(services.NotPermitted):
            decide(application=application, reviewer=reviewer, note="x")
    assert snapshot() == before


def test_rejection_without_a_note_leaves_no_entry():
    application = pending_applicant()
    before = snapshot()
    with pytest.raises(services.MembershipError):
        services.reject_application(application=application, reviewer=moderator(), note=" ")
    assert snapshot() == before


def test_an_approval_rolled_back_leaves_no_entry():
    application = pending_applicant()
    reviewer = moderator()
    before = snapshot()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.approve_application(application=application, reviewer=reviewer)
        assert AuditEntry.objects.about(application).exists()  # written inside the act's transaction
        raise RuntimeError
    assert snapshot() == before


# --- memberships ---------------------------------------------------------------------------------------------


def test_verifying_an_email_records_the_self_service_membership_once(client):
    client.post(
        reverse("account_signup"),
        {"email": "new.reader@example.org", "password1": "a-Long-enough-passphrase-9",
         "password2": "a-Long-enough-passphrase-9"},
    )
    confirm = re.sub(r"^https?://[^/]+", "", re.search(r"https?://\S+", mail.outbox[0].body).group(0))
    assert not AuditEntry.objects.exists()  # signing up grants nothing
    client.post(confirm)
    membership = Membership.objects.get(user__email="new.reader@example.org")
    entry = only_entry(membership, MEMBERSHIP)
    assert entry.actor == membership.user
    assert entry.data == {"tier": Tier.STRATEGIC_CIRCLE_SLUG, "from": None, "to": "active", "via": "email_verification"}
    services.grant_self_service_tier(user=membership.user)  # idempotent: nothing new happened, nothing recorded
    assert AuditEntry.objects.count() == 1


def test_lapsing_in_the_admin_records_who_lapsed_it(client):
    membership = Membership.objects.get(user=strategic_member())
    staff = moderator()
    client.force_login(staff)
    client.post(MEMBERSHIPS, {"action": "lapse_selected", "_selected_action": [membership.pk], "index": 0})
    entry = only_entry(membership, MEMBERSHIP)
    assert entry.actor == staff and (entry.data["from"], entry.data["to"]) == ("active", "lapsed")


def test_lapsing_without_a_person_is_recorded_as_the_system():
    membership = Membership.objects.get(user=strategic_member())
    services.lapse_membership(membership=membership)
    entry = only_entry(membership, MEMBERSHIP)
    assert entry.actor is None and entry.actor_label == "system" and entry.data["to"] == "lapsed"


def test_revoking_in_the_admin_records_who_revoked_it(client):
    membership = Membership.objects.get(user=alliance_member(), tier__level=2)
    staff = moderator()
    client.force_login(staff)
    client.post(MEMBERSHIPS, {"action": "revoke_selected", "_selected_action": [membership.pk], "index": 0})
    entry = only_entry(membership, MEMBERSHIP)
    assert entry.actor == staff and entry.target == membership
    assert (entry.data["from"], entry.data["to"]) == ("active", "rejected") and "revoked" in entry.summary


def test_ending_a_membership_without_permission_leaves_no_entry():
    membership = Membership.objects.get(user=strategic_member())
    before = snapshot()
    for end in (services.lapse_membership, services.revoke_membership):
        with pytest.raises(services.NotPermitted):
            end(membership=membership, by=analyst())
    assert snapshot() == before


def test_ending_an_inactive_membership_leaves_no_new_entry():
    membership = Membership.objects.get(user=strategic_member())
    services.lapse_membership(membership=membership)
    before = snapshot()
    with pytest.raises(services.AlreadyDecided):
        services.revoke_membership(membership=membership, by=moderator())
    assert snapshot() == before
