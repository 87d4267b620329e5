"""What a fetched page says, reduced to what a reader reads: its text and title, and a hash of the text.

The hash is what later checks compare, so it must move when the words move and stay put when only
markup, scripts or whitespace do: HTML is turned into its visible text (lxml.html, scripts and styles
dropped) with whitespace runs collapsed; other text types are hashed as they are; a body with no text
type (a PDF filing, a spreadsheet) is hashed byte for byte, which still tells a changed file.
"""

from __future__ import annotations

import codecs
import hashlib

import lxml.etree
import lxml.html

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/rss+xml", "application/atom+xml"})
#: Elements whose content is never read by a person.
INVISIBLE = ("script", "style", "noscript", "template")
TITLE_MAX = 500


def normalise(text: str) -> str:
    return " ".join(text.split())


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def charset_of(content_type: str) -> str | None:
    """The `charset=` parameter when it names a codec Python knows."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            value = value.strip().strip("\"'")
            try:
                return codecs.lookup(value).name
            except LookupError:
                return None
    return None


def is_text(content_type: str) -> bool:
    kind = media_type(content_type)
    return kind.startswith("text/") or kind in HTML_TYPES or kind in TEXT_TYPES or kind.endswith("+xml")


def readable(body: bytes, content_type: str) -> tuple[str, str]:
    """(text, title) of a body: the visible text of HTML, other text decoded, "" for binary types."""
    kind = media_type(content_type)
    charset = charset_of(content_type)
    if kind in HTML_TYPES:
        return _html(body, charset)
    if is_text(content_type):
        return body.decode(charset or "utf-8", errors="replace"), ""
    return "", ""


def _html(body: bytes, charset: str | None) -> tuple[str, str]:
    if not body.strip():
        return "", ""
    try:
        if charset:
            document = lxml.html.document_fromstring(body.decode(charset, errors="replace"))
        else:  # let the parser read a <meta charset>; lxml falls back to its own guess
            document = lxml.html.document_fromstring(body)
    except (lxml.etree.ParserError, ValueError):
        return "", ""
    title = normalise(document.findtext(".//title") or "")[:TITLE_MAX]
    for element in list(document.iter(*INVISIBLE)):
        element.drop_tree()
    body_element = document.find("body")
    text = (body_element if body_element is not None else document).text_content()
    return normalise(text), title


def text_hash(body: bytes, content_type: str, text: str) -> str:
    """SHA-256 of the readable text for text types, of the bytes otherwise (hex)."""
    data = text.encode("utf-8") if is_text(content_type) else body
    return hashlib.sha256(data).hexdigest()
