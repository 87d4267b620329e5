"""Where dumps are fetched: `/data/` (the public tier's newest dump, a page and its files) and
`/api/v1/dumps/` (the newest dump of the caller's own tier, for members with a token).

A file is served only when the newest or a kept dump's manifest lists it by name; paths are never
built from what the request says beyond matching those names.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.http import FileResponse, Http404
from django.urls import reverse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.views.generic import TemplateView
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

import siteurl
from membership.gating import Reader
from membership.models import Tier

from . import dumps
from .views import CachingHeadersMixin, ReaderMixin


def reader_tier(reader) -> Tier:
    """The highest tier the reader reaches: the dump written for exactly what they read."""
    return Tier.objects.filter(level__lte=reader.level).order_by("-level").first()


def public_tier() -> Tier:
    return reader_tier(Reader(user=AnonymousUser()))


def _dump_named(tier_slug: str, stamp: str) -> dumps.Dump | None:
    newest = dumps.latest(tier_slug)
    if newest is not None and newest.directory.name == stamp:
        return newest
    return None


def _file_response(dump: dumps.Dump | None, name: str, *, public: bool) -> FileResponse:
    path = dumps.file_of(dump, name) if dump else None
    if path is None or not path.is_file():
        raise Http404("No such file in this dump")
    kind = {"jsonl": "application/jsonl", "csv": "text/csv", "json": "application/json"}[path.suffix[1:]]
    response = FileResponse(path.open("rb"), content_type=f"{kind}; charset=utf-8", as_attachment=True,
                            filename=f"btw-{dump.tier}-{dump.directory.name}-{name}")
    if public:
        patch_cache_control(response, public=True, max_age=3600)  # a dump's files never change
    else:
        patch_cache_control(response, private=True, max_age=0)
    return response


class DataPageView(TemplateView):
    """The public dump: what it holds, when it was made, and each file to download."""

    template_name = "api/data.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        dump = dumps.latest(public_tier().slug)
        context["dump"] = dump
        if dump:
            context["files"] = [
                {**entry, "url": reverse("data_file", args=[dump.directory.name, entry["name"]])}
                for entry in dump.files
            ]
            context["manifest_url"] = reverse("data_file", args=[dump.directory.name, "manifest.json"])
        return context


    def render_to_response(self, context, **response_kwargs):
        # Not page-cached: a new dump changes no content version. The page is a file read anyway.
        response = super().render_to_response(context, **response_kwargs)
        if self.request.user.is_authenticated:  # the header names who is signed in
            patch_cache_control(response, private=True, max_age=0)
        else:
            patch_cache_control(response, public=True, max_age=60)
        patch_vary_headers(response, ["Cookie"])
        return response


data_page = DataPageView.as_view()


def data_file(request, stamp: str, name: str):
    return _file_response(_dump_named(public_tier().slug, stamp), name, public=True)


class DumpManifestView(CachingHeadersMixin, APIView):
    """The newest dump of your tier: its manifest, with a download address per file."""

    @extend_schema(
        summary="The newest bulk dump of your tier",
        operation_id="dumps_latest",
        responses={
            200: inline_serializer("DumpManifest", {
                "tier": serializers.CharField(),
                "generated_at": serializers.DateTimeField(),
                "since": serializers.CharField(allow_null=True),
                "cursor": serializers.CharField(help_text="Read /api/v1/changes/?since= from here."),
                "files": serializers.ListField(child=serializers.DictField()),
            }),
            404: OpenApiResponse(description="No dump of your tier has been written yet"),
        },
    )
    def get(self, request):
        tier = reader_tier(self.reader)
        dump = dumps.latest(tier.slug)
        if dump is None:
            raise Http404("No dump of your tier yet")
        manifest = dict(dump.manifest)
        manifest["files"] = [
            {**entry, "url": siteurl.absolute(reverse("api:dump-file", args=[dump.directory.name, entry["name"]]))}
            for entry in dump.files
        ]
        return Response(manifest)



class DumpFileView(ReaderMixin, APIView):
    """One file of your tier's newest dump, as its manifest names it: JSON Lines, CSV, or the manifest."""

    @extend_schema(summary="One file of your tier's newest dump", operation_id="dumps_file",
                   responses={(200, "application/jsonl"): OpenApiResponse(OpenApiTypes.BINARY, description="A file"),
                              (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="A file"),
                              (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="A file"),
                              404: OpenApiResponse(description="No such file in your tier's newest dump")})
    def get(self, request, stamp: str, name: str):
        tier = reader_tier(self.reader)
        return _file_response(_dump_named(tier.slug, stamp), name, public=not self.reader.is_authenticated)
