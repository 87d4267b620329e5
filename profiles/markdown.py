"""Analyst text → safe HTML: Markdown first, then an nh3 allow-list, so nothing an analyst
types (or pastes) can run script, load remote content or smuggle attributes into the page.

Evidence citations (`[^ev:42]`, see `profiles.citations`) become numbered footnote links when a
`CitationContext` says this reader may see that evidence, and vanish otherwise — including when
no context is given, so no output that forgets the context can leak which evidence is cited.

Outputs read away from the page take the same render: feeds pass `base_url` (a citation then
links to the source on the profile page, absolutely), and plain-text outputs (e-mail text parts,
feed descriptions that must be text) take `to_plain_text`, built from that same sanitised HTML.
"""

from __future__ import annotations

import re
import threading
from html.parser import HTMLParser
from xml.etree import ElementTree

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.inlinepatterns import InlineProcessor
from markdown.treeprocessors import Treeprocessor

from .citations import CITATION_PATTERN, CitationContext

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "em", "strong", "a", "blockquote", "code", "pre", "h3", "h4",
        "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "sup",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
ALIGN_VALUES = {"left", "center", "right"}
ALLOWED_ATTRIBUTE_VALUES = {"th": {"align": ALIGN_VALUES}, "td": {"align": ALIGN_VALUES}}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
#: The only class that survives: the citation superscript's (a typed class="…" elsewhere is dropped).
ALLOWED_CLASSES = {"sup": frozenset({"citation"})}
#: Tags removed together with everything inside them (the rest are unwrapped, keeping their text).
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "object", "embed", "noscript", "template", "textarea", "select", "svg", "math"}
)
LINK_REL = "nofollow noopener"

#: Page sections are h2: an analyst's top heading becomes h3, anything deeper h4.
TOP_HEADING_LEVEL, DEEPEST_HEADING_LEVEL = 3, 4
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}

_BULLET = re.compile(r"^\s*(?:[-*•+]|\d+[.)])\s+")
_SINGLE_PARAGRAPH = re.compile(r"\A<p>(.*)</p>\Z", re.DOTALL)


class _DemoteHeadings(Treeprocessor):
    """Shift headings so the text's own top level lands on h3 and none skips a level below h2."""

    def run(self, root):
        headings = [element for element in root.iter() if element.tag in HEADINGS]
        if not headings:
            return
        top = min(HEADINGS[element.tag] for element in headings)
        for element in headings:
            level = TOP_HEADING_LEVEL + HEADINGS[element.tag] - top
            element.tag = f"h{min(level, DEEPEST_HEADING_LEVEL)}"


class _DemoteHeadingsExtension(Extension):
    def extendMarkdown(self, md):  # noqa: N802 - Markdown's API name
        md.treeprocessors.register(_DemoteHeadings(md), "btw_demote_headings", 5)


#: Carries the evidence id from the inline pattern to the numbering pass; never reaches the page.
_PK_ATTRIBUTE = "data-btw-evidence"


class _CitationMarkers(InlineProcessor):
    """`[^ev:42]` → a placeholder `<sup>` when this reader may see item 42, else nothing at all.

    Numbers are given afterwards, in document order, by `_NumberCitations`: inline patterns run
    pattern by pattern, not left to right, so numbering here would follow the wrong order.
    """

    def __init__(self, pattern, md, citations: CitationContext | None):
        super().__init__(pattern, md)
        self.citations = citations

    def handleMatch(self, m, data):  # noqa: N802 - Markdown's API name
        pk = int(m.group(1))
        if self.citations is None or not self.citations.is_visible(pk):
            return "", m.start(0), m.end(0)  # hidden: no number, no marker, no stray space
        return ElementTree.Element("sup", {"class": "citation", _PK_ATTRIBUTE: str(pk)}), m.start(0), m.end(0)


