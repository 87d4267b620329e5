"""The admin's Markdown editor: the live preview and the citation picker's evidence list.

The preview is the readers' render (same sanitiser, same citation resolver), shown to staff who
may see the profile in the admin, with evidence awaiting review cited and marked "pending review";
the picker lists that profile's evidence and nothing else. Every Markdown field of the profile's
form, its inlines and the children's own pages carries the editor.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from guardian.shortcuts import assign_perm

from profiles.admin.widgets import MarkdownTextarea
from profiles.models import EvidenceItem

from .factories import BriefingFactory, EvidenceItemFactory, FAQItemFactory, InstitutionFactory

pytestmark = pytest.mark.django_db

PREVIEW = "admin:profiles_evidenceitem_preview"
CITABLE = "admin:profiles_evidenceitem_citable"


def preview_url(profile=None) -> str:
    return reverse(PREVIEW) + (f"?profile={profile.pk}" if profile is not None else "")


def citable_url(profile=None) -> str:
    return reverse(CITABLE) + (f"?profile={profile.pk}" if profile is not None else "")


@pytest.fixture
def profile(analyst):
    institution = InstitutionFactory(name="Equinix FR5", slug="equinix-fr5")
    assign_perm("profiles.change_institution", analyst, institution)
    return institution


@pytest.fixture
def evidence(profile):
    """One item in each review state, on the analyst's profile."""
    return {
        state: EvidenceItemFactory(institution=profile, title=f"{state.title()} source", review_state=state)
        for state in ("approved", "submitted", "rejected", "retracted")
    }


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


def preview(client, text, profile=None, **extra) -> str:
    response = client.post(preview_url(profile), {"text": text, **extra})
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- what the preview shows ---------------------------------------------------------------------


def test_preview_renders_markdown_as_readers_get_it(analyst_client, profile):
    html = preview(analyst_client, "Capacity is **200 MW**.\n\n- racks\n- cabling", profile)
    assert "<strong>200 MW</strong>" in html
    assert "<li>racks</li>" in html


def test_preview_never_returns_script_or_style(analyst_client, profile):
    text = (
        "Hi <script>alert('x')</script> <img src=x onerror=alert(1)> <b style=\"color:red\">b</b> "
        "[click](javascript:alert(1)) <iframe src=\"https://evil.example\"></iframe>"
    )
    html = preview(analyst_client, text, profile).lower()
    for needle in ("<script", "alert('x')", "onerror", "style=", "javascript:", "<iframe", "<img"):
        assert needle not in html


def test_preview_numbers_citations_and_marks_pending_evidence(analyst_client, profile, evidence):
    approved, submitted = evidence["approved"], evidence["submitted"]
    html = preview(analyst_client, f"Pending first [^ev:{submitted.pk}], then approved [^ev:{approved.pk}].", profile)
    assert f'href="#evidence-{submitted.pk}"' in html and ">[1]<" in html
    assert f'href="#evidence-{approved.pk}"' in html and ">[2]<" in html
    marked = html.split(f'href="#evidence-{submitted.pk}"', 1)[1].split("</p>", 1)[0]
    assert '<span class="md-pending">pending review</span>' in marked.split(f"#evidence-{approved.pk}")[0]
    # The sources, in footnote order, the pending one marked.
    sources = html.split('class="md-preview__sources"', 1)[1]
    assert sources.index("Submitted source") < sources.index("Approved source")
    assert sources.count("pending review") == 1


def test_preview_approved_citation_is_not_marked_pending(analyst_client, profile, evidence):
    html = preview(analyst_client, f"Approved [^ev:{evidence['approved'].pk}].", profile)
    assert ">[1]<" in html
    assert "pending review" not in html


def test_preview_hides_citations_readers_never_see_and_says_why(analyst_client, profile, evidence):
    other_profile_item = EvidenceItemFactory(title="Elsewhere")
    text = f"Rejected [^ev:{evidence['rejected'].pk}] other [^ev:{other_profile_item.pk}] missing [^ev:999999]."
    html = preview(analyst_client, text, profile)
    body = html.split('class="md-preview__problems"', 1)[0]
    assert "<sup" not in body and "Rejected source" not in body
    problems = html.split('class="md-preview__problems"', 1)[1]
    assert f"evidence #{evidence['rejected'].pk}, which is rejected" in problems
    assert f"evidence #{other_profile_item.pk} of another profile" in problems
    assert "evidence #999999, which does not exist" in problems


def test_preview_of_one_item_per_line_fields_lists_bullets(analyst_client, profile, evidence):
    text = f"- First point [^ev:{evidence['approved'].pk}]\n- Second point"
    html = preview(analyst_client, text, profile, mode="lines")
    assert "<ul><li>First point" in html and "<li>Second point</li>" in html
    assert ">[1]<" in html


def test_preview_of_an_unsaved_profile_cites_nothing(analyst_client, evidence):
    html = preview(analyst_client, f"New profile [^ev:{evidence['approved'].pk}] with *emphasis*.")
    assert "<em>emphasis</em>" in html
    assert "<sup" not in html
    assert "once the profile is saved" in html


def test_preview_refuses_text_longer_than_any_field(analyst_client, profile):
    response = analyst_client.post(preview_url(profile), {"text": "x" * 100_001})
    assert response.status_code == 413


def test_preview_is_a_post(analyst_client, profile):
    assert analyst_client.get(preview_url(profile)).status_code == 405


def test_preview_post_needs_the_csrf_token(analyst, profile):
    client = Client(enforce_csrf_checks=True)
    client.force_login(analyst)
    assert client.post(preview_url(profile), {"text": "x"}).status_code == 403


