"""What a look at a source means for readers and moderators: the source state, its history, the
reader's label, the API's fields, and the moderators' list of sources to re-verify with the text diff.

The fetches themselves (real HTTP against a local server) are tests/test_source_fetch.py,
test_source_capture.py and test_source_recheck.py; here each look is given as its result.
"""

from __future__ import annotations

import datetime
import hashlib

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from profiles.models import EvidenceItem, SourceCheck, SourceState, TrackedSource
from profiles.sources import alerts, state

from .factories import EvidenceItemFactory, InstitutionFactory, tier
from .factories_membership import alliance_member, strategic_member

pytestmark = pytest.mark.django_db

Kind = SourceCheck.Kind
VERIFIED_TEXT = (
    "Foxconn and OpenAI agreed to co-design racks, cabling and power systems for data centres in the United "
    "States, with production planned at Foxconn plants in Ohio and Texas from next year."
)
REWRITTEN_TEXT = (
    "This story has been updated. The companies no longer plan joint production; the agreement now covers "
    "consulting on rack design only, and no plant has been named."
)
SECRET = "Members-only source title 7c1e"


def look(url, *, text=VERIFIED_TEXT, status=200, final_url=None, error="", message="", at=None):
    """One fetch's result, as `capture.check_fields` would give it."""
    ok = not error and status is not None and 200 <= status < 400
    return {
        "url": url,
        "final_url": final_url or url,
        "status": status,
        "content_type": "text/html; charset=utf-8" if ok else "",
        "size": len(text) if ok else 0,
        "text_hash": hashlib.sha256(text.encode()).hexdigest() if ok and text else "",
        "title": "A title" if ok else "",
        "text": text if ok else "",
        "redirects": [],
        "error": error,
        "message": message,
        "etag": '"v1"' if ok else "",
        "last_modified": "",
        "retry_after": "",
        "elapsed_ms": 50,
        "fetched_at": at or timezone.now(),
        "outcome": SourceCheck.outcome_of(status=status, error=error),
    }


@pytest.fixture
def verified():
    """An approved public item whose capture on approval verified its source."""

    def make(**kwargs):
        item = EvidenceItemFactory(reviewed_at=timezone.now() - datetime.timedelta(days=30), **kwargs)
        state.record(item.pk, look(item.url, at=item.reviewed_at), kind=Kind.CAPTURE, approved_at=item.reviewed_at)
        item.refresh_from_db()
        return item

    return make


def recheck(item, **kwargs):
    check = state.record(item.pk, look(item.url, **kwargs), kind=Kind.RECHECK)
    item.refresh_from_db()
    return check


# --- the state and its history ----------------------------------------------------------------------


def test_a_capture_that_works_verifies_the_source(verified):
    item = verified()
    assert item.source_state == SourceState.OK
    assert item.source_verified_at == item.reviewed_at
    assert TrackedSource.objects.get(evidence=item).baseline.kind == Kind.CAPTURE


def test_an_unchanged_source_writes_no_history_row(verified):
    item = verified()
    rows = item.history.count()
    recheck(item)
    recheck(item, text=VERIFIED_TEXT.replace("  ", " ") + " ")  # whitespace is not a change
    assert item.history.count() == rows and item.source_state == SourceState.OK


def test_a_small_edit_below_the_threshold_is_still_verified(verified, settings):
    settings.BTW_SOURCE_CHANGE_THRESHOLD = 0.5
    item = verified()
    check = recheck(item, text=VERIFIED_TEXT.replace("next year", "early next year"))
    assert item.source_state == SourceState.OK and 0 < check.difference < 0.5


def test_a_rewritten_source_is_changed_with_its_reason_in_history(verified):
    item = verified()
    check = recheck(item, text=REWRITTEN_TEXT)
    assert item.source_state == SourceState.CHANGED and check.difference > 0.9
    assert check.text == REWRITTEN_TEXT  # kept for the diff
    reason = item.history.first().history_change_reason
    assert reason.startswith("source re-check: changed (") and "differs from the verified text" in reason


