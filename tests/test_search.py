"""Search finds public text only, ranks it, and survives any input (both database backends)."""

import itertools

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from membership.models import Tier
from profiles import search
from profiles.models import Institution

from .factories import BriefingFactory, EvidenceItemFactory, InstitutionFactory, tier

pytestmark = pytest.mark.django_db


_requests = itertools.count()


def results(q):
    """What readers get for `q`: the directory's results, searched, ranked and given snippets the
    way the view composes them (a throw-away parameter keeps the shared page cache out of it)."""
    response = Client().get(reverse("profiles:directory"), {"q": q, "request": next(_requests)})
    assert response.status_code == 200
    return list(response.context["profiles"])


def test_search_finds_profile_by_public_text():
    hit = InstitutionFactory(name="Northern Fibre Exchange", dek="Carrier-neutral peering in the Nordics.")
    InstitutionFactory(name="Unrelated Registry", dek="Runs a country-code top-level domain.")
    assert results("peering") == [hit]


def test_search_ranks_name_matches_first():
    if connection.vendor != "postgresql":
        pytest.skip("Ranking needs PostgreSQL full-text search; SQLite uses a substring fallback")
    body_hit = InstitutionFactory(name="Atlas Holdings", dek="Builds subsea cable landing stations.")
    name_hit = InstitutionFactory(name="Subsea Cable Consortium", dek="A consortium.")
    assert results("subsea cable")[:2] == [name_hit, body_hit]


def test_search_matches_approved_public_evidence_titles_on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("Evidence titles are indexed in the PostgreSQL search vector only")
    inst = InstitutionFactory()
    EvidenceItemFactory(institution=inst, title="Quetzalcoatl landing permit granted")
    search.refresh_search_index([inst.pk])
    assert results("quetzalcoatl") == [inst]


def test_briefing_text_and_locked_evidence_are_never_indexed():
    inst = InstitutionFactory()
    BriefingFactory(institution=inst, body="zanzibarite secret", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    EvidenceItemFactory(
        institution=inst, title="zanzibarite memo", required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG)
    )
    EvidenceItemFactory(institution=inst, title="zanzibarite draft", review_state="submitted")
    search.refresh_search_index([inst.pk])
    assert results("zanzibarite") == []


def test_drafts_are_not_searchable():
    InstitutionFactory(name="Hidden Draft Exchange", status=Institution.Status.DRAFT)
    assert results("hidden draft") == []


@pytest.mark.parametrize(
    "q",
    [
        "x" * 5000,
        '"unterminated quote',
        "fibre OR -peering & | ! ( ) :*",
        "'; DROP TABLE profiles_institution; --",
        "Überseekabel 海底ケーブル кабель",
        "\x00\x01 control",
        "   ",
    ],
)
def test_hostile_queries_never_fail(q):
    InstitutionFactory(name="Fibre Exchange")
    results(q)  # must not raise
    assert Institution.objects.count() == 1


def test_snippet_escapes_text_and_marks_terms():
    inst = InstitutionFactory(name="Marked", dek="<script>alert(1)</script> peering fabric")
    [hit] = results("peering")
    html = hit.result_snippet
    assert "<script>" not in html
    assert "<mark>peering</mark>" in html
    assert inst == hit


LONG_DEK_WORDS = ["routing", "registries", "anchor", "regional", "exchanges", "whose", "operators", "transit"]


def long_dek(*, term: str, at: int, words: int = 90) -> str:
    """A dek far longer than a snippet, `term` being its `at`-th word."""
    filler = [LONG_DEK_WORDS[i % len(LONG_DEK_WORDS)] for i in range(words)]
    filler[at] = term
    return " ".join(filler)


def snippet_words(html: str) -> list[str]:
    return html.replace("<mark>", "").replace("</mark>", "").strip("…").split()


def test_snippets_are_cut_between_words_with_an_ellipsis_where_cut():
    dek = long_dek(term="peering", at=45)
    InstitutionFactory(name="Long Dek Exchange", dek=dek)
    [hit] = results("peering")
    html = str(hit.result_snippet)
    assert "<mark>peering</mark>" in html
    assert html.startswith("…") and html.endswith("…")
    words = snippet_words(html)
    assert set(words) <= set(dek.split())  # every word whole: none cut in two
    assert " ".join(words) in dek


def test_a_snippet_of_the_opening_words_has_no_leading_ellipsis():
    dek = long_dek(term="peering", at=0)
    InstitutionFactory(name="Opening Term Exchange", dek=dek)
    [hit] = results("peering")
    html = str(hit.result_snippet)
    assert html.startswith("<mark>peering</mark> ") and html.endswith("…")
    assert set(snippet_words(html)) <= set(dek.split())


def test_a_short_dek_is_shown_whole_without_ellipsis():
    InstitutionFactory(name="Short Dek Exchange", dek="Neutral peering fabric for the region.")
    [hit] = results("peering")
    assert str(hit.result_snippet) == "Neutral <mark>peering</mark> fabric for the region."


def test_evidence_the_gate_opens_to_everyone_is_indexed_on_postgres():
    """The index takes "public evidence" from the gate: evidence at the public tier is public."""
    if connection.vendor != "postgresql":
        pytest.skip("Evidence titles are indexed in the PostgreSQL search vector only")
    inst = InstitutionFactory()
    EvidenceItemFactory(institution=inst, title="Xylophonic landing permit", required_tier=tier("public"))
    search.refresh_search_index([inst.pk])
    assert results("xylophonic") == [inst]


def test_saving_a_profile_reindexes_it_through_the_registered_receiver():
    inst = InstitutionFactory(name="Plain Exchange")
    inst.name = "Quillwort Exchange"
    inst.save()
    assert results("quillwort") == [inst]


def test_refresh_in_batches_indexes_every_profile(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("The stored vector exists on PostgreSQL only")
    profiles = [InstitutionFactory(name=f"Batch Exchange {k}") for k in range(5)]
    Institution.objects.update(search_vector=None)
    monkeypatch.setattr(search, "REFRESH_BATCH", 2)
    search.refresh_search_index([p.pk for p in profiles])
    assert not Institution.objects.filter(search_vector__isnull=True).exists()
    assert set(results("batch")) == set(profiles)
