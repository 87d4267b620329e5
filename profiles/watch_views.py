"""Reader-facing watchlist pages: follow/unfollow, the watchlist, digest choice, unsubscribe."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from membership.gating import reader_for, reader_for_request

from . import watch
from .models import Institution, WatchSettings


class FollowSignInView(View):
    """GET: the anonymous reader's "Sign in to follow". Remembers the profile in the session and sends
    them to sign in (from where they may sign up); the sign-in completes the follow
    (`follow_after_sign_in`). A signed-in reader is sent to the profile, whose follow control fits them."""

    http_method_names = ["get"]

    def get(self, request, slug):
        institution = get_object_or_404(Institution.objects.published(), slug=slug)
        if request.user.is_authenticated:
            return redirect(institution)
        watch.remember_follow(request.session, institution)
        return redirect_to_login(institution.get_absolute_url())


def follow_after_sign_in(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver: complete a remembered "Sign in to follow" (by password, or by the
    sign-in that follows confirming a new account's e-mail address) and say so."""
    session = getattr(request, "session", None)
    if session is None or watch.FOLLOW_AFTER_SIGN_IN not in session:
        return
    try:
        institution = watch.follow_remembered(session=session, reader=reader_for(user, request=request))
    except watch.MembersOnly as refused:
        messages.info(request, refused.reader_reason)
        return
    if institution is not None:
        messages.success(request, f"You now follow {institution.name}.")


class FollowView(LoginRequiredMixin, View):
    """POST only: follow or unfollow, then go back to where the reader was (works without JS)."""

    http_method_names = ["post"]

    def post(self, request, slug):
        institution = get_object_or_404(Institution.objects.published(), slug=slug)
        want = request.POST.get("action", "follow") != "unfollow"
        reader = reader_for_request(request)
        try:
            now_following = watch.set_following(reader=reader, institution=institution, follow=want)
        except PermissionDenied as denied:
            messages.error(request, str(denied))
            return redirect("membership:tiers")
        except watch.WatchError as error:
            messages.error(request, str(error))
        else:
            verb = "now follow" if now_following else "no longer follow"
            messages.success(request, f"You {verb} {institution.name}.")
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
            next_url = institution.get_absolute_url()
        return HttpResponseRedirect(next_url)


class WatchlistView(LoginRequiredMixin, TemplateView):
    template_name = "profiles/watchlist.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        reader = reader_for_request(self.request)
        context["may_follow"] = watch.may_follow(reader)
        context["entries"] = watch.watchlist(reader)
        context["watch_settings"] = WatchSettings.objects.filter(user=reader.user).first()
        context["frequencies"] = WatchSettings.Frequency.choices
        return context

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response.render()
        watch.mark_seen(request.user)  # what was shown now counts as seen
        return response


class DigestSettingsView(LoginRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request):
        frequency = request.POST.get("frequency", "")
        if frequency not in WatchSettings.Frequency.values:
            messages.error(request, "Choose daily, weekly or off.")
        else:
            WatchSettings.objects.update_or_create(user=request.user, defaults={"frequency": frequency})
            messages.success(request, f"Digest e-mails: {WatchSettings.Frequency(frequency).label.lower()}.")
        return redirect("watch:list")


@method_decorator(csrf_exempt, name="dispatch")  # RFC 8058 one-click POSTs come from mail clients
class UnsubscribeView(View):
    """A signed link that needs no sign-in; GET asks, POST unsubscribes (mail scanners only GET)."""

    template_name = "profiles/unsubscribe.html"

    def _user(self, token):
        try:
            return watch.user_from_unsubscribe_token(token), None
        except signing.SignatureExpired:
            return None, "This unsubscribe link has expired. Sign in and change your digest choice on your watchlist."
        except (signing.BadSignature, LookupError, ValueError, TypeError):
            return None, "This unsubscribe link is not valid. Sign in and change your digest choice on your watchlist."

    def get(self, request, token):
        user, error = self._user(token)
        return render(request, self.template_name, {"error": error, "token": token}, status=400 if error else 200)

    def post(self, request, token):
        user, error = self._user(token)
        if error:
            return render(request, self.template_name, {"error": error, "token": token}, status=400)
        watch.unsubscribe(user)
        return render(request, self.template_name, {"done": True})
