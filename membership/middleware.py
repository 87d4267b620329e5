"""Request-wide rules of the membership layer: the request's reader and its cache headers, staff MFA."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.functional import SimpleLazyObject

from .mfa import has_mfa
from .readers import has_staff_sight, resolve_reader


class ReaderMiddleware:
    """Gives every request its reader and keeps pages that depend on it out of shared caches.

    - Sets `request.reader`, resolved on first use (`readers.resolve_reader`), as Django's
      AuthenticationMiddleware sets `request.user`; so it comes after that middleware.
    - Rule 6 of the gate: a response for which the reader was resolved, or to a signed-in user, varies
      by Cookie and, signed in, is private. Like SessionMiddleware's "accessed", the signal is whether
      the lazy `request.reader` was ever resolved.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        resolved = False

        def resolve():
            nonlocal resolved
            resolved = True
            return resolve_reader(request)

        request.reader = SimpleLazyObject(resolve)
        response = self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if resolved or signed_in:
            patch_vary_headers(response, ["Cookie"])
            if signed_in:
                patch_cache_control(response, private=True)
        return response


class StaffMFARequiredMiddleware:
    """Staff's sight of the site and their way into the admin follow their second factor (gating rule 1).

    Switched by settings.BTW_REQUIRE_STAFF_MFA. The admin stays closed to a signed-in staff member until
    their session has passed MFA (`readers.has_staff_sight`, the rule their reading of the site follows
    too): without an enrolled authenticator they are sent to the TOTP activation page; with one (they
    signed in before enrolling, or enrolled just now — activation itself records no MFA) to allauth's
    MFA reauthentication, which asks for a code and comes back to the admin page. allauth then asks for
    the code at every sign-in.
    """

    EXEMPT_URL_NAMES = ("admin:login", "admin:logout")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if not getattr(settings, "BTW_REQUIRE_STAFF_MFA", True) or not is_staff_user(user):
            return self.get_response(request)
        if self.guards(request) and not has_staff_sight(user, request):
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