def test_a_source_at_a_new_address_saying_the_same_is_moved(verified):
    item = verified()
    recheck(item, final_url="https://news.example.org/archive/2025/story")
    assert item.source_state == SourceState.MOVED
    assert "now at https://news.example.org/archive/2025/story" in item.history.first().history_change_reason


@pytest.mark.parametrize("status", [404, 410])
def test_a_missing_page_is_gone_at_once(verified, status):
    item = verified()
    recheck(item, status=status, message=f"HTTP {status}")
    assert item.source_state == SourceState.GONE


def test_failures_make_a_source_gone_only_after_n_in_a_row(verified, settings):
    settings.BTW_SOURCE_GONE_AFTER = 3
    item = verified()
    recheck(item, status=None, error="timeout", message="no answer")
    recheck(item, status=500, message="HTTP 500")
    assert item.source_state == SourceState.OK and TrackedSource.objects.get(evidence=item).failures == 2
    recheck(item)  # a working look resets the count
    recheck(item, status=None, error="connect", message="refused")
    recheck(item, status=None, error="connect", message="refused")
    assert item.source_state == SourceState.OK
    recheck(item, status=None, error="connect", message="refused")
    assert item.source_state == SourceState.GONE


def test_a_host_asking_to_wait_is_no_verdict_and_no_failure(verified):
    item = verified()
    for _ in range(5):
        recheck(item, status=429, message="HTTP 429")
    assert item.source_state == SourceState.OK and TrackedSource.objects.get(evidence=item).failures == 0


def test_a_source_back_after_gone_is_verified_again(verified):
    item = verified()
    recheck(item, status=404)
    recheck(item)
    assert item.source_state == SourceState.OK
    assert [row.source_state for row in item.history.all()[:3]] == ["ok", "gone", "ok"]


def test_a_capture_that_failed_is_verified_by_the_first_look_that_works():
    item = EvidenceItemFactory(reviewed_at=timezone.now())
    state.record(item.pk, look(item.url, status=None, error="timeout"), kind=Kind.CAPTURE, approved_at=item.reviewed_at)
    item.refresh_from_db()
    assert item.source_state == SourceState.UNCHECKED and item.source_verified_at is None
    check = recheck(item)
    assert item.source_state == SourceState.OK and item.source_verified_at == check.fetched_at
    assert TrackedSource.objects.get(evidence=item).baseline == check


def test_items_no_longer_approved_are_not_judged(verified):
    item = verified()
    EvidenceItem.objects.filter(pk=item.pk).update(review_state=EvidenceItem.Review.RETRACTED)
    assert state.record(item.pk, look(item.url, status=404), kind=Kind.RECHECK) is None
    assert SourceCheck.objects.rechecks().count() == 0


def test_text_difference_ignores_case_and_spacing_but_not_words():
    assert state.text_difference("The  Plant opens", "the plant OPENS") == 0.0
    assert state.text_difference("the plant opens in May", "the plant opens in June") > 0
    assert state.text_difference("", "") == 0.0 and state.text_difference("a b c", "") == 1.0


# --- what readers see ------------------------------------------------------------------------------


def test_readers_see_a_changed_source_labelled_with_its_verification_date(client, verified):
    item = verified()
    recheck(item, text=REWRITTEN_TEXT)
    page = client.get(item.institution.get_absolute_url()).content.decode()
    assert "Source changed since it was verified on" in page
    assert f'<time datetime="{item.source_verified_at:%Y-%m-%d}">' in page


def test_readers_see_a_gone_source_with_its_archived_copy_never_a_silent_removal(client, verified):
    item = verified()
    EvidenceItem.objects.filter(pk=item.pk).update(snapshot_url="https://web.archive.org/web/20251120/x")
    recheck(item, status=410)
    page = client.get(item.institution.get_absolute_url()).content.decode()
    assert f'id="evidence-{item.pk}"' in page and item.title in page
    assert "Source no longer available — <a href=\"https://web.archive.org/web/20251120/x\"" in page


