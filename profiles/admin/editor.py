"""The Markdown editor's two admin endpoints, used by `widgets.MarkdownTextarea`'s script:

- `evidenceitem/editor/preview/?profile=ID` (POST `text`, `mode`): the text rendered as readers
  will see it — the same Markdown renderer, sanitiser and citation resolver as the profile page —
  with the profile's pending evidence cited and marked "pending review" (staff only see that),
  its sources in citation order, and the citations readers will never see, with the reason.
- `evidenceitem/editor/citable/?profile=ID` (GET): the profile's evidence as JSON (title,
  publisher, review state, the marker to insert), for the "Cite evidence" picker.

Both answer staff who may see the profile in the admin (`scope.can_see`: its analysts, leads,
its moderators, superusers): anyone else gets 403, an unknown profile 404. Without a profile (a
profile not saved yet) the preview still renders, citing nothing. The URLs hang off the evidence
admin (`EditorEndpoints.get_urls`): what they list and resolve is evidence.
"""

from __future__ import annotations

import re

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.template.loader import render_to_string
from django.urls import path
from django.utils.safestring import mark_safe

from ..citations import CitationContext, citation_problems
from ..markdown import render_markdown, render_markdown_inline, split_lines
from ..models import EvidenceItem, Institution, ReviewState
from .scope import scope_of

STATE_LABELS = {ReviewState.SUBMITTED: "pending review"}
#: A preview of more text than any profile field holds is refused, not rendered.
MAX_PREVIEW_CHARS = 100_000
#: The picker lists at most this many items (a profile has tens).
MAX_CITABLE = 1000

_RENDERED_CITATION = re.compile(r'<sup class="citation"><a href="#evidence-(\d+)"[^>]*>\[\d+\]</a></sup>')


def state_label(state: str) -> str:
    return STATE_LABELS.get(state) or ReviewState(state).label.lower()


def requested_profile(request) -> Institution | None:
    """The profile named by `?profile=`, if this staff member may see it in the admin (else 403)."""
    raw = request.GET.get("profile", "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise Http404("No such profile.")
    profile = Institution.objects.filter(pk=int(raw)).first()
    if profile is None:
        raise Http404("No such profile.")
    if not scope_of(request).can_see(profile):
        raise PermissionDenied("This profile is not assigned to you.")
    return profile


def mark_pending(html: str, pending: set[int]) -> str:
    """After each rendered citation of evidence awaiting review, say so (staff previews only)."""
    if not pending:
        return html

    def marked(match):
        if int(match.group(1)) not in pending:
            return match.group(0)
        return f'{match.group(0)}<span class="md-pending">pending review</span>'

    return _RENDERED_CITATION.sub(marked, html)


def render_preview(text: str, profile: Institution | None, *, lines: bool = False) -> str:
    """The preview fragment: the rendered text, its sources, and citations readers will not see."""
    items = list(EvidenceItem.objects.previewed().filter(institution=profile)) if profile else []
    citations = CitationContext(items)
    if lines:
        points = [render_markdown_inline(line, citations) for line in split_lines(text)]
        html = render_to_string("admin/profiles/markdown_preview_lines.html", {"points": points}).strip()
    else:
        html = str(render_markdown(text, citations))
    pending = {item.pk for item in items if item.review_state == ReviewState.SUBMITTED}
    problems = citation_problems(profile, [("this text", text)]) if profile else []
    return render_to_string(
        "admin/profiles/markdown_preview.html",
        {
            "body": mark_safe(mark_pending(html, pending)),  # noqa: S308 - sanitised render + our own span
            "sources": [
                {"number": c.number, "item": c.item, "pending": c.pk in pending} for c in citations.cited
            ],
            "problems": problems,
            "unsaved_profile": profile is None and "[^ev:" in text,
        },
    )


def markdown_preview(request):
    profile = requested_profile(request)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    text = request.POST.get("text", "")
    if len(text) > MAX_PREVIEW_CHARS:
        return HttpResponse(
            f"Too long to preview (over {MAX_PREVIEW_CHARS:,} characters).", status=413, content_type="text/plain"
        )
    return HttpResponse(render_preview(text, profile, lines=request.POST.get("mode") == "lines"))


def citable_evidence(request):
    profile = requested_profile(request)
    if profile is None:
        return JsonResponse({"profile": None, "items": []})
    rows = (
        EvidenceItem.objects.filter(institution=profile)
        .order_by("-source_date", "pk")
        .values("pk", "title", "publisher", "source_date", "review_state")[:MAX_CITABLE]
    )
    return JsonResponse({
        "profile": profile.pk,
        "items": [
            {
                "id": row["pk"],
                "title": row["title"],
                "publisher": row["publisher"],
                "source_date": row["source_date"].isoformat() if row["source_date"] else "",
                "state": row["review_state"],
                "state_label": state_label(row["review_state"]),
                "marker": f"[^ev:{row['pk']}]",
            }
            for row in rows
        ],
    })


class EditorEndpoints:
    """Adds the editor's endpoints to the evidence admin's URLs (`admin:profiles_evidenceitem_preview`,
    `admin:profiles_evidenceitem_citable`), behind the admin's sign-in, MFA and CSRF checks."""

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("editor/preview/", self.admin_site.admin_view(markdown_preview), name="{}_{}_preview".format(*info)),
            path("editor/citable/", self.admin_site.admin_view(citable_evidence), name="{}_{}_citable".format(*info)),
            *super().get_urls(),
        ]
