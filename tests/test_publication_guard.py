"""The publication guard: a profile is published or scheduled only with approved public evidence and
every citation resolving; a superuser may override with a recorded reason (DESIGN.md, "Moderation rules").

Each refusal is asserted through the admin the way an analyst meets it (an error on `status`, their
input kept) and in the database (profile unchanged, no audit entry, no history row); each has a
permitted twin.
"""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from audit.models import AuditEntry
from membership.models import Tier
from profiles import publication, services
from profiles.models import EvidenceItem, FAQItem, HistoricalInstitution, Institution

from .factories import BriefingFactory, EvidenceItemFactory, FAQItemFactory, InstitutionFactory, tier
from .test_admin import add_url, admin_form_data, change_url, form_errors

pytestmark = pytest.mark.django_db

S = EvidenceItem.Review
A = AuditEntry.Action
PUBLICATION_ACTIONS = [A.PUBLISH, A.SCHEDULE, A.UNPUBLISH, A.OVERRIDE]
QUEUE = "admin:profiles_evidenceitem_queue"


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def draft(analyst):
    """A draft assigned to the `analyst`, with no evidence yet."""
    profile = InstitutionFactory(
        name="DE-CIX Frankfurt", slug="de-cix-frankfurt", status=Institution.Status.DRAFT, published_at=None
    )
    assign_perm("profiles.change_institution", analyst, profile)
    return profile


@pytest.fixture
def other_profile():
    return InstitutionFactory(name="Verisign", slug="verisign")


def approved_public(profile) -> EvidenceItem:
    return EvidenceItemFactory(institution=profile, review_state=S.APPROVED, required_tier=None)


def post_change(client, user, profile, **changes):
    """Open the profile's change form as `user`, change some fields, and post it as a browser would."""
    client.force_login(user)
    data = admin_form_data(client.get(change_url(profile)))
    data.update(changes)
    return client.post(change_url(profile), data)


def publish(client, user, profile, **changes):
    return post_change(client, user, profile, status="published", **changes)


def status_error(response) -> str:
    assert response.status_code == 200, "expected the form back, got a redirect"
    return " ".join(response.context["adminform"].form.errors.get("status", []))


def publication_log(profile) -> list[str]:
    return list(
        AuditEntry.objects.about(profile).filter(action__in=PUBLICATION_ACTIONS).order_by("pk")
        .values_list("action", flat=True)
    )


def history_count(profile) -> int:
    return HistoricalInstitution.objects.filter(id=profile.pk).count()


def assert_unchanged_draft(profile, *, history_before: int):
    stored = Institution.objects.get(pk=profile.pk)
    assert (stored.status, stored.published_at, stored.version) == (Institution.Status.DRAFT, None, 1)
    assert publication_log(profile) == []
    assert history_count(profile) == history_before


# --- evidence ----------------------------------------------------------------------------------


def test_publishing_without_approved_public_evidence_is_refused(client, analyst, draft):
    history_before = history_count(draft)
    response = publish(client, analyst, draft, headline="Peak traffic passed 18 Tbit/s.")
    assert "No approved public evidence" in status_error(response)
    assert 'value="Peak traffic passed 18 Tbit/s."' in response.content.decode()  # nothing typed is lost
    assert_unchanged_draft(draft, history_before=history_before)
    assert Institution.objects.get(pk=draft.pk).headline == ""


def test_publishing_with_approved_public_evidence_is_allowed(client, analyst, draft):
    approved_public(draft)
    history_before = history_count(draft)
    response = publish(client, analyst, draft)
    assert response.status_code == 302, form_errors(response)
    stored = Institution.objects.get(pk=draft.pk)
    assert stored.is_published()
    assert publication_log(draft) == [A.PUBLISH]
    entry = AuditEntry.objects.about(draft).get(action=A.PUBLISH)
    assert entry.actor == analyst and entry.data["previous_status"] == "draft" and not entry.data["override"]
    assert history_count(draft) == history_before + 1