def test_a_state_change_retires_the_cached_page(client, verified):
    item = verified()
    url = item.institution.get_absolute_url()
    assert "Source no longer available" not in client.get(url).content.decode()
    recheck(item, status=404)
    assert "Source no longer available" in client.get(url).content.decode()


def test_a_verified_or_moved_source_shows_no_warning(client, verified):
    item = verified()
    recheck(item, final_url="https://news.example.org/moved")
    page = client.get(item.institution.get_absolute_url()).content.decode()
    assert "source__status" not in page


def test_the_api_gives_the_source_state(client, verified):
    item = verified()
    recheck(item, text=REWRITTEN_TEXT)
    row = client.get(f"/api/v1/evidence/{item.pk}/").json()
    assert row["source_state"] == "changed" and row["source_verified_at"] and row["snapshot_url"] == ""


@pytest.mark.parametrize("reader", ["anonymous", "strategic"])
def test_a_locked_source_label_is_absent_below_its_tier(client, verified, reader):
    """The label is part of the item: a reader who may not see the item sees neither."""
    if reader == "strategic":
        client.force_login(strategic_member())
    item = verified(required_tier=tier("leadership-alliance"), title=SECRET)
    recheck(item, status=404)
    for url in (item.institution.get_absolute_url(), "/api/v1/evidence/", f"/api/v1/evidence/{item.pk}/"):
        body = client.get(url).content.decode()
        assert SECRET not in body and f"evidence-{item.pk}" not in body, url
    client.force_login(alliance_member())
    assert "Source no longer available" in client.get(item.institution.get_absolute_url()).content.decode()


# --- the moderators' list and the comparison page -----------------------------------------------------------


def test_changed_and_gone_sources_are_listed_for_their_moderators(client, verified, moderator, analyst):
    changed, gone, fine = verified(), verified(), verified()
    recheck(changed, text=REWRITTEN_TEXT)
    recheck(gone, status=404)
    client.force_login(moderator)
    listing = client.get(reverse("admin:profiles_sourcealertitem_changelist"))
    body = listing.content.decode()
    assert changed.title in body and gone.title in body and fine.title not in body
    only_gone = client.get(reverse("admin:profiles_sourcealertitem_changelist") + "?source_state=gone").content.decode()
    assert gone.title in only_gone and changed.title not in only_gone
    client.force_login(analyst)
    assert client.get(reverse("admin:profiles_sourcealertitem_changelist")).status_code == 403


def test_a_profile_moderator_sees_only_their_profiles_alerts(client, verified, staff_factory):
    from guardian.shortcuts import assign_perm

    mine, theirs = verified(), verified()
    recheck(mine, status=404)
    recheck(theirs, status=404)
    moderator = staff_factory("Analysts")
    assign_perm("profiles.moderate_evidence", moderator, mine.institution)
    assert list(alerts.for_moderator(moderator).values_list("pk", flat=True)) == [mine.pk]
    client.force_login(moderator)
    compare = reverse("admin:profiles_sourcealertitem_compare", args=[theirs.pk])
    assert client.get(compare).status_code == 403
    assert client.post(compare, {"decision": "acknowledge"}).status_code == 403
    assert TrackedSource.objects.get(evidence=theirs).acknowledged_at is None


