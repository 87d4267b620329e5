"""`{% cached_fragment key %}…{% endcached_fragment %}`: render once per key, reuse from the cache.

An empty key renders the block fresh every time (staff previews use that). Keys come from the
read side (`profiles.pages.profile_fragment_keys`) and carry the content version and the
reader's variant, so nothing rendered for one tier is ever shown to another.
"""

from django import template
from django.conf import settings
from django.core.cache import cache

register = template.Library()

FRAGMENT_TIMEOUT = 60 * 60


class CachedFragmentNode(template.Node):
    def __init__(self, nodelist, key_expr):
        self.nodelist, self.key_expr = nodelist, key_expr

    def render(self, context):
        key = self.key_expr.resolve(context)
        timeout = getattr(settings, "BTW_FRAGMENT_CACHE_TIMEOUT", FRAGMENT_TIMEOUT)
        if not key or not timeout:
            return self.nodelist.render(context)
        html = cache.get(key)
        if html is None:
            html = self.nodelist.render(context)
            cache.set(key, html, timeout)
        return html


@register.tag
def cached_fragment(parser, token):
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("{% cached_fragment key %} takes exactly one argument")
    nodelist = parser.parse(("endcached_fragment",))
    parser.delete_first_token()
    return CachedFragmentNode(nodelist, parser.compile_filter(bits[1]))