class _NumberCitations(Treeprocessor):
    """Number the placeholders in reading order and link each to its source on the page.

    Inside link text a citation keeps its number but not its own link (links cannot nest).
    """

    def __init__(self, md, citations: CitationContext | None, base_url: str):
        super().__init__(md)
        self.citations = citations
        self.base_url = base_url

    def run(self, root):
        if self.citations is not None:
            self._walk(root, in_link=False)

    def _walk(self, element, *, in_link):
        for child in element:
            pk = child.attrib.pop(_PK_ATTRIBUTE, None) if child.tag == "sup" else None
            if pk is None:
                self._walk(child, in_link=in_link or child.tag == "a")
                continue
            citation = self.citations.cite(int(pk))
            label = f"[{citation.number}]"
            if in_link:
                child.text = label
            else:
                ElementTree.SubElement(child, "a", {"href": f"{self.base_url}#{citation.anchor}"}).text = label


class _CitationExtension(Extension):
    def __init__(self, citations: CitationContext | None, base_url: str = ""):
        super().__init__()
        self.citations = citations
        self.base_url = base_url

    def extendMarkdown(self, md):  # noqa: N802 - Markdown's API name
        # Below "link" (160): a marker inside a link URL stays part of the URL, not a footnote;
        # link text is still searched. "escape" (180) runs first, so `\[^ev:1]` stays literal.
        md.inlinePatterns.register(_CitationMarkers(CITATION_PATTERN, md, self.citations), "btw_citation", 155)
        # After "inline" (20), which builds the tree the placeholders live in.
        md.treeprocessors.register(_NumberCitations(md, self.citations, self.base_url), "btw_number_citations", 6)


_converters = threading.local()


def _converter(citations: CitationContext | None = None, base_url: str = "") -> markdown.Markdown:
    """This thread's Markdown converter, reset and pointed at this render's citations.

    One instance per thread, `reset()` between conversions (which clears what a conversion leaves
    behind), rather than a fresh one per call: building one costs ~0.45 ms — 18 times per watch digest,
    once per Markdown field of a page render — and converting a short text much less."""
    md = getattr(_converters, "md", None)
    if md is None:
        md = _converters.md = markdown.Markdown(
            extensions=[
                "tables", "sane_lists", "fenced_code", _DemoteHeadingsExtension(), _CitationExtension(None, ""),
            ],
            extension_configs={"tables": {"use_align_attribute": True}},
            output_format="html",
        )
    md.reset()
    md.inlinePatterns["btw_citation"].citations = citations
    numbering = md.treeprocessors["btw_number_citations"]
    numbering.citations, numbering.base_url = citations, base_url
    return md


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        tag_attribute_values={
            tag: {name: set(values) for name, values in attrs.items()}
            for tag, attrs in ALLOWED_ATTRIBUTE_VALUES.items()
        },
        url_schemes=set(ALLOWED_URL_SCHEMES),
        allowed_classes={tag: set(classes) for tag, classes in ALLOWED_CLASSES.items()},
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(
    text: str | None, citations: CitationContext | None = None, *, base_url: str = ""
) -> SafeString:
    """Render analyst Markdown to HTML that is safe to place in a page.

    `citations` numbers the evidence this reader may see; without it every citation is hidden.
    `base_url` is the page the citations' anchors are on, for output read elsewhere (a feed);
    empty on the page itself.
    """
    if not text or not text.strip():
        return mark_safe("")  # noqa: S308 - constant empty string
    html = sanitize_html(_converter(citations, base_url).convert(text))
    return mark_safe(html)  # noqa: S308 - nh3 output with a strict allow-list


def render_markdown_inline(text: str | None, citations: CitationContext | None = None) -> SafeString:
    """Like `render_markdown`, for one line inside a list item: no wrapping paragraph."""
    html = str(render_markdown(text, citations))
    match = _SINGLE_PARAGRAPH.match(html.strip())
    if match and "<p>" not in match.group(1):
        html = match.group(1)
    return mark_safe(html)  # noqa: S308 - substring of sanitised output, still balanced


def split_lines(text: str | None) -> list[str]:
    """One item per non-empty line; a leading '- ', '* ' or '1.' bullet typed by the analyst is dropped."""
    if not text:
        return []
    items = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        if line:
            items.append(line)
    return items