@pytest.mark.parametrize(
    "evidence",
    [
        pytest.param({"review_state": S.APPROVED, "required_tier": "members"}, id="approved-members-only"),
        pytest.param({"review_state": S.SUBMITTED}, id="submitted"),
        pytest.param({"review_state": S.REJECTED}, id="rejected"),
        pytest.param({"review_state": S.RETRACTED}, id="retracted"),
    ],
)
def test_members_only_or_unapproved_evidence_does_not_satisfy_the_guard(client, analyst, draft, evidence):
    if evidence.get("required_tier") == "members":
        evidence = {**evidence, "required_tier": tier(Tier.STRATEGIC_CIRCLE_SLUG)}
    EvidenceItemFactory(institution=draft, **evidence)
    history_before = history_count(draft)
    assert "No approved public evidence" in status_error(publish(client, analyst, draft))
    assert_unchanged_draft(draft, history_before=history_before)


def test_approved_evidence_of_another_profile_does_not_count(client, analyst, draft, other_profile):
    approved_public(other_profile)
    assert "No approved public evidence" in status_error(publish(client, analyst, draft))


# --- citations -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["missing", "submitted", "rejected", "other-profile"])
def test_a_body_citation_that_does_not_resolve_refuses_publication(client, analyst, draft, other_profile, target):
    approved_public(draft)
    cited = {
        "missing": lambda: 999_999,
        "submitted": lambda: EvidenceItemFactory(institution=draft, review_state=S.SUBMITTED).pk,
        "rejected": lambda: EvidenceItemFactory(institution=draft, review_state=S.REJECTED).pk,
        "other-profile": lambda: approved_public(other_profile).pk,
    }[target]()
    history_before = history_count(draft)
    error = status_error(publish(client, analyst, draft, body=f"Traffic grew [^ev:{cited}]."))
    assert f"[^ev:{cited}] in what happened" in error
    assert "No approved public evidence" not in error
    assert_unchanged_draft(draft, history_before=history_before)


def test_citations_of_approved_evidence_of_the_profile_allow_publication(client, analyst, draft):
    """Public text cites public evidence; a members-only briefing may cite members-only evidence."""
    public = approved_public(draft)
    members_only = EvidenceItemFactory(institution=draft, required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG))
    BriefingFactory(institution=draft, body=f"Deeper context [^ev:{members_only.pk}].")
    FAQItemFactory(institution=draft, answer=f"Yes [^ev:{public.pk}].")
    response = publish(client, analyst, draft, body=f"Traffic grew [^ev:{public.pk}].")
    assert response.status_code == 302, form_errors(response)
    assert publication_log(draft) == [A.PUBLISH]


def test_a_stored_faq_answer_citing_unapproved_evidence_refuses_publication(client, analyst, draft):
    """The form's early check cannot see inline rows; the service's final guard judges them."""
    approved_public(draft)
    pending = EvidenceItemFactory(institution=draft, review_state=S.SUBMITTED)
    FAQItemFactory(institution=draft, question="Who peers here?", answer=f"Hundreds [^ev:{pending.pk}].")
    history_before = history_count(draft)
    response = publish(client, analyst, draft, headline="Typed before publishing.")
    error = status_error(response)
    assert f"[^ev:{pending.pk}] in FAQ “Who peers here?”" in error and "awaiting review" in error
    assert 'value="Typed before publishing."' in response.content.decode()
    assert_unchanged_draft(draft, history_before=history_before)


def test_a_bad_citation_in_a_new_faq_row_refuses_publication_and_keeps_the_row_in_the_form(client, analyst, draft):
    approved_public(draft)
    client.force_login(analyst)
    data = admin_form_data(client.get(change_url(draft)))
    data.update({
        "status": "published", "faqs-TOTAL_FORMS": "1",
        "faqs-0-order": "1", "faqs-0-question": "Is it neutral?", "faqs-0-answer": "Yes [^ev:424242].",
    })
    response = client.post(change_url(draft), data)
    assert "[^ev:424242] in FAQ “Is it neutral?”" in status_error(response)
    assert "Is it neutral?" in response.content.decode()  # the analyst's row is still in the form
    assert not FAQItem.objects.filter(institution=draft).exists()  # rolled back with the profile
    assert Institution.objects.get(pk=draft.pk).status == Institution.Status.DRAFT


def test_fixing_an_faq_citation_in_the_publishing_submission_allows_publication(client, analyst, draft):
    """The guard judges the submission as saved: a bad stored citation fixed in the same post is fine."""
    evidence = approved_public(draft)
    faq = FAQItemFactory(institution=draft, question="Who peers here?", answer="Hundreds [^ev:424242].")
    client.force_login(analyst)
    data = admin_form_data(client.get(change_url(draft)))
    assert data["faqs-0-id"] == str(faq.pk)
    data.update({"status": "published", "faqs-0-answer": f"Hundreds [^ev:{evidence.pk}]."})
    response = client.post(change_url(draft), data)
    assert response.status_code == 302, form_errors(response)
    assert Institution.objects.get(pk=draft.pk).is_published()


