"""Edit history in real Chromium: saving an untouched profile (the browser posts \\r\\n line endings)
records nothing; two real edits, one with a reason, record two revisions; the analyst opens the
history, picks the oldest and the newest revision, compares them and reads a word-level diff. No
Content-Security-Policy error in the console, no serious axe-core violation."""

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from profiles.models import Institution
from tests.browser.axe import assert_no_serious_violations
from tests.browser.journeys import sign_in
from tests.factories import InstitutionFactory
from tests.factories_membership import analyst

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY_POINTS = "Europe's largest internet exchange.\nPeers with more than 1,100 networks.\nRuns 4 sites."
OLD_DEK = "DE-CIX runs the internet exchange where Frankfurt's networks meet."
NEW_DEK = "DE-CIX runs the busy internet exchange where Frankfurt's networks meet and peer."


def save_and_continue(page, url):
    with page.expect_navigation():  # the form comes back on the same address: wait for the new page
        page.locator("input[name=_continue]").last.click()
    page.wait_for_url(f"**{url}")
    assert page.locator("ul.messagelist .success").count() == 1, page.locator("ul.messagelist").inner_text()


def test_analyst_compares_two_revisions_and_reads_a_word_diff(new_page):
    writer = analyst(email="writer@example.org", first_name="Ana", last_name="Lyst")
    profile = InstitutionFactory(name="DE-CIX Frankfurt", slug="de-cix-frankfurt", dek=OLD_DEK, key_points=KEY_POINTS)
    assign_perm("profiles.change_institution", writer, profile)
    change = reverse("admin:profiles_institution_change", args=[profile.pk])
    page = new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))
    sign_in(page, writer.email)

    # 1. Saving without touching anything records no revision and changes nothing readers see.
    public_date = Institution.objects.get(pk=profile.pk).public_updated_at
    page.goto(change)
    save_and_continue(page, change)
    assert profile.history.count() == 1
    assert Institution.objects.get(pk=profile.pk).public_updated_at == public_date

    # 2. Two real edits: the dek (with a reason), then the headline.
    page.fill("#id_dek", NEW_DEK)
    page.fill("#id_change_reason", "Busier wording")
    save_and_continue(page, change)
    page.fill("#id_headline", "Traffic peaks at 17 Tbit/s.")
    save_and_continue(page, change)
    assert profile.history.count() == 3
    assert Institution.objects.get(pk=profile.pk).dek == NEW_DEK

    # 3. The history: three revisions, the reason shown, the newest diff names only the headline.
    page.click("a.historylink")
    page.wait_for_url("**/history/")
    assert page.locator("li.revision").count() == 3
    assert "Reason: Busier wording" in page.locator("li.revision").nth(1).inner_text()
    assert "Ana Lyst" in page.locator("li.revision").nth(1).inner_text()
    newest_fields = page.locator("li.revision").first.locator("table.history-changes th[scope=row]").all_inner_texts()
    assert newest_fields == ["What happened (one line)"]
    assert_no_serious_violations(page)

    # 4. Pick the oldest (A) and the newest (B), compare.
    page.locator("li.revision").last.locator("input[name=a]").check()
    page.locator("li.revision").first.locator("input[name=b]").check()
    page.get_by_role("button", name="Compare revisions A and B").click()
    page.wait_for_url("**/history/compare/?*")
    rows = page.locator("table.history-changes tbody tr")
    assert sorted(rows.locator("th").all_inner_texts()) == ["Dek / summary", "What happened (one line)"]
    dek = rows.filter(has_text="Dek / summary").locator(".history-diff")
    assert dek.inner_text().startswith("DE-CIX runs the")
    assert [text.strip() for text in dek.locator("ins").all_inner_texts()] == ["busy", "and peer"]
    assert dek.locator("del").count() == 0
    assert "Revision 1" in page.locator(".compared.older").inner_text()
    assert "Revision 3" in page.locator(".compared.newer").inner_text()
    assert_no_serious_violations(page)

    assert not [text for text in console if "Content Security Policy" in text or "Refused to" in text], console
