"""Rule 6 of the gate: responses that depend on who reads them are never shared by caches."""

from django.utils.cache import patch_cache_control, patch_vary_headers


class ReaderCacheHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if getattr(request, "_btw_reader", None) is not None or (user is not None and user.is_authenticated):
            patch_vary_headers(response, ["Cookie"])
            if user is not None and user.is_authenticated:
                patch_cache_control(response, private=True)
        return response