def test_preview_is_private(analyst_client, profile):
    response = analyst_client.post(preview_url(profile), {"text": "x"})
    assert "private" in response["Cache-Control"] or "no-store" in response["Cache-Control"]


# --- who may preview and list evidence ----------------------------------------------------------


def test_unassigned_analyst_may_neither_preview_nor_list_a_profile(client, staff_factory, profile, evidence):
    client.force_login(staff_factory("Analysts"))
    assert client.post(preview_url(profile), {"text": "x"}).status_code == 403
    assert client.get(citable_url(profile)).status_code == 403


def test_unassigned_analyst_may_preview_a_new_profile(client, staff_factory):
    client.force_login(staff_factory("Analysts"))
    assert client.post(preview_url(), {"text": "*new*"}).status_code == 200


def test_moderator_of_the_profile_may_list_its_evidence(client, staff_factory, profile, evidence):
    local = staff_factory()
    assign_perm("profiles.moderate_evidence", local, profile)
    client.force_login(local)
    assert client.get(citable_url(profile)).status_code == 200


def test_moderator_of_another_profile_may_not(client, staff_factory, profile, evidence):
    local = staff_factory()
    assign_perm("profiles.moderate_evidence", local, InstitutionFactory())
    client.force_login(local)
    assert client.get(citable_url(profile)).status_code == 403
    assert client.post(preview_url(profile), {"text": "x"}).status_code == 403


def test_readers_and_anonymous_are_sent_to_sign_in(client, member_factory, profile):
    for user in (None, member_factory()):
        if user is not None:
            client.force_login(user)
        response = client.post(preview_url(profile), {"text": "x"})
        assert response.status_code == 302 and "login" in response["Location"]
        response = client.get(citable_url(profile))
        assert response.status_code == 302 and "login" in response["Location"]


def test_unknown_profile_is_404(analyst_client):
    assert analyst_client.get(reverse(CITABLE) + "?profile=999999").status_code == 404
    assert analyst_client.get(reverse(CITABLE) + "?profile=abc").status_code == 404


# --- the picker's list --------------------------------------------------------------------------


def test_citable_lists_the_profiles_evidence_with_its_state(analyst_client, profile, evidence):
    elsewhere = EvidenceItemFactory(title="Another profile's source")
    data = analyst_client.get(citable_url(profile)).json()
    assert data["profile"] == profile.pk
    by_id = {item["id"]: item for item in data["items"]}
    assert set(by_id) == {item.pk for item in evidence.values()}
    assert elsewhere.pk not in by_id
    assert by_id[evidence["submitted"].pk]["state_label"] == "pending review"
    assert by_id[evidence["approved"].pk]["state_label"] == "approved"
    assert by_id[evidence["rejected"].pk]["state_label"] == "rejected"
    assert by_id[evidence["approved"].pk]["marker"] == f"[^ev:{evidence['approved'].pk}]"
    assert by_id[evidence["approved"].pk]["publisher"] == "Example News"


def test_citable_without_a_profile_is_empty(analyst_client):
    assert analyst_client.get(citable_url()).json() == {"profile": None, "items": []}


@pytest.mark.parametrize("rows", [1, 200])
def test_citable_and_preview_query_budget(analyst_client, profile, rows, django_assert_max_num_queries):
    items = EvidenceItem.objects.bulk_create(
        EvidenceItemFactory.build(institution=profile, review_state="approved") for _ in range(rows)
    )
    text = " ".join(f"[^ev:{item.pk}]" for item in items)
    analyst_client.get(citable_url(profile))  # the session and permission caches warm up
    with django_assert_max_num_queries(8):
        assert len(analyst_client.get(citable_url(profile)).json()["items"]) == rows
    with django_assert_max_num_queries(9):
        html = preview(analyst_client, text, profile)
    assert f">[{rows}]<" in html


# --- the widget on every Markdown field ---------------------------------------------------------


def test_profile_form_and_inlines_carry_the_editor(analyst_client, profile):
    FAQItemFactory(institution=profile)
    BriefingFactory(institution=profile)
    response = analyst_client.get(reverse("admin:profiles_institution_change", args=[profile.pk]))
    html = response.content.decode()
    assert "profiles/admin_markdown.js" in html and "profiles/admin_markdown.css" in html
    editors = html.count('class="md-editor"')
    # The profile's ten citable fields, the FAQ answer, the briefing body and source notes, the
    # timeline text — plus the empty rows Django keeps for "Add another" (FAQ, timeline, briefing).
    assert editors >= 14
    assert f'data-profile="{profile.pk}"' in html
    assert 'data-mode="lines"' in html  # key points and caveats: one item per line
    assert 'aria-live="polite"' in html
    assert "Cite evidence" in html


def test_plain_text_fields_keep_a_plain_textarea(analyst_client, profile):
    response = analyst_client.get(reverse("admin:profiles_institution_change", args=[profile.pk]))
    form = response.context["adminform"].form
    assert isinstance(form.fields["body"].widget, MarkdownTextarea)
    assert not isinstance(form.fields["name"].widget, MarkdownTextarea)
    evidence = next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.model is EvidenceItem)
    assert not isinstance(evidence.form.base_fields["claim"].widget, MarkdownTextarea)


def test_a_childs_own_page_cites_the_profile_chosen_in_its_form(analyst_client, profile):
    faq = FAQItemFactory(institution=profile)
    html = analyst_client.get(reverse("admin:profiles_faqitem_change", args=[faq.pk])).content.decode()
    assert 'data-profile-field="institution"' in html
    assert 'class="md-editor"' in html


def test_add_form_editor_has_no_profile_yet(analyst_client):
    html = analyst_client.get(reverse("admin:profiles_institution_add")).content.decode()
    assert 'class="md-editor"' in html
    assert 'data-profile=""' in html
