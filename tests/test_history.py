"""Edit history people can read (issue 14): a save that changes nothing records nothing; each
revision says who, when, why and what changed word by word; any two revisions compare; a revert
goes through the write services (the optimistic lock, review) and only editors may revert.

Forms are posted the way a browser posts them: every textarea with \\r\\n line endings.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from profiles import history, review
from profiles.models import EvidenceItem, HistoricalEvidenceItem, HistoricalInstitution, Institution

from .factories import EvidenceItemFactory, FAQItemFactory, InstitutionFactory, StaffFactory
from .html_forms import form_data

pytestmark = pytest.mark.django_db

KEY_POINTS = "Runs the largest exchange in Europe.  \nPeers with 1,100 networks.\n"


# --- helpers ----------------------------------------------------------------------------------


def url(obj, kind, *args) -> str:
    opts = obj._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{kind}", args=[obj.pk, *args])


def browser_form(client, obj) -> dict:
    """What a browser posts from the change form: textareas come back with \\r\\n line endings."""
    response = client.get(url(obj, "change"))
    assert response.status_code == 200
    data = form_data(response.content.decode(), f"{obj._meta.model_name}_form")
    return {name: _crlf(value) for name, value in data.items()}


def _crlf(value):
    if isinstance(value, list):
        return [_crlf(v) for v in value]
    return value.replace("\r\n", "\n").replace("\n", "\r\n")


def save_form(client, obj, **changes):
    data = browser_form(client, obj)
    data.update(changes)
    response = client.post(url(obj, "change"), data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    return response


def revisions(obj):
    return list(obj.history.order_by("-history_date", "-history_id"))


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def profile(analyst):
    institution = InstitutionFactory(name="DE-CIX Frankfurt", slug="de-cix-frankfurt", key_points=KEY_POINTS)
    assign_perm("profiles.change_institution", analyst, institution)
    return institution


@pytest.fixture
def editor(client, analyst, profile):
    client.force_login(analyst)
    return client


# --- a save that changes nothing records nothing -------------------------------------------------


def test_saving_an_untouched_profile_records_no_revision(editor, profile):
    before = len(revisions(profile))
    save_form(editor, profile)
    save_form(editor, profile)
    assert len(revisions(profile)) == before


def test_an_untouched_save_leaves_the_public_date_and_stores_plain_line_breaks(editor, profile):
    profile.refresh_from_db()
    public_date = profile.public_updated_at
    save_form(editor, profile)
    profile.refresh_from_db()
    assert profile.public_updated_at == public_date
    assert "\r" not in profile.key_points and profile.key_points.startswith("Runs the largest exchange")


def test_changing_the_dek_records_one_revision_listing_only_the_dek(editor, profile):
    save_form(editor, profile, dek="A new dek for the exchange.")
    newest = revisions(profile)[0]
    page = history.revision_page(Institution, profile.pk)
    assert page.revisions[0].record == newest
    assert [change.name for change in page.revisions[0].changes] == ["dek"]


def test_line_endings_and_trailing_spaces_are_not_changes():
    assert history.normalise("One  \r\nTwo\r\n\r\n") == history.normalise("One\nTwo") == "One\nTwo"
    assert history.normalise(None) == history.normalise("")


def test_a_real_change_after_a_no_op_save_is_recorded(editor, profile):
    save_form(editor, profile)
    save_form(editor, profile, headline="Traffic record broken.")
    assert revisions(profile)[0].headline == "Traffic record broken."


# --- each revision: who, when, why, what --------------------------------------------------------


def test_revision_shows_who_when_the_reason_and_a_word_diff(editor, analyst, profile):
    analyst.first_name, analyst.last_name = "Ana", "Lyst"
    analyst.save()
    old_dek = profile.dek
    save_form(editor, profile, dek=old_dek.replace("operates", "runs"), change_reason="Tighter wording")
    record = revisions(profile)[0]
    assert record.history_change_reason == "Tighter wording"
    response = editor.get(url(profile, "history"))
    html = response.content.decode()
    assert "Ana Lyst" in html
    assert "Reason:</span> Tighter wording" in html
    assert "<del>operates</del><ins>runs</ins>" in html
    assert str(record.history_date.year) in html and "+00:00" not in text_of(response)


def test_empty_reason_shows_nothing_and_never_none(editor, profile):
    save_form(editor, profile, dek="Another dek.", change_reason="")
    assert revisions(profile)[0].history_change_reason is None
    html = editor.get(url(profile, "history")).content.decode()
    assert "Reason:" not in html
    assert "None" not in text_of(editor.get(url(profile, "history")))
    assert "Deleted user" not in html


def test_the_change_form_asks_for_an_optional_reason(editor, profile):
    html = editor.get(url(profile, "change")).content.decode()
    assert "Reason for this change" in html and 'name="change_reason"' in html


def test_a_moderator_reading_a_profile_is_not_asked_for_a_reason(client, moderator, profile):
    client.force_login(moderator)
    html = client.get(url(profile, "change")).content.decode()
    assert 'name="change_reason"' not in html


def test_a_long_reason_is_refused_with_a_field_error(editor, profile):
    data = browser_form(editor, profile)
    data.update(dek="Changed.", change_reason="x" * 101)
    response = editor.post(url(profile, "change"), data)
    assert response.status_code == 200
    assert "change_reason" in response.context["adminform"].form.errors
    profile.refresh_from_db()
    assert profile.dek != "Changed."


def test_reason_given_beside_the_workflow_reason(client, analyst, profile):
    item = EvidenceItemFactory(institution=profile, title="Annual report")
    client.force_login(analyst)
    save_form(client, item, title="Annual report 2025", change_reason="Year added")
    record = revisions(item)[0]
    assert record.history_change_reason == "Year added (edited after review: approved → submitted)"


def test_evidence_history_names_people_and_review_moves(client, analyst, moderator, profile):
    moderator.first_name, moderator.last_name = "Mo", "Derator"
    moderator.save()
    item = EvidenceItemFactory.build(institution=profile, review_state=EvidenceItem.Review.SUBMITTED)
    review.record_submission(item, actor=analyst)
    client.force_login(moderator)
    client.post(url(item, "review"), {"decision": "approve", "confirm": "yes", "note": ""})
    assert EvidenceItem.objects.get(pk=item.pk).review_state == EvidenceItem.Review.APPROVED
    html = client.get(url(item, "history")).content.decode()
    assert "by Mo Derator" in html
    assert "Submitted</del> → <ins>Approved" in html  # a state changes as a whole, not word by word
    assert "Deleted user" not in html and "None" not in html


def test_saving_unchanged_evidence_records_nothing_but_a_decision_does(client, analyst, moderator, profile):
    item = EvidenceItemFactory.build(institution=profile, review_state=EvidenceItem.Review.SUBMITTED)
    review.record_submission(item, actor=analyst)
    client.force_login(analyst)
    save_form(client, item)
    assert len(revisions(item)) == 1
    review.approve(item, actor=moderator)
    assert len(revisions(item)) == 2


def test_history_pages_carry_no_inline_style(editor, profile):
    save_form(editor, profile, dek="A second dek.")
    first, second = revisions(profile)[1], revisions(profile)[0]
    pages = [
        url(profile, "history"),
        url(profile, "history_compare") + f"?a={first.history_id}&b={second.history_id}",
        url(profile, "history_revert", first.history_id),
    ]
    for page in pages:
        html = editor.get(page).content.decode()
        assert " style=" not in html and "<style" not in html, page
        assert "admin_history.css" in html


def test_word_diff_keeps_the_whole_text_and_its_line_breaks():
    segments = history.word_diff("The quick fox\njumps.", "The slow fox\njumps high.")
    assert segments == (
        ("same", "The "), ("removed", "quick"), ("added", "slow"), ("same", " fox\njumps"), ("added", " high"),
        ("same", "."),
    )


# --- compare any two revisions -------------------------------------------------------------------


def test_compare_two_chosen_revisions_word_by_word(editor, profile):
    save_form(editor, profile, dek="First new dek.")
    save_form(editor, profile, headline="A headline.")
    save_form(editor, profile, dek="Second new dek.")
    newest, _, _, oldest = revisions(profile)
    response = editor.get(url(profile, "history_compare") + f"?a={newest.history_id}&b={oldest.history_id}")
    assert response.status_code == 200
    comparison = response.context["comparison"]
    assert comparison.older.record == oldest and comparison.newer.record == newest
    assert {change.name for change in comparison.changes} == {"dek", "headline"}
    html = response.content.decode()
    assert "<ins>Second</ins>" in html and "<ins>A headline.</ins>" in html


def test_history_page_offers_two_revisions_to_compare(editor, profile):
    save_form(editor, profile, dek="First new dek.")
    html = editor.get(url(profile, "history")).content.decode()
    assert 'name="a"' in html and 'name="b"' in html
    assert f'action="{url(profile, "history_compare")}"' in html


def test_compare_refuses_a_revision_of_another_profile(editor, profile):
    other = InstitutionFactory()
    theirs = revisions(other)[0]
    mine = revisions(profile)[0]
    response = editor.get(url(profile, "history_compare") + f"?a={mine.history_id}&b={theirs.history_id}")
    assert response.status_code == 404


# --- revert through the services -----------------------------------------------------------------


def confirm_revert(client, obj, record, **overrides):
    page = client.get(url(obj, "history_revert", record.history_id))
    assert page.status_code == 200
    data = form_data(page.content.decode().replace("<form method", '<form id="revert" method'), "revert")
    data.update(overrides)
    return client.post(url(obj, "history_revert", record.history_id), data)


def test_revert_restores_the_text_and_says_so_in_history(editor, analyst, profile):
    original_dek = profile.dek
    save_form(editor, profile, dek="A mistaken dek.")
    target = revisions(profile)[1]
    response = confirm_revert(editor, profile, target)
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.dek == original_dek
    newest = revisions(profile)[0]
    assert newest.history_user == analyst
    assert newest.history_change_reason.startswith("Reverted to revision of ")
    assert newest.history_change_reason.endswith("by system")  # the factory's row has no user


def test_revert_keeps_status_and_address(editor, profile):
    save_form(editor, profile, dek="Changed dek.", slug="de-cix")
    target = revisions(profile)[1]
    profile.refresh_from_db()
    confirm_revert(editor, profile, target)
    profile.refresh_from_db()
    assert profile.slug == "de-cix" and profile.status == Institution.Status.PUBLISHED


def test_revert_with_a_stale_page_is_refused_and_changes_nothing(editor, profile):
    save_form(editor, profile, dek="Second dek.")
    target = revisions(profile)[1]
    page = editor.get(url(profile, "history_revert", target.history_id))
    data = form_data(page.content.decode().replace("<form method", '<form id="revert" method'), "revert")
    save_form(editor, profile, dek="Someone else's dek.")  # saved after the page was opened
    count = len(revisions(profile))
    response = editor.post(url(profile, "history_revert", target.history_id), data)
    assert response.status_code == 200
    assert "Nothing was reverted" in response.content.decode() or "after you opened" in response.content.decode()
    profile.refresh_from_db()
    assert profile.dek == "Someone else's dek."
    assert len(revisions(profile)) == count


def test_revert_of_a_profile_needs_the_version_the_page_showed(editor, profile):
    save_form(editor, profile, dek="Second dek.")
    target = revisions(profile)[1]
    profile.refresh_from_db()
    response = confirm_revert(editor, profile, target, form_version=str(profile.version - 1))
    assert response.status_code == 200
    profile.refresh_from_db()
    assert profile.dek == "Second dek."


def test_reverting_approved_evidence_sends_it_back_to_review(client, analyst, profile):
    item = EvidenceItemFactory(institution=profile, title="Annual report", review_state=EvidenceItem.Review.APPROVED)
    item.title = "Annual report (wrong year)"
    item.save()  # a moderator approved this version too
    target = revisions(item)[1]
    client.force_login(analyst)
    response = confirm_revert(client, item, target)
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.title == "Annual report"
    assert item.review_state == EvidenceItem.Review.SUBMITTED
    assert analyst in item.authors.all()  # four eyes: the reverter cannot approve it
    record = HistoricalEvidenceItem.objects.filter(id=item.pk).latest("history_date", "history_id")
    assert record.history_change_reason.startswith("Reverted to revision of ")


def test_reverting_a_child_after_someone_else_saved_it_is_refused(client, analyst, profile):
    faq = FAQItemFactory(institution=profile, answer="First answer.")
    faq.answer = "Second answer."
    faq.save()
    target = revisions(faq)[1]
    client.force_login(analyst)
    page = client.get(url(faq, "history_revert", target.history_id))
    data = form_data(page.content.decode().replace("<form method", '<form id="revert" method'), "revert")
    faq.answer = "Third answer."
    faq.save()
    response = client.post(url(faq, "history_revert", target.history_id), data)
    assert response.status_code == 200
    assert "after you opened the revert page" in response.content.decode()
    faq.refresh_from_db()
    assert faq.answer == "Third answer."


def test_reverting_a_faq_answer_restores_it(client, analyst, profile):
    faq = FAQItemFactory(institution=profile, answer="First answer.")
    faq.answer = "Second answer."
    faq.save()
    client.force_login(analyst)
    assert confirm_revert(client, faq, revisions(faq)[1]).status_code == 302
    faq.refresh_from_db()
    assert faq.answer == "First answer."


def test_a_revert_that_breaks_a_rule_says_why_and_changes_nothing(client, analyst, profile):
    faq = FAQItemFactory(institution=profile, order=1)
    faq.order = 5
    faq.save()
    FAQItemFactory(institution=profile, order=1)  # another question took its old place
    count = len(revisions(faq))
    client.force_login(analyst)
    response = confirm_revert(client, faq, revisions(faq)[1])
    assert response.status_code == 200
    assert "Another FAQ item of this profile has this order." in response.content.decode()
    faq.refresh_from_db()
    assert faq.order == 5 and len(revisions(faq)) == count


def test_a_profile_revert_without_its_version_marker_is_refused(editor, profile):
    save_form(editor, profile, dek="Second dek.")
    target = revisions(profile)[1]
    page = editor.get(url(profile, "history_revert", target.history_id))
    data = form_data(page.content.decode().replace("<form method", '<form id="revert" method'), "revert")
    data.pop("form_version")
    response = editor.post(url(profile, "history_revert", target.history_id), data)
    assert response.status_code == 200 and "lost its version marker" in response.content.decode()
    profile.refresh_from_db()
    assert profile.dek == "Second dek."


def test_reverting_to_the_current_content_offers_nothing(editor, profile):
    newest = revisions(profile)[0]
    response = editor.get(url(profile, "history_revert", newest.history_id))
    assert "nothing to revert" in response.content.decode()
    assert "Revert to this revision" not in response.content.decode()


# --- who may read and who may revert -------------------------------------------------------------


def test_moderator_reads_history_but_never_reverts(client, moderator, analyst, profile):
    client.force_login(analyst)
    save_form(client, profile, dek="Second dek.")
    target = revisions(profile)[1]
    client.force_login(moderator)
    assert client.get(url(profile, "history")).status_code == 200
    assert client.get(url(profile, "history_compare")).status_code == 200
    assert "Revert to this revision" not in client.get(url(profile, "history")).content.decode()
    assert client.get(url(profile, "history_revert", target.history_id)).status_code == 403
    assert client.post(url(profile, "history_revert", target.history_id), {"seen_revision": "1"}).status_code == 403
    profile.refresh_from_db()
    assert profile.dek == "Second dek."


def test_unassigned_analyst_opens_no_history_of_the_profile(client, staff_factory, profile):
    stranger = staff_factory("Analysts")
    client.force_login(stranger)
    record = revisions(profile)[0]
    assert client.get(url(profile, "history")).status_code == 403
    assert client.get(url(profile, "history_compare")).status_code == 403
    assert client.get(url(profile, "history_revert", record.history_id)).status_code == 403


def test_assigned_analyst_sees_the_revert_link(editor, profile):
    save_form(editor, profile, dek="Second dek.")
    assert "Revert to this revision" in editor.get(url(profile, "history")).content.decode()


# --- query budgets -------------------------------------------------------------------------------


@pytest.mark.parametrize("saves", [1, 200])
def test_history_page_query_budget(client, django_assert_max_num_queries, saves):
    profile = InstitutionFactory()
    for n in range(saves - 1):
        profile.dek = f"Dek number {n}."
        profile.save()
    client.force_login(StaffFactory(is_superuser=True))
    with django_assert_max_num_queries(12):
        response = client.get(url(profile, "history"))
    assert response.status_code == 200
    assert len(response.context["page"].revisions) == min(saves, 50)


@pytest.mark.parametrize("saves", [2, 200])
def test_compare_page_query_budget(client, django_assert_max_num_queries, saves):
    profile = InstitutionFactory()
    for n in range(saves - 1):
        profile.dek = f"Dek number {n}."
        profile.save()
    records = revisions(profile)
    client.force_login(StaffFactory(is_superuser=True))
    with django_assert_max_num_queries(12):
        response = client.get(
            url(profile, "history_compare") + f"?a={records[-1].history_id}&b={records[0].history_id}"
        )
    assert response.status_code == 200
    assert response.context["comparison"].newer.number == saves


def test_history_of_a_deleted_profile_stays_readable_by_superusers(client, superuser):
    profile = InstitutionFactory()
    pk = profile.pk
    profile.delete()
    client.force_login(superuser)
    response = client.get(reverse("admin:profiles_institution_history", args=[pk]))
    assert response.status_code == 200
    assert HistoricalInstitution.objects.filter(id=pk, history_type="-").exists()
