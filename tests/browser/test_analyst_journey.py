"""The analyst's journey in real Chromium: create a profile with a source, write its story, cite the
source with the "Cite evidence" picker (keyboard only), watch the live preview number the footnote
and mark the source "pending review", and save; the publication checklist links to the source
still awaiting approval. axe-core finds no serious or critical violation in
the editor or the picker."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from profiles.models import EvidenceItem, Institution
from tests.browser.axe import assert_no_serious_violations
from tests.browser.journeys import sign_in, submit
from tests.factories_membership import analyst

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SOURCE_TITLE = "Lakeside adds a second meet-me room"


def test_analyst_creates_a_profile_cites_its_source_with_the_picker_and_saves(new_page):
    writer = analyst(email="writer@example.org")
    page = new_page()
    sign_in(page, writer.email)

    # 1. A new profile with one source, added in the Evidence section of the same form.
    page.goto(reverse("admin:profiles_institution_add"))
    page.fill("#id_name", "Lakeside Carrier Hotel")
    page.select_option("#id_type", index=1)
    page.select_option("#id_base_region", index=1)
    page.fill("#id_dek", "A carrier-neutral building where forty networks meet.")
    page.locator("#evidence-group .add-row a").click()
    page.fill("[name=evidence-0-url]", "https://news.example.org/lakeside-meet-me-room")
    page.fill("[name=evidence-0-publisher]", "Example News")
    page.fill("[name=evidence-0-title]", SOURCE_TITLE)
    page.fill("[name=evidence-0-claim]", "A second meet-me room opened in March.")
    submit(page, "input[name=_continue]")
    page.wait_for_url(re.compile(r"/admin/profiles/institution/\d+/change/"))
    profile = Institution.objects.get(name="Lakeside Carrier Hotel")
    source = EvidenceItem.objects.get(institution=profile)
    assert source.review_state == "submitted"

    # The checklist says what stands between this draft and publication, linking to the source.
    checklist = page.locator("#publication-checklist")
    assert "Before publishing" in checklist.inner_text()
    assert checklist.locator(f"a[href*='/evidenceitem/{source.pk}/']").count() >= 1

    # 2. Write the story; the preview follows the text.
    editor = page.locator(".md-editor:has(textarea[name=body])")
    body = editor.locator("textarea")
    body.fill("Interconnection grows: a **second** meet-me room opened ")
    preview = editor.locator(".md-editor__preview")
    assert preview.get_attribute("aria-live") == "polite"
    preview.locator("strong", has_text="second").wait_for()

    # 3. Cite the source: the picker lists the profile's evidence with its state; keyboard only.
    editor.locator(".md-editor__cite").focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.md-cite")
    dialog.locator(".md-cite__item").first.wait_for()
    assert "pending review" in dialog.inner_text()
    assert_no_serious_violations(page, context="dialog.md-cite")
    page.keyboard.type("meet-me")  # the filter box has the focus
    expect(dialog.locator(".md-cite__item:visible")).to_have_count(1)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(body).to_be_focused()  # the picker hands the focus back to the text (asynchronously)
    page.keyboard.type(".")  # the caret sits right after the inserted marker
    expect(body).to_have_value(re.compile(rf"opened \[\^ev:{source.pk}\]\.$"))

    # 4. The preview shows the numbered footnote, marked as awaiting review.
    preview.locator("sup.citation", has_text="[1]").wait_for()
    assert "pending review" in preview.inner_text()
    assert SOURCE_TITLE in preview.locator(".md-preview__sources").inner_text()
    assert_no_serious_violations(page, context=".md-editor")

    # 5. Save: the citation is stored as typed.
    submit(page, "input[name=_save]")
    profile.refresh_from_db()
    assert f"opened [^ev:{source.pk}]." in profile.body
