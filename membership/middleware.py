"""Request-wide rules of the membership layer: cache headers for reader-dependent pages, staff MFA."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_cache_control, patch_vary_headers

from .gating import reader_for
from .mfa import has_mfa


class ReaderCacheHeadersMiddleware:
    """Rule 6 of the gate: responses that depend on who reads them are never shared by caches."""

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


class StaffMFARequiredMiddleware:
    """Staff's sight of the site and their way into the admin follow their second factor (gating rule 1).

    Switched by settings.BTW_REQUIRE_STAFF_MFA. For a signed-in staff member it does two things:

    - Resolves their reader with this request before any view runs (`reader_for(user, request=…)`), so
      every later question about them during the request — views, the context processor, watchlists —
      gets the one answer of `membership.gating.has_staff_sight`: everything once this session has
      passed MFA, their membership level before.
    - Keeps the admin closed until the session has passed MFA: without an enrolled authenticator they
      are sent to the TOTP activation page; with one (they signed in before enrolling, or enrolled just
      now — activation itself records no MFA) to allauth's MFA reauthentication, which asks for a code
      and comes back to the admin page. allauth then asks for the code at every sign-in.
    """

    EXEMPT_URL_NAMES = ("admin:login", "admin:logout")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if not getattr(settings, "BTW_REQUIRE_STAFF_MFA", True) or not is_staff_user(user):
            return self.get_response(request)
        # The one rule (has_staff_sight), answered for this request and kept with its user from now on.
        reader = reader_for(user, request=request)
        if self.guards(request) and not reader.is_staff:
            if not has_mfa(user):
                messages.warning(
                    request,
                    "Staff need two-factor authentication to use the admin: set up an authenticator app first.",
                )
                return redirect("mfa_activate_totp")
            messages.info(request, "Enter a code from your authenticator app to open the admin.")
            back_to = urlencode({REDIRECT_FIELD_NAME: request.get_full_path()})
            return redirect(f"{reverse('mfa_reauthenticate')}?{back_to}")
        return self.get_response(request)

    def guards(self, request) -> bool:
        """Whether this path is an admin page that needs MFA (its login and logout pages do not)."""
        try:
            admin_prefix = reverse("admin:index")
            exempt = {reverse(name) for name in self.EXEMPT_URL_NAMES}
        except NoReverseMatch:
            return False
        return request.path.startswith(admin_prefix) and request.path not in exempt


def is_staff_user(user) -> bool:
    return user is not None and user.is_authenticated and (user.is_staff or user.is_superuser)