def test_the_comparison_page_shows_the_words_removed_and_added(client, verified, moderator):
    item = verified()
    recheck(item, text=VERIFIED_TEXT.replace("Ohio and Texas", "Mexico"))
    client.force_login(moderator)
    page = client.get(reverse("admin:profiles_sourcealertitem_compare", args=[item.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "<del>Ohio and Texas</del>" in body and "<ins>Mexico</ins>" in body


def test_accepting_the_current_text_verifies_the_source_again(client, verified, moderator):
    item = verified()
    check = recheck(item, text=REWRITTEN_TEXT)
    client.force_login(moderator)
    response = client.post(reverse("admin:profiles_sourcealertitem_compare", args=[item.pk]), {"decision": "accept"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.source_state == SourceState.OK and item.source_verified_at == check.fetched_at
    assert TrackedSource.objects.get(evidence=item).baseline == check
    latest = item.history.first()
    assert latest.history_user == moderator and "re-verified by a moderator" in latest.history_change_reason
    assert AuditEntry.objects.filter(action="source", actor=moderator).count() == 1
    recheck(item, text=REWRITTEN_TEXT)  # the accepted text is now the verified one
    assert item.source_state == SourceState.OK


def test_acknowledging_a_gone_source_keeps_its_label_and_clears_the_list(client, verified, moderator):
    item = verified()
    recheck(item, status=404)
    client.force_login(moderator)
    client.post(reverse("admin:profiles_sourcealertitem_compare", args=[item.pk]), {"decision": "acknowledge"})
    item.refresh_from_db()
    assert item.source_state == SourceState.GONE
    assert not alerts.for_moderator(moderator).exists()
    assert alerts.for_moderator(moderator, include_acknowledged=True).get() == item
    recheck(item)  # back, then gone again: a new alert
    recheck(item, status=410)
    assert alerts.for_moderator(moderator).get() == item


def test_a_gone_source_cannot_be_accepted(client, verified, moderator):
    item = verified()
    recheck(item, status=404)
    client.force_login(moderator)
    client.post(reverse("admin:profiles_sourcealertitem_compare", args=[item.pk]), {"decision": "accept"})
    item.refresh_from_db()
    assert item.source_state == SourceState.GONE


def test_the_evidence_page_shows_the_source_state_to_staff(client, verified, moderator):
    item = verified()
    recheck(item, text=REWRITTEN_TEXT)
    client.force_login(moderator)
    page = client.get(reverse("admin:profiles_evidenceitem_change", args=[item.pk])).content.decode()
    assert "Changed since" in page and "Compare with the verified text" in page
    listing = client.get(reverse("admin:profiles_evidenceitem_changelist") + "?source_state=changed")
    assert item.title in listing.content.decode()


def test_word_diff_keeps_a_little_context_around_each_change():
    before = " ".join(f"w{n}" for n in range(200))
    after = before.replace("w100", "changed")
    runs = alerts.word_diff(before, after)
    assert [run.op for run in runs] == ["skipped", "same", "removed", "added", "same", "skipped"]
    assert runs[2].text == "w100" and runs[3].text == "changed"
    assert len(runs[1].text.split()) == alerts.CONTEXT_WORDS


def test_institutions_unpublished_hide_their_labels(client, verified):
    item = verified(institution=InstitutionFactory(status="draft", published_at=None))
    recheck(item, status=404)
    assert client.get("/api/v1/evidence/").json()["results"] == []


def test_a_corrected_url_drops_the_archive_copy_of_the_old_page_at_its_next_approval(verified):
    item = verified()
    EvidenceItem.objects.filter(pk=item.pk).update(snapshot_url="https://web.archive.org/web/2025/old")
    same = timezone.now()
    EvidenceItem.objects.filter(pk=item.pk).update(reviewed_at=same)  # approved again, same URL
    state.record(item.pk, look(item.url), kind=Kind.CAPTURE, approved_at=same)
    item.refresh_from_db()
    assert item.snapshot_url == "https://web.archive.org/web/2025/old"
    corrected = timezone.now() + datetime.timedelta(seconds=1)
    EvidenceItem.objects.filter(pk=item.pk).update(url="https://news.example.org/corrected", reviewed_at=corrected)
    state.record(item.pk, look("https://news.example.org/corrected"), kind=Kind.CAPTURE, approved_at=corrected)
    item.refresh_from_db()
    assert item.snapshot_url == "" and item.source_state == SourceState.OK
