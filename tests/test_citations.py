"""Inline evidence citations: `[^ev:42]` in analyst Markdown becomes a numbered footnote for the
readers who may see evidence item 42, and vanishes without a trace for everyone else."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template

from membership.models import Tier
from profiles.citations import CitationContext, cited_ids, strip_citations
from profiles.markdown import render_markdown, render_markdown_inline
from profiles.models import EvidenceItem, Institution

from .factories import EvidenceItemFactory, InstitutionFactory, tier

S = EvidenceItem.Review


class Item:
    """A stand-in for an evidence item the page already fetched (no database needed)."""

    def __init__(self, pk):
        self.pk = pk


def footnotes(html: str) -> list[tuple[str, str]]:
    """(anchor, label) of every footnote link, in document order."""
    return re.findall(r'<sup class="citation"><a href="#([^"]+)"[^>]*>\[(\d+)\]</a></sup>', html)


# --- the syntax ----------------------------------------------------------------------------------


def test_cited_ids_in_order_of_first_citation():
    assert cited_ids("a [^ev:7] b [^ev:3] c [^ev:7] d [^ev:12]") == [7, 3, 12]
    assert cited_ids("") == [] and cited_ids(None) == []
    assert cited_ids("[^ev:] [^ev:x] [^EV:4] [ev:4] [^ev: 4]") == []


def test_strip_citations_for_plain_text_outputs():
    assert strip_citations("Capacity grew [^ev:4] sharply[^ev:5].") == "Capacity grew sharply."


# --- rendering -----------------------------------------------------------------------------------


def test_visible_citations_are_numbered_in_order_of_first_citation():
    citations = CitationContext([Item(42), Item(7)])
    html = str(render_markdown("Power [^ev:7] and cooling [^ev:42]; power again [^ev:7].", citations))
    assert footnotes(html) == [("evidence-7", "1"), ("evidence-42", "2"), ("evidence-7", "1")]
    assert 'Power<sup class="citation">' in html  # the space before the marker goes with it


def test_numbering_continues_across_the_texts_of_one_page():
    citations = CitationContext([Item(1), Item(2), Item(3)])
    first = render_markdown("Story [^ev:2].", citations)
    second = render_markdown("Domain [^ev:3] and [^ev:2].", citations)
    assert footnotes(str(first)) == [("evidence-2", "1")]
    assert footnotes(str(second)) == [("evidence-3", "2"), ("evidence-2", "1")]
    assert [c.pk for c in citations.cited] == [2, 3]
    assert citations.number_for(3) == 2 and citations.number_for(1) is None


def test_numbers_follow_reading_order_even_inside_links_and_emphasis():
    citations = CitationContext([Item(1), Item(2), Item(3)])
    html = str(render_markdown("*First [^ev:3]* then [a link [^ev:1]](https://example.org) then [^ev:2]", citations))
    assert re.findall(r"\[(\d)\]", html) == ["1", "2", "3"]


def test_invisible_citations_vanish_without_a_number_gap_or_marker():
    citations = CitationContext([Item(5)])
    html = str(render_markdown("Hidden [^ev:99] claim. Shown [^ev:5]. Hidden [^ev:98].", citations))
    assert footnotes(html) == [("evidence-5", "1")]
    assert "99" not in html and "98" not in html and "ev:" not in html and "[^" not in html
    assert html == (
        '<p>Hidden claim. Shown<sup class="citation"><a href="#evidence-5" rel="nofollow noopener">[1]</a>'
        "</sup>. Hidden.</p>"
    )


def test_without_a_context_every_citation_is_hidden():
    assert str(render_markdown("A claim [^ev:5].")) == "<p>A claim.</p>"
    assert str(render_markdown_inline("A point [^ev:5]")) == "A point"


def test_an_empty_context_hides_everything_too():
    assert str(render_markdown("A claim [^ev:5].", CitationContext([]))) == "<p>A claim.</p>"


def test_markers_in_code_and_escaped_markers_stay_literal():
    citations = CitationContext([Item(5)])
    html = str(render_markdown("Write `[^ev:5]` or \\[^ev:5] to show the syntax.", citations))
    assert "<code>[^ev:5]</code>" in html and "or [^ev:5] to" in html
    assert not footnotes(html)


def test_citation_inside_link_text_keeps_its_number_without_nesting_links():
    citations = CitationContext([Item(5)])
    html = str(render_markdown("[The report [^ev:5]](https://example.org/report)", citations))
    assert html.count("<a ") == 1
    assert '<sup class="citation">[1]</sup></a>' in html


def test_a_marker_inside_a_link_url_is_not_a_footnote():
    citations = CitationContext([Item(5)])
    html = str(render_markdown("[x](https://example.org/[^ev:5]) and [^ev:5]", citations))
    assert footnotes(html) == [("evidence-5", "1")]


def test_typed_html_cannot_forge_classes_or_placeholders():
    citations = CitationContext([Item(5)])
    html = str(render_markdown(
        '<sup class="citation evil" data-btw-evidence="5" onclick="x()">2</sup> <span class="citation">s</span>',
        citations,
    ))
    assert 'class="citation evil"' not in html and "data-btw-evidence" not in html and "onclick" not in html
    assert "<span" not in html and citations.number_for(5) is None


def test_citations_in_inline_lines_and_headings():
    citations = CitationContext([Item(5)])
    assert footnotes(str(render_markdown_inline("Key point [^ev:5]", citations))) == [("evidence-5", "1")]
    assert "<h3>Heading" in str(render_markdown("# Heading [^ev:5]", citations))


def test_plain_text_without_markers_renders_as_before():
    text = "**Bold** and [a link](https://example.org).\n\n- one\n- two"
    assert render_markdown(text) == render_markdown(text, CitationContext([Item(1)]))


# --- the template filters --------------------------------------------------------------------------


def test_markdown_filter_takes_the_citation_context():
    template = Template(
        "{% load profile_text %}{{ text|markdown:citations }}|{{ line|markdown_inline:citations }}|"
        "{{ citations|citation_number:5 }}|{{ plain|markdown }}"
    )
    html = template.render(Context({
        "text": "Body [^ev:5].", "line": "Point [^ev:6]", "plain": "Plain [^ev:5].",
        "citations": CitationContext([Item(5), Item(6)]),
    }))
    body, line, number, plain = html.split("|")
    assert footnotes(body) == [("evidence-5", "1")]
    assert footnotes(line) == [("evidence-6", "2")]
    assert number == "1"
    assert plain == "<p>Plain.</p>"


def test_markdown_filter_with_no_context_hides_citations():
    html = Template("{% load profile_text %}{{ text|markdown:page.citations }}").render(
        Context({"text": "Body [^ev:5].", "page": {"citations": None}})
    )
    assert html == "<p>Body.</p>"


# --- with the reader's evidence, as the profile page will use it --------------------------------------


@pytest.fixture
def profile_with_evidence(db):
    profile = InstitutionFactory()
    other = InstitutionFactory()
    sc = tier(Tier.STRATEGIC_CIRCLE_SLUG)
    items = {
        "public": EvidenceItemFactory(institution=profile, review_state=S.APPROVED),
        "members": EvidenceItemFactory(institution=profile, review_state=S.APPROVED, required_tier=sc),
        "submitted": EvidenceItemFactory(institution=profile, review_state=S.SUBMITTED),
        "rejected": EvidenceItemFactory(institution=profile, review_state=S.REJECTED),
        "retracted": EvidenceItemFactory(institution=profile, review_state=S.RETRACTED),
        "elsewhere": EvidenceItemFactory(institution=other, review_state=S.APPROVED),
    }
    profile.body = " ".join(f"{name} [^ev:{item.pk}]." for name, item in items.items()) + " missing [^ev:999999]."
    return profile, items


def page_citations(profile: Institution, reader) -> CitationContext:
    """What the profile page does: its reader's sources (`page_sources`) make the context."""
    return CitationContext(EvidenceItem.objects.public_for(reader).filter(institution=profile))


