from django.http import JsonResponse
from django.views.generic import DetailView, ListView, TemplateView

from .models import Institution


class HomeView(TemplateView):
    template_name = "home.html"


class DirectoryView(ListView):
    model = Institution


class InstitutionDetailView(DetailView):
    model = Institution


def healthz(request):
    return JsonResponse({"ok": True})


def page_not_found(request, exception):
    from django.views.defaults import page_not_found as default

    return default(request, exception)


def server_error(request):
    from django.views.defaults import server_error as default

    return default(request)