# --- scheduling and republishing ------------------------------------------------------------------


def _schedule_fields(when: datetime.datetime) -> dict:
    local = timezone.localtime(when)
    return {"published_at_0": local.strftime("%Y-%m-%d"), "published_at_1": local.strftime("%H:%M:%S")}


def test_scheduling_without_evidence_is_refused(client, analyst, draft):
    history_before = history_count(draft)
    when = timezone.now() + datetime.timedelta(days=7)
    assert "No approved public evidence" in status_error(publish(client, analyst, draft, **_schedule_fields(when)))
    assert_unchanged_draft(draft, history_before=history_before)


def test_scheduling_with_evidence_is_allowed_and_recorded_with_its_time(client, analyst, draft):
    approved_public(draft)
    when = (timezone.now() + datetime.timedelta(days=7)).replace(microsecond=0)
    response = publish(client, analyst, draft, **_schedule_fields(when))
    assert response.status_code == 302, form_errors(response)
    stored = Institution.objects.get(pk=draft.pk)
    assert stored.is_scheduled() and stored.published_at == when
    [entry] = AuditEntry.objects.about(draft).filter(action__in=PUBLICATION_ACTIONS)
    assert entry.action == A.SCHEDULE
    assert entry.data["published_at"] == when.isoformat()


def test_rescheduling_a_published_profile_is_guarded(analyst):
    published = InstitutionFactory()  # published a day ago, with no evidence (from before the guard)
    copy = Institution.objects.get(pk=published.pk)
    copy.published_at = timezone.now() + datetime.timedelta(days=3)
    with pytest.raises(publication.PublicationRefused):
        services.save_institution(institution=copy, user=analyst, form_version=1)
    stored = Institution.objects.get(pk=published.pk)
    assert stored.is_published() and stored.version == 1
    assert publication_log(published) == []


def test_editing_a_published_profile_without_touching_its_publication_is_not_guarded(analyst):
    published = InstitutionFactory()
    copy = Institution.objects.get(pk=published.pk)
    copy.dek = "A corrected dek."
    services.save_institution(institution=copy, user=analyst, form_version=1)
    assert Institution.objects.get(pk=published.pk).dek == "A corrected dek."
    assert publication_log(published) == []


def test_republishing_an_archived_profile_is_guarded(client, analyst, draft):
    Institution.objects.filter(pk=draft.pk).update(status=Institution.Status.ARCHIVED)
    archived = Institution.objects.get(pk=draft.pk)
    assert "No approved public evidence" in status_error(publish(client, analyst, archived))
    approved_public(archived)
    assert publish(client, analyst, archived).status_code == 302
    assert publication_log(archived) == [A.PUBLISH]


def test_a_new_profile_cannot_be_added_as_published(client, analyst):
    client.force_login(analyst)
    data = admin_form_data(client.get(add_url(Institution)))
    data.update(name="Equinix", slug="equinix", dek="Carrier-neutral data centres.", status="published")
    response = client.post(add_url(Institution), data)
    assert "No approved public evidence" in status_error(response)
    assert not Institution.objects.filter(slug="equinix").exists()
    data["status"] = "draft"
    assert client.post(add_url(Institution), data).status_code == 302  # the permitted twin


# --- the service is the final guard -----------------------------------------------------------------


def test_service_refusal_rolls_back_the_whole_save(analyst, draft):
    history_before = history_count(draft)
    copy = Institution.objects.get(pk=draft.pk)
    copy.dek, copy.status = "Changed while publishing.", Institution.Status.PUBLISHED
    with pytest.raises(publication.PublicationRefused) as refused:
        services.save_institution(institution=copy, user=analyst, form_version=1)
    assert [check.key for check in refused.value.failed] == ["public-evidence"]
    stored = Institution.objects.get(pk=draft.pk)
    assert stored.dek != "Changed while publishing." and stored.status == Institution.Status.DRAFT
    assert stored.version == 1 and history_count(draft) == history_before
    assert publication_log(draft) == []


