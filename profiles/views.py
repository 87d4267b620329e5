"""Public reader pages: home, directory, profile, relationship map; plus health and error pages."""

import logging
import uuid
from functools import cached_property

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import requires_csrf_token
from django.views.generic import DetailView, ListView, TemplateView

import siteurl
from membership.gating import reader_for_request
from membership.models import Tier

from . import as_of, directory, facets, graph, profile_page, profile_parts, search, structured_data
from .connections import connections_for, page_number
from .follow_control import follow_control, render_follow_control
from .map_drawing import map_drawing
from .models import Institution, Sector

logger = logging.getLogger(__name__)


class ReaderMixin:
    @cached_property
    def reader(self):
        return reader_for_request(self.request)


class ProfileQuerysetMixin(ReaderMixin):
    """Readers reach published profiles only; staff may also open drafts, scheduled and archived
    profiles to preview them (the page then says so)."""

    staff_preview = True

    @property
    def previews(self) -> bool:
        return self.staff_preview and self.reader.is_staff

    def get_queryset(self):
        # The stored search vector is for the database's own use: no page needs it in memory.
        queryset = Institution.objects.defer("search_vector")
        return queryset if self.previews else queryset.published()

    def may_open(self, institution) -> bool:
        """The same rule as `get_queryset`, for a profile already in hand (read from a cache)."""
        return self.previews or institution.is_published()


class HomeView(ProfileQuerysetMixin, TemplateView):
    template_name = "home.html"
    staff_preview = False

    def get_context_data(self, **kwargs):
        recent = list(self.get_queryset().recently_updated().for_listing()[: directory.HOME_RECENT_COUNT])
        directory.attach_sectors(recent, Sector.objects.all())
        return super().get_context_data(
            recent_profiles=recent,
            tiers=Tier.objects.all(),
            canonical_url=siteurl.absolute(reverse("home")),
            site_name=settings.SITE_NAME,
            **kwargs,
        )


class DirectoryView(ProfileQuerysetMixin, ListView):
    """Published profiles narrowed by GET filters that never fail: most relevant first for a text
    query (on PostgreSQL), newest update first otherwise."""

    template_name = "profiles/institution_list.html"
    context_object_name = "profiles"
    paginate_by = directory.DIRECTORY_PAGE_SIZE
    staff_preview = False

    @cached_property
    def sectors(self):
        return list(Sector.objects.all())

    @cached_property
    def filters(self):
        return directory.directory_filters(self.request.GET, self.sectors)

    @cached_property
    def searched(self):
        """Published profiles matching the text query: the base both the results and the facet counts use."""
        return directory.search_directory(super().get_queryset(), self.filters.get("q"))

    @cached_property
    def ranked_listing(self):
        """A ranked text query's count, first ids and facet counts, from one pass (None otherwise)."""
        return directory.ranked_listing(self.filters, self.sectors)

    def get_queryset(self):
        queryset = facets.apply_filters(self.searched, self.filters)
        return directory.order_results(queryset, self.filters.get("q"))

    def paginate_queryset(self, queryset, page_size):
        """A malformed page number shows the first page, one past the end the last: never an error.
        The count and the order of a query's first pages come from a cache (`directory.directory_results`)."""
        paginator = Paginator(directory.directory_results(queryset, self.filters, self.ranked_listing), page_size)
        page = paginator.get_page(self.request.GET.get(self.page_kwarg))
        page.object_list = list(page.object_list)
        directory.attach_snippets(page.object_list, self.filters.get("q"))
        directory.attach_sectors(page.object_list, self.sectors)
        return paginator, page, page.object_list, page.has_other_pages()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        listing = self.ranked_listing
        counts = listing.counts if listing else facets.facet_counts(self.searched, self.filters)
        query = self.filters.get("q", "")
        context["filter_fields"] = directory.filter_fields(self.filters, counts, self.sectors)
        context["query"] = query
        context["filters_active"] = bool(self.filters)
        context["facet_filters_active"] = any(name != "q" for name in self.filters)
        context["ranked"] = bool(query) and search.is_full_text()
        context["canonical_url"] = directory.directory_canonical_url(self.filters, context["page_obj"].number)
        context["noindex"] = bool(query)  # result pages of free text are not for search engines
        context["site_name"] = settings.SITE_NAME
        return context


class InstitutionDetailView(ProfileQuerysetMixin, DetailView):
    template_name = "profiles/institution_detail.html"
    context_object_name = "institution"

    def dispatch(self, request, *args, **kwargs):
        if as_of.PARAM in request.GET:
            return InstitutionAsOfView.as_view()(request, *args, **kwargs)
        return super().dispatch(request, *args, **kwargs)

    def get_object(self, queryset=None):
        """The profile's row and this reader's parts from the cache in one round trip; the row from the
        database (then cached for everyone) on a miss. Who may open it is decided here either way,
        by the same rule."""
        self.cached = profile_parts.lookup(self.kwargs["slug"], self.reader, self.request)
        institution = self.cached.institution
        if institution is None:
            institution = super().get_object(Institution.objects.defer("search_vector"))
            self.cached.remember(institution)
        if not self.may_open(institution):
            raise Http404("No profile here")
        return institution

    def get(self, request, *args, **kwargs):
        """The page from this reader variant's cached whole page when there is one (only the follow
        control and the CSRF token are per request), else rendered, then kept for the next reader."""
        self.object = self.get_object()
        follow = follow_control(self.reader, self.object, self.cached)
        follow_html = render_follow_control(follow, self.object)
        shell = self.cached.shell
        if shell is None or profile_parts.pending_messages(request):
            context = self.get_context_data(object=self.object)
            shell = profile_parts.render_page(self.cached, self.template_name, context, request)
        return HttpResponse(profile_parts.fill(shell, request, follow_html))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        institution, reader = self.object, self.reader
        preview = profile_page.staff_preview(institution, reader)
        context["preview"] = preview
        context["parts"] = profile_parts.render_parts(self.cached, institution, reader, self.request, preview=preview)
        context["page_title"] = structured_data.page_title(institution, site_name=settings.SITE_NAME)
        context["canonical_url"] = siteurl.absolute(institution.get_absolute_url())
        return context


