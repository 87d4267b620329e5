"""Inline evidence citations: `[^ev:42]` in analyst Markdown becomes a numbered footnote for the
readers who may see evidence item 42, and vanishes without a trace for everyone else."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template
from django.utils import timezone

from membership.models import Tier
from profiles.citations import CitationContext, cited_ids, strip_citations
from profiles.markdown import render_markdown, render_markdown_inline
from profiles.models import EvidenceItem, Institution

from .factories import (
    BriefingFactory,
    EvidenceItemFactory,
    FAQItemFactory,
    InstitutionFactory,
    TimelineEventFactory,
    WatchpointFactory,
    tier,
)

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


# --- numbered in reading order, with the Sources list in the same order ------------------------------


def page_footnotes(html: str) -> list[tuple[int, int]]:
    """(evidence pk, footnote number) of every footnote on a page, in document order."""
    found = re.findall(r'<sup class="citation"><a href="#evidence-(\d+)"[^>]*>\[(\d+)\]', html)
    return [(int(pk), int(number)) for pk, number in found]


def source_list(html: str) -> list[int]:
    """The evidence pks of the page's Sources list, top to bottom."""
    return [int(pk) for pk in re.findall(r'<li class="source" id="evidence-(\d+)"', html)]


@pytest.mark.django_db
def test_footnote_one_links_to_the_first_source_cited_and_sources_follow_the_numbering(client):
    inst = InstitutionFactory()
    a = EvidenceItemFactory(institution=inst)
    b = EvidenceItemFactory(institution=inst)
    uncited_newest = EvidenceItemFactory(institution=inst, source_date=a.source_date.replace(year=2026))
    uncited = EvidenceItemFactory(institution=inst)
    Institution.objects.filter(pk=inst.pk).update(
        body=f"First B [^ev:{b.pk}], then A [^ev:{a.pk}], B again [^ev:{b.pk}]."
    )
    html = client.get(inst.get_absolute_url()).content.decode()
    assert page_footnotes(html) == [(b.pk, 1), (a.pk, 2), (b.pk, 1)]
    # Cited sources by number, then the uncited ones in their usual order (newest first).
    assert source_list(html) == [b.pk, a.pk, uncited_newest.pk, uncited.pk]


@pytest.mark.django_db
def test_every_section_numbers_its_citations_in_the_order_the_page_shows_them(client, member_factory):
    inst = InstitutionFactory()
    # Created in reverse, so the sources' own order (by date, then id) is the opposite of reading order.
    ev = list(reversed([EvidenceItemFactory(institution=inst) for _ in range(16)]))
    cite = iter(f"[^ev:{item.pk}]" for item in ev)
    Institution.objects.filter(pk=inst.pk).update(
        key_points=f"- Point {next(cite)}",
        body=f"Story {next(cite)}.",
        domain_summary=f"Domain {next(cite)}.",
        public_role=f"Role {next(cite)}.",
        operating_surface=f"Surface {next(cite)}.",
    )
    TimelineEventFactory(institution=inst, text=f"Opened {next(cite)}.")
    Institution.objects.filter(pk=inst.pk).update(
        what_it_does=f"Does {next(cite)}.",
        why_it_matters=f"Matters {next(cite)}.",
        what_to_watch=f"Watch {next(cite)}.",
    )
    BriefingFactory(institution=inst, body=f"Briefing {next(cite)}.", source_notes=f"Notes {next(cite)}.")
    Institution.objects.filter(pk=inst.pk).update(public_view=f"View {next(cite)}.")
    WatchpointFactory(
        institution=inst,
        text=f"Trigger {next(cite)}.",
        status="triggered",
        triggered_at=timezone.now(),
        status_note=f"It happened {next(cite)}.",
    )
    Institution.objects.filter(pk=inst.pk).update(caveats=f"- Caveat {next(cite)}")
    FAQItemFactory(institution=inst, answer=f"Answer {next(cite)}.")
    assert next(cite, None) is None

    client.force_login(member_factory(Tier.STRATEGIC_CIRCLE_SLUG))
    html = client.get(inst.get_absolute_url()).content.decode()
    assert page_footnotes(html) == [(item.pk, number) for number, item in enumerate(ev, start=1)]
    assert source_list(html) == [item.pk for item in ev]


@pytest.mark.django_db
def test_a_citation_in_a_locked_briefing_numbers_nothing_below_its_tier(client, member_factory):
    inst = InstitutionFactory()
    in_briefing = EvidenceItemFactory(institution=inst)
    in_faq = EvidenceItemFactory(institution=inst)
    BriefingFactory(institution=inst, body=f"SECRET-BRIEFING-TEXT [^ev:{in_briefing.pk}].", source_notes="")
    FAQItemFactory(institution=inst, answer=f"Answer [^ev:{in_faq.pk}].")

    html = client.get(inst.get_absolute_url()).content.decode()
    assert "SECRET-BRIEFING-TEXT" not in html
    assert page_footnotes(html) == [(in_faq.pk, 1)]
    # The briefing's source is public, so it is listed — unnumbered, after the cited one.
    assert source_list(html) == [in_faq.pk, in_briefing.pk]

    client.force_login(member_factory(Tier.STRATEGIC_CIRCLE_SLUG))
    html = client.get(inst.get_absolute_url()).content.decode()
    assert page_footnotes(html) == [(in_briefing.pk, 1), (in_faq.pk, 2)]
    assert source_list(html) == [in_briefing.pk, in_faq.pk]


def test_source_list_order_puts_cited_items_first_by_number_then_the_rest_as_given():
    items = [Item(1), Item(2), Item(3), Item(4)]
    citations = CitationContext(items).number_texts(["x [^ev:3] y [^ev:1]", None, "[^ev:99]"])
    assert [item.pk for item in citations.in_citation_order(items)] == [3, 1, 2, 4]
