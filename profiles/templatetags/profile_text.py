"""Template filters for analyst text: `{{ text|markdown }}`, `{{ line|markdown_inline }}`, `{{ text|lines }}`."""

from django import template

from profiles.markdown import render_markdown, render_markdown_inline, split_lines

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text):
    """Markdown rendered and sanitised (profiles.markdown): safe to print as HTML."""
    return render_markdown(text)


@register.filter
def markdown_inline(text):
    """One line of Markdown without its wrapping paragraph, for list items."""
    return render_markdown_inline(text)


@register.filter
def lines(text):
    """A one-item-per-line field as a list of its non-empty lines."""
    return split_lines(text)