class InstitutionAsOfView(ProfileQuerysetMixin, DetailView):
    """`/profiles/<slug>/?as_of=YYYY-MM-DD`: the public layer as this reader could have read it at the
    end of that day (`profiles.as_of`), under a banner, with the live page's section templates.

    Rendered afresh on every request and marked private: never from or into the page cache (`as_of`
    is one of its bypass parameters) nor the fragment cache, whose entries hold the live profile.
    A profile not published now is 404 for staff too: this is the public layer's past, not a preview.
    """

    template_name = "profiles/as_of.html"
    context_object_name = "institution"
    staff_preview = False

    def get(self, request, *args, **kwargs):
        try:
            self.day = as_of.parse_as_of(request.GET.get(as_of.PARAM, ""))
        except ValueError as error:
            response = render(request, "profiles/as_of_invalid.html", {"message": str(error)}, status=400)
        else:
            self.object = self.get_object()
            self.snapshot = as_of.profile_as_of(self.object, self.day, self.reader)
            if self.snapshot is None:
                raise Http404("No profile here on that day")
            response = self.render_to_response(self.get_context_data(object=self.object))
        patch_cache_control(response, private=True)
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        snapshot = self.snapshot
        context.update(
            institution=snapshot.institution,
            page=snapshot.page,
            retracted=snapshot.retracted,
            day=self.day,
            is_public=True,
            live_url=self.object.get_absolute_url(),
            canonical_url=siteurl.absolute(self.object.get_absolute_url()),
            noindex=True,
            site_name=settings.SITE_NAME,
        )
        return context


class InstitutionMapView(ProfileQuerysetMixin, DetailView):
    """The relationship map of one institution: approved ties up to two hops, drawn as an inline SVG
    (server-side, no script) and listed as a table. Every direct tie is listed too, a page at a time
    (`?page=`), when the drawing had to leave some out, and while staff preview a profile that is not
    public yet."""

    template_name = "profiles/institution_map.html"
    context_object_name = "institution"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        institution = self.object
        drawing = map_drawing(graph.neighbourhood(institution))
        context["map"] = drawing
        context["preview"] = profile_page.staff_preview(institution, self.reader)
        context["is_public"] = institution.is_published()
        address = reverse("profiles:map", args=[institution.slug])
        number = 1
        if drawing.graph.more.get(1) or not context["is_public"]:
            ties = connections_for(self.reader, institution, number=page_number(self.request.GET.get("page")))
            number = ties.page.number
            context["ties"] = ties.page
            context["outgoing"], context["incoming"] = ties.outgoing, ties.incoming
        context["canonical_url"] = siteurl.absolute(address + (f"?page={number}" if number > 1 else ""))
        return context


def _database_ok() -> bool:
    """Whether the database answers now. A kept connection the server has since ended (a restart, a
    failover, an administrator) is not the database failing: it is closed and the check made once more on
    a new one. Pages answered by the WSGI fast path touch no connection, so the health check may be the
    first request to meet such a connection (tests/test_faults.py)."""
    for last_try in (False, True):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                return cursor.fetchone() == (1,)
        except Exception:
            if last_try or connection.in_atomic_block:
                logger.warning("healthz: database check failed", exc_info=True)
                return False
            connection.close()
    return False


def _cache_ok() -> bool:
    key = f"healthz:{uuid.uuid4().hex}"
    try:
        cache.set(key, "ok", timeout=10)
        ok = cache.get(key) == "ok"
        cache.delete(key)
        return ok
    except Exception:
        logger.warning("healthz: cache check failed", exc_info=True)
        return False


@never_cache
def healthz(request):
    """For load balancers: 200 when the database and the cache both answer, else 503."""
    checks = {"database": _database_ok(), "cache": _cache_ok()}
    body = {name: "ok" if ok else "error" for name, ok in checks.items()}
    return JsonResponse(body, status=200 if all(checks.values()) else 503)


def page_not_found(request, exception):
    # The exception's message is never shown: it could name a draft the reader may not know of.
    return render(request, "404.html", status=404)


_PLAIN_500 = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Server error — BTW Profiles</title>'
    "</head><body><main><h1>Something went wrong</h1><p>Please try again in a moment. "
    '<a href="/">Return to the home page</a>.</p></main></body></html>'
)


@requires_csrf_token
def server_error(request):
    """Rendered without a request context (no database, no session): whatever broke stays broken."""
    try:
        return HttpResponseServerError(loader.get_template("500.html").render())
    except Exception:
        logger.exception("500 template failed to render")
        return HttpResponse(_PLAIN_500, status=500)
