"""The Leadership Alliance application: the form, the services, the admin review queue, and bad input."""

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse

from membership import gating, services
from membership.models import Application, Membership, Tier

from .factories import ApplicationFactory, StaffFactory
from .factories_membership import (
    alliance_member,
    analyst,
    ensure_reference_data,
    moderator,
    pending_applicant,
    strategic_member,
    unverified_user,
)

pytestmark = pytest.mark.django_db

APPLY = "/membership/apply/"
CHANGELIST = "/admin/membership/application/"
FORM = {
    "organisation": "Northern Fibre Exchange",
    "role": "Chief Executive",
    "qualification_statement": "We operate an internet exchange with 140 connected networks.",
    "consent": "on",
}


def snapshot():
    """Everything an application decision could change, to assert that a refusal changed nothing."""
    return (
        sorted(Application.objects.values_list("pk", "state", "reviewer_id", "review_note")),
        sorted(Membership.objects.values_list("pk", "user_id", "tier_id", "status")),
    )


def alliance_level(user):
    return gating.reader_for(type(user).objects.get(pk=user.pk)).level >= 2


# --- the form ------------------------------------------------------------------------------------------


def test_apply_url_is_stable():
    assert reverse("membership:apply") == APPLY


def test_anonymous_reader_is_sent_to_sign_in_and_back(client):
    response = client.get(APPLY)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={APPLY}"
    assert client.post(APPLY, FORM).status_code == 302
    assert not Application.objects.exists()


def test_verified_member_sees_the_form(client):
    client.force_login(strategic_member())
    html = client.get(APPLY).content.decode()
    for name in ("organisation", "role", "qualification_statement", "consent"):
        assert f'name="{name}"' in html


def test_verified_member_applies(client, django_capture_on_commit_callbacks):
    member = strategic_member()
    client.force_login(member)
    response = client.post(APPLY, FORM)
    assert response.status_code == 302 and response["Location"] == reverse("membership:tiers")
    application = Application.objects.get(user=member)
    assert application.state == Application.State.PENDING
    assert application.tier.slug == Tier.LEADERSHIP_ALLIANCE_SLUG
    assert application.consent is True
    assert "under review" in client.get(response["Location"]).content.decode()


def test_consent_is_required(client):
    client.force_login(strategic_member())
    response = client.post(APPLY, {**FORM, "consent": ""})
    assert response.status_code == 200
    assert "Please confirm that we may review" in response.content.decode()
    assert not Application.objects.exists()


@pytest.mark.parametrize("missing", ["organisation", "role", "qualification_statement"])
def test_every_field_is_required(client, missing):
    client.force_login(strategic_member())
    response = client.post(APPLY, {**FORM, missing: ""})
    assert response.status_code == 200
    assert not Application.objects.exists()


def test_unverified_reader_gets_a_clear_message_and_no_form(client):
    client.force_login(unverified_user())
    response = client.get(APPLY)
    html = response.content.decode()
    assert "Verify your e-mail address before applying" in html
    assert 'name="organisation"' not in html


def test_unverified_reader_cannot_submit(client):
    client.force_login(unverified_user())
    before = snapshot()
    response = client.post(APPLY, FORM)
    assert response.status_code == 403
    assert "Verify your e-mail address before applying" in response.content.decode()
    assert snapshot() == before


def test_second_application_gets_a_clear_message(client):
    application = pending_applicant()
    client.force_login(application.user)
    assert "already have an application under review" in client.get(APPLY).content.decode()
    before = snapshot()
    response = client.post(APPLY, FORM)
    assert response.status_code == 409
    assert "already have an application under review" in response.content.decode()
    assert snapshot() == before


def test_alliance_member_is_told_they_are_already_a_member(client):
    client.force_login(alliance_member())
    assert "already a Leadership Alliance member" in client.get(APPLY).content.decode()
    before = snapshot()
    assert client.post(APPLY, FORM).status_code == 409
    assert snapshot() == before


def test_rejected_applicant_may_apply_again(client):
    application = pending_applicant()
    services.reject_application(application=application, reviewer=moderator(), note="Not yet.")
    client.force_login(application.user)
    assert client.post(APPLY, FORM).status_code == 302
    assert Application.objects.filter(user=application.user).count() == 2


def test_apply_without_csrf_token_is_refused():
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(strategic_member())
    response = csrf_client.post(APPLY, FORM)
    assert response.status_code == 403
    assert not Application.objects.exists()


