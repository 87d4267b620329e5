"""Reader-facing membership pages: the tiers, the Leadership Alliance application, a reader's API tokens,
the admin door."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import FormView, TemplateView

from . import services, tokens
from .forms import ApiTokenForm, ApplicationForm
from .models import ApiToken, Application, Membership, Tier
from .readers import reader_for_request


class MembershipContextMixin:
    """What every membership page shows about the reader's own standing."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        reader = reader_for_request(self.request)
        user = self.request.user
        context["reader"] = reader
        context["tiers"] = Tier.objects.all()
        context["alliance_tier"] = Tier.objects.filter(slug=Tier.LEADERSHIP_ALLIANCE_SLUG).first()
        if user.is_authenticated:
            context["memberships"] = Membership.objects.filter(user=user).select_related("tier")
            context["open_application"] = services.open_application(user)
            context["last_application"] = (
                Application.objects.filter(user=user)
                .exclude(state=Application.State.PENDING)
                .order_by("-reviewed_at", "-created_at")
                .first()
            )
        return context


class TiersView(MembershipContextMixin, TemplateView):
    """The tiers, what each unlocks, and the reader's next step."""

    template_name = "membership/tiers.html"


class ApplyView(LoginRequiredMixin, MembershipContextMixin, FormView):
    """The Leadership Alliance application: signed-in, verified readers with no open application."""

    template_name = "membership/apply.html"
    form_class = ApplicationForm

    def refusal(self):
        """Why this reader may not apply now, or None when they may."""
        user = self.request.user
        if not services.has_verified_email(user):
            return services.EmailNotVerified(
                "Verify your e-mail address before applying: open the link we sent you, or ask for a new one."
            )
        if services.is_alliance_member(user):
            return services.AlreadyMember("You are already a Leadership Alliance member.")
        existing = services.open_application(user)
        if existing is not None:
            return services.ApplicationAlreadyOpen(
                f"You already have an application under review (submitted {existing.created_at:%d %B %Y}). "
                "We will e-mail you when it is decided."
            )
        return None

    def get(self, request, *args, **kwargs):
        refusal = self.refusal()
        if refusal is not None:
            return self.refuse(refusal, status=200)
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        refusal = self.refusal()
        if refusal is not None:
            return self.refuse(refusal, status=self.status_for(refusal))
        return super().post(request, *args, **kwargs)

    @staticmethod
    def status_for(error):
        if isinstance(error, services.EmailNotVerified | services.NotPermitted):
            return 403
        if isinstance(error, services.ApplicationAlreadyOpen | services.AlreadyMember):
            return 409
        return 400

    def refuse(self, error, *, status):
        context = self.get_context_data(form=None, refusal=str(error), refusal_kind=type(error).__name__)
        return self.render_to_response(context, status=status)

    def form_valid(self, form):
        try:
            application = services.submit_application(user=self.request.user, **form.cleaned_data)
        except services.MembershipError as error:
            return self.refuse(error, status=self.status_for(error))
        messages.success(
            self.request,
            f"Thank you: your application for {application.organisation} is under review. "
            "We will e-mail you when it is decided.",
        )
        return redirect("membership:tiers")


@method_decorator(never_cache, name="dispatch")
class ApiTokensView(LoginRequiredMixin, FormView):
    """A reader's personal API tokens: the list, and the form that makes one.

    The new token's text is in the response to the POST that made it and nowhere else: not stored, not
    in the session or a message, not on any later page. So this view renders that response itself
    instead of redirecting, and every response is `no-store` (never_cache) as well as private.
    """

    template_name = "membership/api_tokens.html"
    form_class = ApiTokenForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "owner": self.request.user}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        refusal = kwargs["refusal"] if "refusal" in kwargs else tokens.creation_refusal(self.request.user)
        context["refusal"] = str(refusal) if refusal is not None else None
        context["refusal_kind"] = type(refusal).__name__ if refusal is not None else None
        if refusal is not None:
            context["form"] = None
        context["api_tokens"] = ApiToken.objects.unrevoked().filter(owner=self.request.user)
        context["max_tokens"] = ApiToken.MAX_LIVE_PER_OWNER
        return context

    def post(self, request, *args, **kwargs):
        refusal = tokens.creation_refusal(request.user)
        if refusal is not None:
            return self.refuse(refusal)
        return super().post(request, *args, **kwargs)

    def refuse(self, error):
        status = 403 if isinstance(error, tokens.EmailNotVerified) else 409
        return self.render_to_response(self.get_context_data(refusal=error), status=status)

    def form_valid(self, form):
        try:
            issued = tokens.create_token(
                owner=self.request.user, name=form.cleaned_data["name"], lifetime_days=form.cleaned_data["lifetime"]
            )
        except tokens.NameTaken as error:
            form.add_error("name", str(error))
            return self.form_invalid(form)
        except tokens.TokenError as error:
            return self.refuse(error)
        context = self.get_context_data(form=self.get_form_class()(owner=self.request.user), issued=issued)
        return self.render_to_response(context, status=201)


@method_decorator(never_cache, name="dispatch")
class RevokeApiTokenView(LoginRequiredMixin, View):
    """POST: revoke one of the reader's own tokens (anyone else's is a 404: no hint that it exists)."""

    http_method_names = ["post"]

    def post(self, request, pk):
        token = get_object_or_404(ApiToken.objects.filter(owner=request.user), pk=pk)
        if tokens.revoke_token(token=token, by=request.user):
            messages.success(request, f"The token “{token.name}” is revoked: it opens nothing from now on.")
        else:
            messages.info(request, f"The token “{token.name}” was already revoked.")
        return redirect("membership:api_tokens")


def staff_login_redirect(request, extra_context=None):
    """The admin's login page: staff sign in through allauth (rate limits, MFA), then return here."""
    admin_index = reverse("admin:index")
    next_url = request.GET.get(REDIRECT_FIELD_NAME) or admin_index
    safe = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    if not safe:
        next_url = admin_index
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return redirect(next_url)
        # Redirecting a signed-in reader back to the login page would loop; say no plainly.
        return render(request, "membership/admin_denied.html", status=403)
    return redirect(f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")
