"""What every profile admin shares: read-only edit history, changelists built for scale, compact
text boxes, and the citation warnings given after a save."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.widgets import AdminTextareaWidget
from django.core.exceptions import PermissionDenied
from django.db import models
from django.utils.html import format_html
from simple_history.admin import SimpleHistoryAdmin

from membership.models import Tier

from ..citations import citation_problems
from ..paginators import EstimatedCountPaginator

#: Shorter text boxes in inlines; URLs typed without a scheme become https:// ones.
COMPACT_TEXT = {
    models.TextField: {"widget": AdminTextareaWidget(attrs={"rows": 3})},
    models.URLField: {"assume_scheme": "https"},
}
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}

#: The empty choice of an optional tier gate: leaving it empty is what makes a row public.
PUBLIC_TIER_CHOICE = "Public (everyone)"


def tier_choice_options(db_field) -> dict:
    """The form field options of a `required_tier` gate: only members' tiers are offered, and
    "public" is said once — by the empty choice of an optional gate ("Public (everyone)"), never
    by both "---------" and a "Public" tier. A gate that must name a tier (briefings) keeps the
    plain empty choice, which the form refuses."""
    if db_field.name != "required_tier":
        return {}
    options = {"queryset": Tier.objects.members_only()}
    if db_field.null:
        options["empty_label"] = PUBLIC_TIER_CHOICE
    return options


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    """Edit history to read and compare. Reverting is off: it would bypass the optimistic lock
    and send reviewed content live without a moderator, so a revert POST is refused.

    Every profile changelist is also built for scale: no second "full result" COUNT, and an
    estimated count for a whole million-row table (profiles.paginators).
    """

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


def warn_about_citations(request, institution, texts) -> None:
    """Saving succeeds; the analyst is told which citations readers will never see, and why."""
    for problem in citation_problems(institution, texts):
        messages.warning(request, problem.message)


def cite_as(obj):
    """The marker an analyst types in profile text to cite this evidence item."""
    if obj is None or obj.pk is None:
        return "— (save first: the marker needs the item's number)"
    return format_html("<code>[^ev:{}]</code>", obj.pk)
