"""Capture on approval: an approved source is fetched once per approval, after the approval commits,
and a source that cannot be fetched never blocks, delays or undoes the approval. Captures are
staff-only: shown on the evidence item's admin page, absent from every reader's output."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from membership.models import Tier
from profiles import review
from profiles.cache import content_version
from profiles.models import Change, EvidenceItem, SourceCheck
from profiles.sources import capture as capture_module
from profiles.sources.tasks import capture_source

from .factories import EvidenceItemFactory, InstitutionFactory, RelationshipFactory, tier
from .factories_membership import alliance_member, strategic_member
from .source_server import MAX_REDIRECTS, fetch_limits, source_server

__all__ = ["fetch_limits", "source_server"]  # fixtures

S = EvidenceItem.Review
Outcome = SourceCheck.Outcome


class Abort(Exception):
    """Raised to roll an approval back."""


@pytest.fixture
def submitted(analyst, source_server):
    """`submitted("/page")` → evidence awaiting review whose source is that path of the test server."""

    def make(path="/page", **kwargs):
        return EvidenceItemFactory(
            review_state=S.SUBMITTED, submitted_by=analyst, url=source_server.url(path), **kwargs
        )

    return make


def requests_for(server, path):
    return [p for p, _ in server.requests if p == path]


# --- approval → exactly one capture, after commit ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_approval_captures_the_source_once(fetch_limits, source_server, submitted, moderator):
    item = submitted("/page")
    review.approve(item, actor=moderator)
    [check] = SourceCheck.objects.all()
    item.refresh_from_db()
    assert (check.evidence, check.kind, check.approved_at) == (item, SourceCheck.Kind.CAPTURE, item.reviewed_at)
    assert check.outcome == Outcome.OK and check.status == 200
    assert check.title == "Foxconn and OpenAI partner" and check.text == "Partnership Racks, cabling and power."
    assert check.final_url == check.url == item.url and len(check.text_hash) == 64
    assert SourceCheck.objects.latest_capture(item) == check
    assert requests_for(source_server, "/page") == ["/page"]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_approval_captures_nothing(fetch_limits, source_server, submitted, moderator):
    item = submitted("/page")
    with pytest.raises(Abort), transaction.atomic():
        review.approve(item, actor=moderator)
        raise Abort
    item.refresh_from_db()
    assert item.review_state == S.SUBMITTED
    assert not SourceCheck.objects.exists() and source_server.requests == []


def test_the_capture_waits_for_the_approval_to_commit(
    fetch_limits, source_server, submitted, moderator, django_capture_on_commit_callbacks
):
    """No network fetch inside the approval's transaction (it holds the item's row lock)."""
    item = submitted("/page")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        review.approve(item, actor=moderator)
    assert source_server.requests == [] and not SourceCheck.objects.exists()
    for callback in callbacks:
        callback()
    assert SourceCheck.objects.get().outcome == Outcome.OK


def test_running_the_capture_job_again_keeps_one_capture(fetch_limits, source_server, submitted, moderator):
    item = submitted("/changing")
    review.approve(item, actor=moderator)
    first = capture_source.call(item.pk)
    second = capture_source.call(item.pk)
    assert first == second == Outcome.OK
    assert SourceCheck.objects.count() == 1
    assert requests_for(source_server, "/changing") == ["/changing"]  # the second run fetched nothing


def test_two_captures_of_one_approval_racing_keep_the_first(fetch_limits, source_server, submitted, moderator):
    """A job retried while its first run was still fetching: the database keeps one capture."""
    item = submitted("/page")
    review.approve(item, actor=moderator)
    item.refresh_from_db()
    fields = {"url": item.url, "fetched_at": item.reviewed_at, "outcome": Outcome.OK}
    SourceCheck.objects.create(evidence=item, kind=SourceCheck.Kind.CAPTURE, approved_at=item.reviewed_at, **fields)
    assert capture_module.capture(item.pk) == SourceCheck.objects.get()


def test_each_approval_gets_its_own_capture(fetch_limits, source_server, submitted, moderator, analyst):
    item = submitted("/changing")
    review.approve(item, actor=moderator)
    capture_source.call(item.pk)
    review.retract(item, actor=moderator, note="Wrong story.")
    review.transition(item, to_state=S.SUBMITTED, actor=analyst)
    review.approve(item, actor=moderator)
    capture_source.call(item.pk)
    first, second = SourceCheck.objects.order_by("approved_at")
    assert first.approved_at < second.approved_at and first.title != second.title
    assert SourceCheck.objects.latest_capture(item) == second


def test_an_item_no_longer_approved_when_the_job_runs_is_not_captured(
    fetch_limits, source_server, submitted, moderator
):
    item = submitted("/page")
    review.approve(item, actor=moderator)
    review.retract(item, actor=moderator, note="Withdrawn by the publisher.")
    assert capture_source.call(item.pk) == "skipped"
    assert capture_source.call(10**9) == "skipped"  # deleted since
    assert not SourceCheck.objects.exists() and source_server.requests == []


def test_approving_a_relationship_captures_nothing(
    fetch_limits, moderator, analyst, django_capture_on_commit_callbacks
):
    relationship = RelationshipFactory(review_state=S.SUBMITTED, submitted_by=analyst)
    with django_capture_on_commit_callbacks(execute=True):
        review.approve(relationship, actor=moderator)
    assert not SourceCheck.objects.exists()


# --- a bad source never blocks an approval -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path, outcome, error, status",
    [
        ("/status/404", Outcome.GONE, "", 404),
        ("/status/410", Outcome.GONE, "", 410),
        ("/status/429", Outcome.HTTP_ERROR, "", 429),
        ("/status/500", Outcome.HTTP_ERROR, "", 500),
        ("/slow", Outcome.FAILED, "timeout", None),
        ("/big", Outcome.FAILED, "too-large", 200),
        (f"/redirect/{MAX_REDIRECTS + 1}", Outcome.FAILED, "too-many-redirects", 302),
        ("/redirect-metadata", Outcome.FAILED, "blocked-address", 302),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_a_source_that_cannot_be_fetched_still_approves_and_the_capture_says_why(
    fetch_limits, source_server, submitted, moderator, settings, path, outcome, error, status
):
    settings.BTW_FETCH_ONLY_ALLOWED_HOSTS = False  # let the guard itself refuse the metadata address
    item = submitted(path)
    review.approve(item, actor=moderator)
    item.refresh_from_db()
    assert item.review_state == S.APPROVED
    check = SourceCheck.objects.get(evidence=item)
    assert (check.outcome, check.error, check.status) == (outcome, error, status)
    if status == 429:
        assert check.retry_after == "120"
    if error == "too-many-redirects":
        assert len(check.redirects) == MAX_REDIRECTS + 1


@pytest.mark.django_db(transaction=True)
def test_a_crashing_capture_job_cannot_undo_the_approval(fetch_limits, submitted, moderator, monkeypatch):
    def crash(url):
        raise RuntimeError("a bug in the capture")

    monkeypatch.setattr(capture_module, "fetch", crash)
    item = submitted("/page")
    review.approve(item, actor=moderator)  # does not raise
    item.refresh_from_db()
    assert item.review_state == S.APPROVED and not SourceCheck.objects.exists()


def test_text_that_postgresql_cannot_store_is_cleaned(fetch_limits, source_server, submitted, moderator, monkeypatch):
    item = submitted("/notes.txt")
    review.approve(item, actor=moderator)
    real_fetch = capture_module.fetch

    def with_nul(url):
        result = real_fetch(url)
        result.text, result.title = "before\x00after", "T\x00"
        return result

    monkeypatch.setattr(capture_module, "fetch", with_nul)
    capture_source.call(item.pk)
    assert SourceCheck.objects.values_list("text", "title").get() == ("beforeafter", "T")


# --- the database queue: the job row is part of the approval's transaction ----------------------------------


def test_with_the_database_queue_the_job_commits_with_the_approval(settings, submitted, moderator):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    rolled_back = submitted("/page")
    with pytest.raises(Abort), transaction.atomic():
        review.approve(rolled_back, actor=moderator)
        raise Abort
    assert not DBTaskResult.objects.exists()
    approved = submitted("/page")
    review.approve(approved, actor=moderator)
    [job] = DBTaskResult.objects.all()
    assert job.task_path == "profiles.sources.tasks.capture_source"
    assert job.args_kwargs == {"args": [approved.pk], "kwargs": {}}


# --- staff-only ---------------------------------------------------------------------------------------------


SECRET_TITLE = "ZZ-SECRET-CAPTURED-TITLE"


@pytest.fixture
def captured_alliance_source(fetch_limits, source_server, moderator, analyst):
    """A Leadership Alliance source on a published profile, captured with a title no reader may read."""
    institution = InstitutionFactory()
    EvidenceItemFactory(institution=institution)  # the profile's public source
    item = EvidenceItemFactory(
        institution=institution,
        review_state=S.SUBMITTED,
        submitted_by=analyst,
        url=source_server.url("/page"),
        required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG),
    )
    review.approve(item, actor=moderator)
    capture_source.call(item.pk)
    SourceCheck.objects.filter(evidence=item).update(title=SECRET_TITLE, text=SECRET_TITLE)
    return item


def test_staff_read_the_capture_on_the_evidence_page(client, moderator, captured_alliance_source):
    client.force_login(moderator)
    page = client.get(reverse("admin:profiles_evidenceitem_change", args=[captured_alliance_source.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "source capture" in html.lower() and SECRET_TITLE in html and "OK" in html


@pytest.mark.parametrize("reader", ["anonymous", "strategic", "alliance"])
def test_the_capture_reaches_no_reader_output(client, captured_alliance_source, reader):
    """Not even a reader of the source's tier: captures are staff-only for now."""
    if reader != "anonymous":
        client.force_login(strategic_member() if reader == "strategic" else alliance_member())
    institution = captured_alliance_source.institution
    for url in (
        institution.get_absolute_url(),
        reverse("profiles:changes", kwargs={"slug": institution.slug}),
        f"/api/v1/institutions/{institution.slug}/",
        "/api/v1/evidence/",
        "/api/v1/changes/?since=0",
        "/feeds/profiles/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert SECRET_TITLE not in response.content.decode(), url


def test_a_capture_verifies_the_source_once_in_history_and_the_change_log(
    fetch_limits, submitted, moderator, django_capture_on_commit_callbacks
):
    """The verified state is something readers (and the API) see: one history row with the reason, one
    change-log row. Running the job again for the same approval changes nothing."""
    item = submitted("/page")
    with django_capture_on_commit_callbacks(execute=True):
        review.approve(item, actor=moderator)  # the immediate backend captures once this commits
    item.refresh_from_db()
    assert item.source_state == EvidenceItem.Source.OK
    assert item.source_verified_at == SourceCheck.objects.get().fetched_at
    assert item.history.first().history_change_reason == "capture on approval: verified"
    changes, version, history = Change.objects.count(), content_version(), item.history.count()
    capture_source.call(item.pk)
    assert SourceCheck.objects.count() == 1
    assert (Change.objects.count(), content_version(), item.history.count()) == (changes, version, history)


def test_the_evidence_page_shows_when_no_capture_exists_yet(client, moderator, analyst):
    item = EvidenceItemFactory(review_state=S.SUBMITTED, submitted_by=analyst)
    client.force_login(moderator)
    page = client.get(reverse("admin:profiles_evidenceitem_change", args=[item.pk]))
    assert "fetched once a moderator approves it" in page.content.decode()
