"""`{% site_preview %}`: the OpenGraph and Twitter tags of a page without a preview of its own.

`templates/base.html` renders it in its `link_preview` block, so every page shares well when
linked (type, title, address, site name, the site card image); a page with its own preview
(the profile page's head part, home) overrides the block. Values come from
`profiles.structured_data.site_preview`: the page's canonical URL or its path on the configured
site address, never the Host header.
"""

from django import template
from django.utils.html import format_html_join

from profiles import structured_data

register = template.Library()


@register.simple_tag(takes_context=True)
def site_preview(context, title: str = "", description: str = "", path: str = ""):
    """`path` overrides the page's own (an error page shares the home page rather than echo a path)."""
    request = context.get("request")
    preview = structured_data.site_preview(
        path or (request.path if request is not None else "/"),
        canonical_url=context.get("canonical_url") or "",
        title=title,
    )
    og = dict(preview["og"], **({"og:description": description} if description else {}))
    return format_html_join(
        "\n  ",
        '<meta {}="{}" content="{}">',
        [("property", name, value) for name, value in og.items()]
        + [("name", name, value) for name, value in preview["twitter"].items()],
    )
