"""Sign-up policy in one place: who may sign up, what verifying an e-mail address grants, and how
account e-mail names the site and reaches the reader."""

from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib import messages
from django.urls import reverse

import siteurl
from outbox.services import queue

from . import services
from .models import Membership


class SiteNamed:
    """What allauth's templates read as `current_site`, from the configured address (never a Host header)."""

    def __init__(self):
        self.name = siteurl.name()
        self.domain = siteurl.domain()
        self.url = siteurl.base()

    def __str__(self):
        return self.name


def on_site(url: str) -> str:
    """A link allauth built from the request's host, moved onto the site's configured address."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")
    return siteurl.absolute(path or "/")


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        """Sign-up is open unless the deployment closes it (BTW_SIGNUP_OPEN=0)."""
        return getattr(settings, "BTW_SIGNUP_OPEN", True)

    def confirm_email(self, request, email_address):
        """A verified address makes the reader an active Strategic Circle member (self-service tier),
        and says so once: confirming a second address of a member says nothing more."""
        user = email_address.user
        confirmed = super().confirm_email(request, email_address)
        if confirmed:
            before = set(Membership.objects.active().filter(user=user).values_list("tier_id", flat=True))
            membership = services.grant_self_service_tier(user=user)
            if membership is not None and membership.tier_id not in before and membership.is_active():
                messages.success(
                    request,
                    f"You are now a {membership.tier.name} member: member briefings are open to you.",
                )
        return confirmed

    def get_email_confirmation_url(self, request, emailconfirmation):
        return siteurl.absolute(reverse("account_confirm_email", args=[emailconfirmation.key]))

    def get_reset_password_from_key_url(self, key):
        return on_site(super().get_reset_password_from_key_url(key))

    def send_mail(self, template_prefix, email, context):
        """Account mail names the site and links to its configured address, and goes through the
        outbox: an SMTP outage delays it, never loses it (sent at once when SMTP answers)."""
        context = {
            **context,
            **{key: on_site(value) for key, value in context.items() if key.endswith("_url") and value},
        }
        context = {"request": self.request, "email": email, **context, "current_site": SiteNamed()}
        context.setdefault("site_url", siteurl.base())
        queue(self.render_mail(template_prefix, email, context), kind=template_prefix)


def user_display(user) -> str:
    """Readers know themselves by e-mail; the username is generated and never shown."""
    return user.email or user.get_username()
