"""`{% cached_fragment fragment %}…{% endcached_fragment %}`: render once, reuse from the cache.

`fragment` is a `profiles.profile_page.Fragment` looked up by the read side (with the content version,
in one round trip): its HTML is used when present, otherwise the block renders and is stored
under its key and version. Keys carry the reader's variant, so nothing rendered for one tier is
shown to another; an empty key (staff previews) renders fresh every time.
"""

from django import template

from profiles.cache import store_versioned
from profiles.profile_page import profile_cache_timeout

register = template.Library()


class CachedFragmentNode(template.Node):
    def __init__(self, nodelist, fragment_expr):
        self.nodelist, self.fragment_expr = nodelist, fragment_expr

    def render(self, context):
        fragment = self.fragment_expr.resolve(context)
        timeout = profile_cache_timeout()
        if not fragment or not fragment.key or not timeout:
            return self.nodelist.render(context)
        if fragment.html is not None:
            return fragment.html
        html = self.nodelist.render(context)
        store_versioned(fragment.key, fragment.version, html, timeout)
        return html


@register.tag
def cached_fragment(parser, token):
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("{% cached_fragment fragment %} takes exactly one argument")
    nodelist = parser.parse(("endcached_fragment",))
    parser.delete_first_token()
    return CachedFragmentNode(nodelist, parser.compile_filter(bits[1]))