def to_plain_text(text: str | None, citations: CitationContext | None = None) -> str:
    """Analyst Markdown as readable plain text, for outputs that are not HTML (e-mail text parts).

    The same render as the page (so the same sanitising and the same gate on citations: a visible
    citation reads "[1]", a hidden one vanishes), then laid out as text: links as "text (url)"
    (just the url when the text is the url), emphasis dropped, list items kept as "- item" or
    "1. item", paragraphs, headings and table rows on lines of their own.
    """
    html = render_markdown(text, citations)
    if not html:
        return ""
    parser = _PlainText()
    parser.feed(str(html))
    parser.close()
    return parser.text()


class _PlainText(HTMLParser):
    """Sanitised HTML (`render_markdown`'s allow-list only) → text; entities are decoded."""

    _BLOCKS = frozenset({"p", "h3", "h4", "blockquote", "pre", "table", "ul", "ol", "hr"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self._out: list[str] = []
        self._lists: list[list] = []  # per open list: [ordered, next number]
        self._links: list[tuple[str, int]] = []  # per open link: (href, where its text starts)
        self._citation = 0  # depth inside a citation superscript: its link is the page's anchor
        self._pre = 0
        self._row: list[str] | None = None  # the cells of an open table row
        self._cell_start: int | None = None  # where the open cell's text starts

    def _newline(self, blank: bool = False):
        text = "".join(self._out).rstrip(" ")
        self._out = [text]
        if text and not text.endswith("\n"):
            self._out.append("\n")
        if blank and text and not text.endswith("\n\n"):
            self._out.append("\n")

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in self._BLOCKS:
            self._newline(blank=not self._lists)
            if tag == "hr":
                self._out.append("----")
                self._newline(blank=True)
            if tag in ("ul", "ol"):
                self._lists.append([tag == "ol", int(attrs.get("start") or 1)])
            if tag == "pre":
                self._pre += 1
        elif tag == "li":
            self._newline()
            ordered, number = self._lists[-1] if self._lists else (False, 1)
            marker = f"{number}. " if ordered else "- "
            if self._lists and ordered:
                self._lists[-1][1] += 1
            self._out.append("  " * max(len(self._lists) - 1, 0) + marker)
        elif tag == "br":
            self._newline()
        elif tag == "tr":
            self._newline()
            self._row = []
        elif tag in ("td", "th"):
            self._cell_start = len(self._out)
        elif tag == "sup" and attrs.get("class") == "citation":
            self._citation += 1
        elif tag == "a" and not self._citation:
            self._links.append((attrs.get("href") or "", len(self._out)))

    def handle_endtag(self, tag):
        if tag in self._BLOCKS:
            if tag in ("ul", "ol") and self._lists:
                self._lists.pop()
            if tag == "pre":
                self._pre -= 1
            self._newline(blank=not self._lists)
        elif tag in ("td", "th") and self._row is not None:
            start = len(self._out) if self._cell_start is None else self._cell_start
            self._row.append("".join(self._out[start:]).strip())
            del self._out[start:]
            self._cell_start = None
        elif tag == "tr" and self._row is not None:
            self._out.append(" | ".join(self._row))
            self._row = None
            self._newline()
        elif tag == "sup" and self._citation:
            self._citation -= 1
        elif tag == "a" and self._links and not self._citation:
            href, start = self._links.pop()
            label = "".join(self._out[start:]).strip()
            shown = href.removeprefix("mailto:")
            if href and label not in (href, shown):
                self._out.append(f" ({shown})")
            elif href and not label:
                self._out.append(shown)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        if self._row is not None and self._cell_start is None:
            return  # the layout whitespace between a table's cells
        if not self._pre:
            data = re.sub(r"\s+", " ", data)
            if not self._out or self._out[-1].endswith(("\n", " ")):
                data = data.lstrip(" ")
        self._out.append(data)

    def text(self) -> str:
        lines = [line.rstrip() for line in "".join(self._out).split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