def test_anonymous_reader_sees_only_the_public_approved_citation(profile_with_evidence):
    profile, items = profile_with_evidence
    html = str(render_markdown(profile.body, page_citations(profile, AnonymousUser())))
    assert footnotes(html) == [(f"evidence-{items['public'].pk}", "1")]
    for name in ("members", "submitted", "rejected", "retracted", "elsewhere"):
        assert f"evidence-{items[name].pk}" not in html and f"ev:{items[name].pk}" not in html
    assert "999999" not in html and "[2]" not in html


def test_member_sees_the_members_citation_numbered_next(profile_with_evidence, member_factory):
    profile, items = profile_with_evidence
    member = member_factory(Tier.STRATEGIC_CIRCLE_SLUG)
    html = str(render_markdown(profile.body, page_citations(profile, member)))
    assert footnotes(html) == [(f"evidence-{items['public'].pk}", "1"), (f"evidence-{items['members'].pk}", "2")]


def test_rendering_citations_costs_no_query(profile_with_evidence, django_assert_num_queries):
    profile, _ = profile_with_evidence
    sources = list(EvidenceItem.objects.public_for(AnonymousUser()).filter(institution=profile))  # page_sources
    citations = CitationContext(sources)
    with django_assert_num_queries(0):
        render_markdown(profile.body, citations)
        render_markdown_inline(profile.body, citations)


# --- on the reader's page and in plain-text outputs ------------------------------------------------


@pytest.mark.django_db
def test_profile_page_numbers_visible_citations_and_drops_the_rest(client):
    inst = InstitutionFactory()
    public = EvidenceItemFactory(institution=inst)
    pending = EvidenceItemFactory(institution=inst, review_state="submitted")
    Institution.objects.filter(pk=inst.pk).update(
        what_it_does=f"Builds racks [^ev:{public.pk}] and cooling [^ev:{pending.pk}] and more [^ev:999999]."
    )
    html = client.get(inst.get_absolute_url()).content.decode()
    assert f'href="#evidence-{public.pk}"' in html and "[1]" in html
    assert f"#evidence-{pending.pk}" not in html and "[2]" not in html
    assert "[^ev:" not in html


@pytest.mark.django_db
def test_feeds_strip_citation_markers(client):
    from django.urls import reverse

    from .factories import TimelineEventFactory

    TimelineEventFactory(title="Plant opens", text="Opened [^ev:12] in Ohio.")
    body = client.get(reverse("feed_rss")).content.decode()
    assert "Opened in Ohio." in body and "[^ev:" not in body