# --- services: submit ------------------------------------------------------------------------------------


def test_submit_refuses_unverified():
    with pytest.raises(services.EmailNotVerified):
        services.submit_application(user=unverified_user(), **{**FORM, "consent": True})
    assert not Application.objects.exists()


def test_submit_checks_first_and_the_database_constraint_backs_it():
    application = pending_applicant()
    with pytest.raises(services.ApplicationAlreadyOpen):
        services.submit_application(user=application.user, **{**FORM, "consent": True})
    with pytest.raises(IntegrityError):  # the partial unique constraint, should a race get past the check
        ApplicationFactory(user=application.user)


def test_submit_turns_a_racing_duplicate_into_a_clear_error(monkeypatch):
    application = pending_applicant()
    monkeypatch.setattr(services, "open_application", lambda user: None)  # the race: the check saw nothing
    with pytest.raises(services.ApplicationAlreadyOpen):
        services.submit_application(user=application.user, **{**FORM, "consent": True})
    assert Application.objects.filter(user=application.user).count() == 1


# --- services: decisions ------------------------------------------------------------------------------


def test_approval_makes_the_applicant_an_alliance_member_and_emails_them(django_capture_on_commit_callbacks):
    application = pending_applicant()
    reviewer = moderator()
    with django_capture_on_commit_callbacks(execute=True):
        services.approve_application(application=application, reviewer=reviewer, note="Welcome aboard.")
    application.refresh_from_db()
    assert application.state == Application.State.APPROVED
    assert application.reviewer == reviewer and application.reviewed_at is not None
    membership = Membership.objects.get(user=application.user, tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG)
    assert membership.status == Membership.Status.ACTIVE and membership.reviewed_by == reviewer
    assert alliance_level(application.user)
    [message] = mail.outbox
    assert message.to == [application.user.email]
    assert "approved" in message.body and "Welcome aboard." in message.body
    assert message.alternatives and "text/html" in message.alternatives[0][1]


def test_approval_reactivates_a_lapsed_alliance_membership():
    member = alliance_member()
    membership = Membership.objects.get(user=member, tier__level=2)
    services.lapse_membership(membership=membership)
    application = ApplicationFactory(user=member)
    services.approve_application(application=application, reviewer=moderator())
    membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE and membership.ends_at is None


def test_rejection_needs_a_note_and_emails_the_applicant(django_capture_on_commit_callbacks):
    application = pending_applicant()
    reviewer = moderator()
    with pytest.raises(services.MembershipError, match="note is required"):
        services.reject_application(application=application, reviewer=reviewer, note="  ")
    application.refresh_from_db()
    assert application.state == Application.State.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        services.reject_application(application=application, reviewer=reviewer, note="No assets listed.")
    application.refresh_from_db()
    assert application.state == Application.State.REJECTED
    assert not alliance_level(application.user)
    [message] = mail.outbox
    assert "No assets listed." in message.body


def test_decision_email_is_not_sent_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    from django.db import transaction

    application = pending_applicant()
    reviewer = moderator()
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.approve_application(application=application, reviewer=reviewer)
        raise RuntimeError
    assert callbacks == [] and mail.outbox == []


def test_review_permitted_for_a_moderator():
    application = pending_applicant()
    services.approve_application(application=application, reviewer=moderator())
    assert application.state == Application.State.APPROVED


def test_review_permitted_for_a_superuser():
    application = pending_applicant()
    services.approve_application(application=application, reviewer=StaffFactory(is_superuser=True))
    assert application.state == Application.State.APPROVED


@pytest.mark.parametrize("who", ["analyst", "reader", "inactive moderator"])
def test_review_denied_without_review_permission(who):
    application = pending_applicant()
    reviewer = {
        "analyst": analyst,
        "reader": strategic_member,
        "inactive moderator": lambda: moderator(is_active=False),
    }[who]()
    before = snapshot()
    for decide in (services.approve_application, services.reject_application):
        with pytest.raises(services.NotPermitted):
            decide(application=application, reviewer=reviewer, note="x")
    assert snapshot() == before


def test_four_eyes_a_moderator_cannot_decide_their_own_application():
    reviewer = moderator()
    application = ApplicationFactory(user=reviewer)
    before = snapshot()
    with pytest.raises(services.SelfReview, match="another moderator"):
        services.approve_application(application=application, reviewer=reviewer)
    with pytest.raises(services.SelfReview):
        services.reject_application(application=application, reviewer=reviewer, note="x")
    assert snapshot() == before


