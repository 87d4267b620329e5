"""The moderator's journey in real Chromium: the desk on the admin index → the evidence queue → the
item's page with the diff since its last approval → Approve; the item is approved and the desk's
count drops. The browser console stays free of Content-Security-Policy errors throughout."""

import re

import pytest

from profiles import review
from profiles.models import EvidenceItem
from tests.factories import EvidenceItemFactory, InstitutionFactory, StaffFactory
from tests.factories_membership import PASSWORD, analyst, moderator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

S = EvidenceItem.Review
OLD_CLAIM = "The partnership covers rack assembly in Wisconsin."
NEW_CLAIM = "The partnership covers rack assembly and cabling in Ohio."


@pytest.fixture
def edited_item():
    """Approved evidence that an analyst has since edited: back in review, with a diff to read."""
    writer = analyst(email="writer@example.org")
    profile = InstitutionFactory(name="Foxconn and OpenAI build-out", slug="foxconn-openai-build-out")
    item = EvidenceItemFactory.build(institution=profile, review_state=S.SUBMITTED, claim=OLD_CLAIM,
                                     title="Partnership announcement")
    review.record_submission(item, actor=writer)
    review.approve(item, actor=StaffFactory(is_superuser=True, username="first-moderator"))
    item = EvidenceItem.objects.get(pk=item.pk)
    item.claim = NEW_CLAIM
    review.save_edited(item, actor=writer)
    assert EvidenceItem.objects.get(pk=item.pk).review_state == S.SUBMITTED
    return item


def sign_in_to_the_admin(page, email):
    page.goto("/admin/")
    page.wait_for_url("**/accounts/login/?next=%2Fadmin%2F")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form--login button[type=submit]")
    page.wait_for_url("**/admin/")


def evidence_waiting(page) -> str:
    return page.locator("#moderation-pending .dashboard-queue-evidence .dashboard-count").inner_text().strip()


def test_moderator_approves_from_the_queue_after_reading_the_diff(new_page, edited_item):
    reviewer = moderator(email="moderator@example.org")
    page = new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))

    sign_in_to_the_admin(page, reviewer.email)
    assert "1 item awaiting review" in page.locator("#moderation-pending").inner_text()
    assert evidence_waiting(page) == "1"

    page.click("#moderation-pending .dashboard-queue-evidence a")
    page.wait_for_url("**/admin/profiles/evidencequeueitem/")
    page.get_by_role("link", name=re.compile("rack assembly and cabling")).click()
    page.wait_for_url(f"**/admin/profiles/evidenceitem/{edited_item.pk}/change/")

    diff = page.locator("table.review-changes")
    assert diff.locator("del").count() >= 1 and diff.locator("ins").count() >= 1
    assert "Ohio" in " ".join(diff.locator("ins").all_inner_texts())
    assert "Wisconsin" in " ".join(diff.locator("del").all_inner_texts())

    page.click("button.review-approve")
    page.wait_for_url(f"**/admin/profiles/evidenceitem/{edited_item.pk}/change/")
    assert "approved" in page.locator("ul.messagelist").inner_text()
    item = EvidenceItem.objects.get(pk=edited_item.pk)
    assert item.review_state == S.APPROVED and item.reviewed_by == reviewer

    page.goto("/admin/")
    assert evidence_waiting(page) == "0"
    assert "Nothing awaits your review" in page.locator("#moderation-pending").inner_text()
    assert not [text for text in console if "Content Security Policy" in text or "Refused to" in text]


def test_moderator_is_not_offered_an_approval_of_their_own_edit(new_page, edited_item):
    """Four eyes in the browser: the note page for their own item has no Approve button, only Back."""
    reviewer = moderator(email="self.editor@example.org")
    item = EvidenceItem.objects.get(pk=edited_item.pk)
    item.claim = NEW_CLAIM + " Confirmed by the county."
    review.save_edited(item, actor=reviewer)  # now an author of the item

    page = new_page()
    sign_in_to_the_admin(page, reviewer.email)
    assert evidence_waiting(page) == "0"  # their own edit waits for another moderator
    page.goto(f"/admin/profiles/evidenceitem/{item.pk}/review/?decision=approve")
    assert page.locator("input.decision-submit, button.decision-submit").count() == 0
    assert "you wrote or changed it" in page.locator("table.decision-rows").inner_text()
    page.click("a.decision-back")
    page.wait_for_url("**/admin/profiles/evidenceitem/**")
    assert EvidenceItem.objects.get(pk=item.pk).review_state == S.SUBMITTED