def test_service_publishes_once_the_evidence_is_approved(analyst, moderator, draft):
    from profiles import review

    item = review.record_submission(EvidenceItemFactory.build(institution=draft, review_state=S.SUBMITTED),
                                    actor=analyst)
    copy = Institution.objects.get(pk=draft.pk)
    copy.status = Institution.Status.PUBLISHED
    with pytest.raises(publication.PublicationRefused):
        services.save_institution(institution=copy, user=analyst, form_version=1)
    review.approve(item, actor=moderator)
    copy = Institution.objects.get(pk=draft.pk)
    copy.status = Institution.Status.PUBLISHED
    services.save_institution(institution=copy, user=analyst, form_version=1)
    assert Institution.objects.get(pk=draft.pk).is_published()
    assert publication_log(draft) == [A.PUBLISH]


# --- the superuser's override ------------------------------------------------------------------------


def test_superuser_override_with_a_reason_publishes_and_records_it(client, superuser, draft):
    client.force_login(superuser)
    html = client.get(change_url(draft)).content.decode()
    assert 'name="override_reason"' in html and publication.OVERRIDE_LABEL in html
    reason = "Court filing is public; the moderator is away until Monday."
    response = publish(client, superuser, draft, override_reason=reason, body="Cites [^ev:777777].")
    assert response.status_code == 302, form_errors(response)
    assert Institution.objects.get(pk=draft.pk).is_published()
    assert publication_log(draft) == [A.OVERRIDE, A.PUBLISH]
    override = AuditEntry.objects.about(draft).get(action=A.OVERRIDE)
    assert override.actor == superuser and reason in override.summary
    assert override.data["reason"] == reason
    assert [c["check"] for c in override.data["failed_checks"]] == ["public-evidence", "citations"]
    assert "[^ev:777777]" in " ".join(override.data["failed_checks"][1]["details"])
    assert AuditEntry.objects.about(draft).get(action=A.PUBLISH).data["override"] is True


def test_superuser_without_a_reason_is_refused_and_told_how_to_override(client, superuser, draft):
    history_before = history_count(draft)
    error = status_error(publish(client, superuser, draft, override_reason="   "))
    assert "No approved public evidence" in error and publication.OVERRIDE_LABEL in error
    assert_unchanged_draft(draft, history_before=history_before)


def test_analyst_has_no_override_and_a_posted_reason_is_ignored(client, analyst, draft):
    client.force_login(analyst)
    assert 'name="override_reason"' not in client.get(change_url(draft)).content.decode()
    history_before = history_count(draft)
    error = status_error(publish(client, analyst, draft, override_reason="I say so."))
    assert "No approved public evidence" in error and publication.OVERRIDE_LABEL not in error
    assert_unchanged_draft(draft, history_before=history_before)


def test_service_ignores_an_override_reason_from_a_non_superuser(analyst, draft):
    copy = Institution.objects.get(pk=draft.pk)
    copy.status = Institution.Status.PUBLISHED
    with pytest.raises(publication.PublicationRefused):
        services.save_institution(institution=copy, user=analyst, form_version=1, override_reason="I say so.")
    assert publication_log(draft) == []


def test_service_accepts_a_superusers_override_reason(superuser, draft):
    copy = Institution.objects.get(pk=draft.pk)
    copy.status = Institution.Status.PUBLISHED
    services.save_institution(institution=copy, user=superuser, form_version=1, override_reason="Urgent.")
    assert publication_log(draft) == [A.OVERRIDE, A.PUBLISH]


# --- the checklist on the change form -------------------------------------------------------------


def test_checklist_on_the_change_form_shows_what_is_missing_with_links(client, analyst, draft):
    EvidenceItemFactory(institution=draft, review_state=S.SUBMITTED)
    Institution.objects.filter(pk=draft.pk).update(body="Claim [^ev:999999].")
    client.force_login(analyst)
    html = client.get(change_url(draft)).content.decode()
    assert "publication checklist" in html.lower()
    checklist = html[html.index('class="publication-checklist"'):]
    checklist = checklist[: checklist.index("</ul>", checklist.index("[^ev:999999]")) + 5]
    assert checklist.count("✗ Missing:") == 2 and "✓ Done:" not in checklist
    assert "evidence awaits a moderator" in checklist
    assert f'href="{reverse(QUEUE)}"' in checklist
    assert 'href="#evidence-group"' in checklist and 'id="evidence-group"' in html
    assert "[^ev:999999] in what happened cites evidence #999999, which does not exist" in checklist


