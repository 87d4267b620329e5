"""Template filters for analyst text: `{{ text|markdown }}`, `{{ line|markdown_inline }}`, `{{ text|lines }}`.

Both Markdown filters take the page's citation context as an optional argument,
`{{ i.body|markdown:page.citations }}`: evidence citations (`[^ev:42]`) then become numbered
footnotes for the evidence this reader may see. Without it, every citation is hidden.
"""

from django import template

from profiles.markdown import render_markdown, render_markdown_inline, split_lines

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text, citations=None):
    """Markdown rendered and sanitised (profiles.markdown): safe to print as HTML."""
    return render_markdown(text, citations or None)


@register.filter
def markdown_inline(text, citations=None):
    """One line of Markdown without its wrapping paragraph, for list items."""
    return render_markdown_inline(text, citations or None)


@register.filter
def citation_number(citations, pk):
    """`{{ page.citations|citation_number:item.pk }}`: a source's footnote number, or "" if uncited."""
    number = citations.number_for(pk) if citations else None
    return "" if number is None else number


@register.filter
def lines(text):
    """A one-item-per-line field as a list of its non-empty lines."""
    return split_lines(text)