def test_an_application_is_decided_once():
    application = pending_applicant()
    first, second = moderator(), moderator()
    services.approve_application(application=application, reviewer=first)
    stale = Application.objects.get(pk=application.pk)
    stale.state = Application.State.PENDING  # what a second moderator's stale page still shows
    before = snapshot()
    with pytest.raises(services.AlreadyDecided, match="already approved"):
        services.reject_application(application=stale, reviewer=second, note="Too late.")
    assert snapshot() == before


# --- admin: the queue -------------------------------------------------------------------------------------


def test_queue_lists_pending_applications_first(client):
    decided = pending_applicant()
    services.reject_application(application=decided, reviewer=moderator(), note="No.")
    older, newer = pending_applicant(), pending_applicant()
    client.force_login(moderator())
    rows = list(client.get(CHANGELIST).context["cl"].result_list)
    assert [a.pk for a in rows] == [older.pk, newer.pk, decided.pk]


def test_queue_query_budget_holds_at_1_and_many_rows(client, django_assert_max_num_queries):
    client.force_login(moderator())
    pending_applicant()
    with django_assert_max_num_queries(20) as one:
        client.get(CHANGELIST)
    for _ in range(30):
        pending_applicant()
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(CHANGELIST)


def test_change_form_shows_the_applicant_read_only(client):
    application = pending_applicant(email="applicant@example.org")
    client.force_login(moderator())
    response = client.get(reverse("admin:membership_application_change", args=[application.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "applicant@example.org" in html and application.qualification_statement in html
    assert 'name="organisation"' not in html and 'name="_save"' not in html
    assert reverse("admin:membership_application_decide", args=[application.pk]) in html


def test_nobody_adds_or_deletes_applications_in_the_admin(client):
    application = pending_applicant()
    client.force_login(StaffFactory(is_superuser=True))
    assert client.get(reverse("admin:membership_application_add")).status_code == 403
    assert client.get(reverse("admin:membership_application_delete", args=[application.pk])).status_code == 403


def test_review_actions_are_offered_to_moderators(client):
    pending_applicant()
    client.force_login(moderator())
    html = client.get(CHANGELIST).content.decode()
    assert 'value="approve_selected"' in html and 'value="reject_selected"' in html


def test_review_actions_are_hidden_from_staff_without_review_permission(client):
    pending_applicant()
    staff = analyst()
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_application"))
    client.force_login(staff)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    html = response.content.decode()
    assert "approve_selected" not in html and "reject_selected" not in html
    assert "Approve or reject" not in client.get(
        reverse("admin:membership_application_change", args=[Application.objects.get().pk])
    ).content.decode()


def choose_action(client, action, applications):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [a.pk for a in applications], "index": 0}
    )


def confirm_action(client, action, applications, decision, note=""):
    return client.post(
        CHANGELIST,
        {
            "action": action,
            "_selected_action": [a.pk for a in applications],
            "decision": decision,
            "note": note,
            "confirm": "yes",
        },
    )


def test_approve_action_asks_for_a_note_then_approves_each(client, django_capture_on_commit_callbacks):
    applications = [pending_applicant(), pending_applicant()]
    reviewer = moderator()
    client.force_login(reviewer)

    page = choose_action(client, "approve_selected", applications)
    assert page.status_code == 200
    assert 'name="note"' in page.content.decode()
    assert all(a.organisation in page.content.decode() for a in applications)
    assert not Application.objects.exclude(state="pending").exists()  # nothing decided yet

    with django_capture_on_commit_callbacks(execute=True):
        response = confirm_action(client, "approve_selected", applications, "approve", note="Welcome.")
    assert response.status_code == 302
    for application in applications:
        application.refresh_from_db()
        assert application.state == Application.State.APPROVED and application.reviewer == reviewer
        assert alliance_level(application.user)
    assert len(mail.outbox) == 2
    assert LogEntry.objects.filter(object_id__in=[str(a.pk) for a in applications]).count() == 2


def test_reject_action_requires_a_note(client):
    application = pending_applicant()
    client.force_login(moderator())
    before = snapshot()
    response = confirm_action(client, "reject_selected", [application], "reject", note="")
    assert response.status_code == 200
    assert "a note is required to reject" in response.content.decode()
    assert snapshot() == before


def test_reject_action_with_a_note_rejects(client):
    application = pending_applicant()
    client.force_login(moderator())
    confirm_action(client, "reject_selected", [application], "reject", note="Please reapply with details.")
    application.refresh_from_db()
    assert application.state == Application.State.REJECTED
    assert application.review_note == "Please reapply with details."


def test_action_on_an_already_decided_application_says_so_and_changes_nothing(client):
    application = pending_applicant()
    services.approve_application(application=application, reviewer=moderator())
    client.force_login(moderator())
    before = snapshot()
    response = confirm_action(client, "reject_selected", [application], "reject", note="Late.")
    assert snapshot() == before
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("already approved" in m for m in messages)


def test_single_application_decide_page(client):
    application = pending_applicant()
    client.force_login(moderator())
    url = reverse("admin:membership_application_decide", args=[application.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"decision": "approve", "note": "", "confirm": "yes"})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.state == Application.State.APPROVED


def test_single_application_decide_page_denied_without_review_permission(client):
    application = pending_applicant()
    staff = analyst()
    client.force_login(staff)
    url = reverse("admin:membership_application_decide", args=[application.pk])
    before = snapshot()
    assert client.post(url, {"decision": "approve", "confirm": "yes"}).status_code == 403
    assert snapshot() == before


# --- forged and CSRF-less admin POSTs ------------------------------------------------------------------


def test_approve_action_without_csrf_token_is_refused():
    application = pending_applicant()
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(moderator())
    before = snapshot()
    response = csrf_client.post(
        CHANGELIST,
        {"action": "approve_selected", "_selected_action": [application.pk], "decision": "approve", "confirm": "yes"},
    )
    assert response.status_code == 403
    assert snapshot() == before


def test_member_forging_the_admin_action_for_their_own_application_is_sent_to_login(client):
    application = pending_applicant()
    client.force_login(application.user)
    before = snapshot()
    response = confirm_action(client, "approve_selected", [application], "approve")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert snapshot() == before
    assert not alliance_level(application.user)


def test_member_forging_the_decide_url_is_sent_to_login(client):
    application = pending_applicant()
    client.force_login(application.user)
    before = snapshot()
    url = reverse("admin:membership_application_decide", args=[application.pk])
    response = client.post(url, {"decision": "approve", "confirm": "yes"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert snapshot() == before


def test_moderator_approving_their_own_application_in_the_admin_is_refused(client):
    reviewer = moderator()
    application = ApplicationFactory(user=reviewer)
    client.force_login(reviewer)
    before = snapshot()
    response = confirm_action(client, "approve_selected", [application], "approve")
    assert snapshot() == before
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("cannot decide your own application" in m for m in messages)


def test_staff_without_review_permission_cannot_run_the_action_by_forging_it(client):
    application = pending_applicant()
    staff = analyst()
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_application"))
    client.force_login(staff)
    before = snapshot()
    confirm_action(client, "approve_selected", [application], "approve")
    assert snapshot() == before


# --- concurrency (PostgreSQL) --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _reference_data_after_flush(django_db_setup, django_db_blocker):
    """The transactional test below ends with a flush; put the seeded rows back for the tests after it."""
    yield
    with django_db_blocker.unblock():
        ensure_reference_data()



@pytest.mark.postgres
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="row locks (select_for_update) need PostgreSQL; SQLite serialises writes anyway",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_end_in_exactly_one_state(_reference_data_after_flush):
    import threading

    from django.db import connections

    ensure_reference_data()  # an earlier transactional test may have flushed the seeded tiers and groups
    application = pending_applicant()
    reviewers = [moderator(), moderator()]
    results = []
    barrier = threading.Barrier(2)

    def decide(reviewer, approve):
        try:
            barrier.wait()
            if approve:
                services.approve_application(application=Application.objects.get(pk=application.pk), reviewer=reviewer)
            else:
                services.reject_application(
                    application=Application.objects.get(pk=application.pk), reviewer=reviewer, note="No."
                )
            results.append("ok")
        except services.AlreadyDecided:
            results.append("already decided")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=decide, args=(r, i == 0)) for i, r in enumerate(reviewers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["already decided", "ok"]
    application.refresh_from_db()
    assert application.state in (Application.State.APPROVED, Application.State.REJECTED)
    assert Membership.objects.filter(
        user=application.user, tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG, status="active"
    ).exists() == (application.state == Application.State.APPROVED)
