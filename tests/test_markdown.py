"""Analyst Markdown is rendered, then sanitised: hostile input never reaches the page as markup."""

import re
from types import SimpleNamespace

import pytest
from django.template import Context, Template
from django.utils.safestring import SafeString

from profiles.citations import CitationContext
from profiles.markdown import render_markdown, render_markdown_inline, split_lines, to_plain_text


def tags_in(html: str) -> set[str]:
    return {m.lower() for m in re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", html)}


def test_markdown_renders_the_formats_analysts_use():
    html = render_markdown("Some **bold** and _italic_ with [a link](https://example.org).\n\n- one\n- two")
    assert "<strong>bold</strong>" in html and "<em>italic</em>" in html
    assert "<ul>" in html and "<li>one</li>" in html
    assert '<a href="https://example.org" rel="nofollow noopener">a link</a>' in html
    assert isinstance(html, SafeString)


def test_empty_text_renders_nothing():
    assert render_markdown("") == "" and render_markdown(None) == "" and render_markdown("  \n ") == ""


def test_analyst_headings_sit_below_page_sections():
    html = render_markdown("# Top\n\n## Second\n\n###### Deep")
    assert "<h3>Top</h3>" in html and "<h4>Second</h4>" in html and "<h4>Deep</h4>" in html
    assert not tags_in(html) & {"h1", "h2", "h5", "h6"}


def test_analyst_headings_never_skip_a_level():
    assert render_markdown("## Only second-level\n\n### Under it") == "<h3>Only second-level</h3>\n<h4>Under it</h4>"


def test_raw_html_headings_cannot_add_a_second_h1():
    assert "<h1" not in render_markdown("<h1>Another title</h1>")


def test_tables_are_allowed():
    html = render_markdown("| a | b |\n|:--|--:|\n| 1 | 2 |")
    assert "<table>" in html and '<th align="left">a</th>' in html and '<td align="right">2</td>' in html


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert('x')</script>",
        "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
        "<scr<script>ipt>alert('x')</script>",
        "<<script>script>alert('x')<</script>/script>",
        "```\n</code></pre><script>alert('x')</script>\n```",
        "<!-- <script>alert('x')</script> -->",
        "<svg><script>alert('x')</script></svg>",
        "<math><mi xlink:href='javascript:alert(1)'>x</mi></math>",
    ],
)
def test_script_never_survives(hostile):
    html = render_markdown(hostile)
    assert "<script" not in html.lower()
    assert "script" not in tags_in(html)


@pytest.mark.parametrize(
    "hostile",
    [
        '<img src="x" onerror="alert(1)">',
        '<p onclick="alert(1)">click</p>',
        '<a href="https://example.org" onmouseover="alert(1)">x</a>',
        "<body onload=alert(1)>",
        '<div style="background:url(javascript:alert(1))">x</div>',
    ],
)
def test_event_handlers_and_style_attributes_are_stripped(hostile):
    html = render_markdown(hostile)
    assert not re.search(r"\son\w+\s*=", html, re.IGNORECASE)
    assert "style=" not in html.lower()
    assert "<img" not in html


@pytest.mark.parametrize(
    "hostile",
    [
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](jav&#x09;ascript:alert(1))",
        '<a href="&#106;avascript:alert(1)">click</a>',
        '<a href=" javascript:alert(1)">click</a>',
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        '<a href="data:text/html,<script>alert(1)</script>">click</a>',
        "![pixel](data:image/png;base64,iVBORw0KGgo=)",
    ],
)
def test_only_web_and_mail_links_survive(hostile):
    html = render_markdown(hostile)
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith(("http://", "https://", "mailto:", "/", "#")), href
    assert "javascript:" not in html.lower() and "data:" not in html.lower() and "vbscript:" not in html.lower()


def test_mailto_links_are_kept():
    assert 'href="mailto:desk@example.org"' in render_markdown("<mailto:desk@example.org>")


@pytest.mark.parametrize(
    "hostile",
    [
        '<iframe src="https://evil.example/">inside</iframe>',
        '<object data="https://evil.example/x.swf"></object>',
        '<embed src="https://evil.example/x.swf">',
        "<style>body { display: none }</style>",
        '<form action="https://evil.example/"><input name="password"></form>',
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
        '<base href="https://evil.example/">',
        '<link rel="stylesheet" href="https://evil.example/x.css">',
    ],
)
def test_embedding_and_page_altering_tags_are_removed(hostile):
    html = render_markdown(hostile)
    assert not tags_in(html) & {"iframe", "object", "embed", "style", "form", "input", "meta", "base", "link"}
    assert "inside" not in html  # an iframe's content goes with it


def test_links_get_nofollow_noopener_and_lose_analyst_attributes():
    html = render_markdown('<a href="https://example.org" rel="opener" target="_blank" class="x" id="y">x</a>')
    assert html == '<p><a href="https://example.org" rel="nofollow noopener">x</a></p>'


def test_inline_rendering_drops_the_paragraph_but_not_the_sanitising():
    assert render_markdown_inline("**Key** point") == "<strong>Key</strong> point"
    assert "<script" not in render_markdown_inline("point <script>alert(1)</script>")
    assert render_markdown_inline("") == ""


def test_lines_splits_one_item_per_line_and_drops_typed_bullets():
    text = "- First point\n\n* Second point\n  3. Third point  \n• Fourth\nFifth\n   \n"
    assert split_lines(text) == ["First point", "Second point", "Third point", "Fourth", "Fifth"]
    assert split_lines("") == [] and split_lines(None) == []


def test_template_filters_render_safe_html_once():
    template = Template(
        "{% load profile_text %}{{ body|markdown }}|{% for l in items|lines %}[{{ l|markdown_inline }}]{% endfor %}"
    )
    out = template.render(Context({"body": "A & B <script>x</script>", "items": "- one **1**\n- two"}))
    assert out == "<p>A &amp; B </p>|[one <strong>1</strong>][two]"


def test_plain_text_keeps_links_and_lists_and_drops_emphasis():
    text = to_plain_text(
        "Some **bold** and _italic_ with [a link](https://example.org).\n\n- one\n- two\n\n1. first\n2. second\n\n"
        "<https://example.org/bare> & <script>alert(1)</script>"
    )
    assert text == (
        "Some bold and italic with a link (https://example.org).\n\n- one\n- two\n\n1. first\n2. second\n\n"
        "https://example.org/bare &"
    )
    assert to_plain_text("") == "" and to_plain_text(None) == ""


def test_plain_text_citations_follow_the_gate():
    visible = SimpleNamespace(pk=7)
    citations = CitationContext([visible])
    assert to_plain_text("Capacity [^ev:7] and more [^ev:8].", citations) == "Capacity[1] and more."
    assert to_plain_text("Capacity [^ev:7].") == "Capacity."
