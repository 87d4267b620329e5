"""Sign-up policy in one place: who may sign up, and what verifying an e-mail address grants."""

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

from . import services


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        """Sign-up is open unless the deployment closes it (BTW_SIGNUP_OPEN=0)."""
        return getattr(settings, "BTW_SIGNUP_OPEN", True)

    def confirm_email(self, request, email_address):
        """A verified address makes the reader an active Strategic Circle member (self-service tier)."""
        confirmed = super().confirm_email(request, email_address)
        if confirmed:
            services.grant_self_service_tier(user=email_address.user)
        return confirmed


def user_display(user) -> str:
    """Readers know themselves by e-mail; the username is generated and never shown."""
    return user.email or user.get_username()
