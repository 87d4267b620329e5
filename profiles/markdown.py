"""Analyst text → safe HTML: Markdown first, then an nh3 allow-list, so nothing an analyst
types (or pastes) can run script, load remote content or smuggle attributes into the page.
"""

from __future__ import annotations

import re

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "em", "strong", "a", "blockquote", "code", "pre", "h3", "h4",
        "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
ALIGN_VALUES = {"left", "center", "right"}
ALLOWED_ATTRIBUTE_VALUES = {"th": {"align": ALIGN_VALUES}, "td": {"align": ALIGN_VALUES}}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
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


def _converter() -> markdown.Markdown:
    # A fresh instance per call: Markdown objects keep state between conversions.
    return markdown.Markdown(
        extensions=["tables", "sane_lists", "fenced_code", _DemoteHeadingsExtension()],
        extension_configs={"tables": {"use_align_attribute": True}},
        output_format="html",
    )


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
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str | None) -> SafeString:
    """Render analyst Markdown to HTML that is safe to place in a page."""
    if not text or not text.strip():
        return mark_safe("")  # noqa: S308 - constant empty string
    html = sanitize_html(_converter().convert(text))
    return mark_safe(html)  # noqa: S308 - nh3 output with a strict allow-list


def render_markdown_inline(text: str | None) -> SafeString:
    """Like `render_markdown`, for one line inside a list item: no wrapping paragraph."""
    html = str(render_markdown(text))
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