def test_checklist_on_the_change_form_shows_done_when_complete(client, analyst, draft):
    evidence = approved_public(draft)
    Institution.objects.filter(pk=draft.pk).update(body=f"Claim [^ev:{evidence.pk}].")
    client.force_login(analyst)
    html = client.get(change_url(draft)).content.decode()
    assert html.count("✓ Done:") == 2 and "✗ Missing:" not in html


def test_checklist_costs_at_most_three_queries(draft, django_assert_max_num_queries, django_assert_num_queries):
    evidence = approved_public(draft)
    FAQItemFactory(institution=draft, answer=f"Yes [^ev:{evidence.pk}].")
    BriefingFactory(institution=draft, body="Members [^ev:5555].")
    draft.body = f"Claim [^ev:{evidence.pk}]."
    with django_assert_max_num_queries(3):
        checks = publication.publication_checklist(draft)
    assert [c.ok for c in checks] == [True, False]
    draft.body = ""
    Institution.objects.filter(pk=draft.pk).update(body="")
    FAQItem.objects.filter(institution=draft).delete()
    draft.briefings.all().delete()
    with django_assert_num_queries(2):  # nothing cited: no evidence lookup
        assert all(c.ok for c in publication.publication_checklist(draft))


def test_cited_texts_gather_every_markdown_text_of_the_profile(draft):
    FAQItemFactory(institution=draft, question="Q?", answer="faq text")
    from .factories import TimelineEventFactory

    TimelineEventFactory(institution=draft, title="Launch", text="timeline text")
    BriefingFactory(institution=draft, title="Deep", body="briefing body", source_notes="briefing notes")
    draft.why_it_matters = "own text"
    texts = dict(publication.cited_texts(draft))
    assert texts["why it matters"] == "own text"
    assert texts["FAQ “Q?”"] == "faq text"
    assert texts["timeline “Launch”"] == "timeline text"
    assert texts["briefing “Deep”"] == "briefing body"
    assert texts["briefing “Deep” source notes"] == "briefing notes"


# --- unpublishing ------------------------------------------------------------------------------------


def test_unpublishing_records_an_audit_entry(client, analyst):
    published = InstitutionFactory()
    assign_perm("profiles.change_institution", analyst, published)
    response = post_change(client, analyst, published, status="archived")
    assert response.status_code == 302, form_errors(response)
    [entry] = AuditEntry.objects.about(published).filter(action__in=PUBLICATION_ACTIONS)
    assert entry.action == A.UNPUBLISH and entry.actor == analyst
    assert (entry.data["from"], entry.data["to"]) == ("published", "archived")


def test_editing_a_draft_records_no_publication_entry(client, analyst, draft):
    response = post_change(client, analyst, draft, dek="Still a draft.")
    assert response.status_code == 302, form_errors(response)
    assert publication_log(draft) == []


# --- other writers -----------------------------------------------------------------------------------


def test_every_published_demo_profile_passes_the_guard():
    call_command("seed_demo", stdout=io.StringIO())
    published = Institution.objects.filter(status=Institution.Status.PUBLISHED)
    assert published.count() >= 10
    for profile in published:
        assert publication.failed_checks(profile) == [], profile.slug
        assert publication_log(profile) in ([A.PUBLISH], [A.SCHEDULE]), profile.slug
    call_command("seed_demo", stdout=io.StringIO())  # a second run publishes nothing again
    assert AuditEntry.objects.filter(action__in=PUBLICATION_ACTIONS).count() == published.count()


def test_checklist_adds_at_most_three_queries_to_the_change_form(client, analyst, draft, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    evidence = approved_public(draft)
    FAQItemFactory(institution=draft, answer=f"Yes [^ev:{evidence.pk}].")
    Institution.objects.filter(pk=draft.pk).update(body=f"Claim [^ev:{evidence.pk}].")
    client.force_login(analyst)
    client.get(change_url(draft))  # warm per-process caches (content types, site)

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(change_url(draft)).status_code == 200
        return len(captured)

    with_checklist = page_queries()
    monkeypatch.setattr(publication, "publication_checklist", lambda institution, **kwargs: [])
    # Shown twice (the "Publishing" field and the panel at the top of the form), asked once.
    assert with_checklist - page_queries() <= 3
