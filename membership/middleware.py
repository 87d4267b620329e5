"""Request-wide rules of the membership layer: cache headers for reader-dependent pages, staff MFA."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_cache_control, patch_vary_headers


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
    """Staff reach the admin only once they have enrolled an MFA authenticator (TOTP).

    Switched by settings.BTW_REQUIRE_STAFF_MFA; a staff member without one is sent to the
    TOTP activation page. allauth then asks for the code at every sign-in.
    """

    EXEMPT_URL_NAMES = ("admin:login", "admin:logout")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self.must_enrol(request):
            messages.warning(
                request,
                "Staff need two-factor authentication to use the admin: set up an authenticator app first.",
            )
            return redirect("mfa_activate_totp")
        return self.get_response(request)

    def must_enrol(self, request) -> bool:
        if not getattr(settings, "BTW_REQUIRE_STAFF_MFA", True):
            return False
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not (user.is_staff or user.is_superuser):
            return False
        try:
            admin_prefix = reverse("admin:index")
            exempt = {reverse(name) for name in self.EXEMPT_URL_NAMES}
        except NoReverseMatch:
            return False
        if not request.path.startswith(admin_prefix) or request.path in exempt:
            return False
        return not has_mfa(user)


def has_mfa(user) -> bool:
    """An authenticator that proves a second factor (recovery codes alone do not count)."""
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user).exclude(type=Authenticator.Type.RECOVERY_CODES).exists()
