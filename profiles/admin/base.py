"""What every profile admin shares: edit history people can read, compare and revert (through the
services), changelists built for scale, compact text boxes, and the citation warnings given after
a save."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.widgets import AdminTextareaWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import capfirst
from simple_history.admin import SimpleHistoryAdmin

from membership.models import Tier

from .. import history, publication, services
from ..citations import citation_problems
from ..models import Institution, ReviewState
from ..paginators import EstimatedCountPaginator
from .widgets import AccessibleNamesMixin, MarkdownFieldsMixin

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


#: The non-model field every change form with history carries.
REASON_FIELD = "change_reason"


def reason_field() -> forms.CharField:
    return forms.CharField(
        label="Reason for this change",
        required=False,
        max_length=history.REASON_MAX_LENGTH,
        widget=forms.TextInput(attrs={"class": "vTextField"}),
        help_text="Optional. Shown with this revision in the history, e.g. “Updated after the Q3 filing”.",
    )


class HistoryAdmin(AccessibleNamesMixin, MarkdownFieldsMixin, SimpleHistoryAdmin):
    """Edit history people can read (`profiles.history`): each revision with who, when, the reason
    given and a word-level diff; any two revisions compared; a revert that goes through the write
    services (the optimistic lock applies, reviewed content goes back to review). Every change form
    asks for an optional reason, kept with the revision it makes.

    Who sees what: the history and compare pages open for whoever may view the object (analysts:
    their profiles; moderators read); the revert page only for whoever may change it. simple-history's
    own revert (a POST to a revision's form) is refused: it skipped the lock and review.

    Every profile changelist is also built for scale: no second "full result" COUNT, and an
    estimated count for a whole million-row table (profiles.paginators).
    """

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    history_per_page = 50
    object_history_template = "admin/profiles/history/object_history.html"

    def revert_disabled(self, request, obj=None):
        return True  # simple-history's revert; ours is `history_revert_view`

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    # --- the reason for a change --------------------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        if "form" not in kwargs:
            readonly = self.get_readonly_fields(request, obj)
            attrs = dict.fromkeys(f for f in readonly if f in self.form.declared_fields)
            attrs[REASON_FIELD] = reason_field()
            kwargs["form"] = type(self.form.__name__, (self.form,), attrs)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        """The reason is the last field, beside the save buttons, for whoever may save this form."""
        fieldsets = [
            (name, {**opts, "fields": [f for f in opts["fields"] if f != REASON_FIELD]})
            for name, opts in super().get_fieldsets(request, obj)
        ]
        may_save = self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)
        if may_save and fieldsets:
            name, opts = fieldsets[-1]
            fieldsets[-1] = (name, {**opts, "fields": [*opts["fields"], REASON_FIELD]})
        return fieldsets

    def save_form(self, request, form, change):
        obj = super().save_form(request, form, change)
        unify_line_endings(obj)
        history.give_reason(obj, form.cleaned_data.get(REASON_FIELD, ""))
        return obj

    def save_related(self, request, form, formsets, change):
        """Inline rows saved with the form carry the same reason (and the same line endings)."""
        reason = form.cleaned_data.get(REASON_FIELD, "")
        for formset in formsets:
            for inline_form in formset.forms:
                if inline_form.has_changed():
                    unify_line_endings(inline_form.instance)
                    history.give_reason(inline_form.instance, reason)
        super().save_related(request, form, formsets, change)

    # --- pages ----------------------------------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/history/compare/",
                self.admin_site.admin_view(self.history_compare_view),
                name="{}_{}_history_compare".format(*info),
            ),
            path(
                "<path:object_id>/history/<int:version_id>/revert/",
                self.admin_site.admin_view(self.history_revert_view),
                name="{}_{}_history_revert".format(*info),
            ),
            *super().get_urls(),
        ]

    def history_object(self, request, object_id):
        """The object whose history `request` may read: live, or as last recorded once deleted."""
        obj = self.get_object(request, unquote(object_id))  # out of scope: 403 (OutOfScopeIs403)
        if obj is None:
            try:
                pk = self.opts.pk.to_python(unquote(object_id))
            except ValidationError as error:
                raise Http404 from error
            record = history.revisions_of(self.model, pk).first()
            if record is None:
                raise Http404
            obj = record.instance
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def may_revert(self, request, obj) -> bool:
        """Reverting is changing: the object must still exist and be the user's to change."""
        return obj is not None and obj._state.db is not None and self.has_change_permission(request, obj)

    def _history_context(self, request, obj, title, **extra):
        opts = self.opts
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "subtitle": None,
            "opts": opts,
            "app_label": opts.app_label,
            "module_name": capfirst(opts.verbose_name_plural),
            "object": obj,
            "exists": obj._state.db is not None,
            "history_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[quote(obj.pk)]),
            "compare_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_history_compare", args=[quote(obj.pk)]),
            **extra,
        }

    def history_view(self, request, object_id, extra_context=None):
        request.current_app = self.admin_site.name
        obj = self.history_object(request, object_id)
        page = history.revision_page(
            self.model, obj.pk, page=_page_number(request.GET.get("p")), per_page=self.history_per_page
        )
        context = self._history_context(
            request, obj, f"History: {obj}", page=page, may_revert=self.may_revert(request, obj),
            **(extra_context or {}),
        )
        return TemplateResponse(request, self.object_history_template, context)

    def history_compare_view(self, request, object_id):
        """Two revisions side by side, word by word (`?a=<id>&b=<id>`; by default the newest two)."""
        request.current_app = self.admin_site.name
        obj = self.history_object(request, object_id)
        chosen = [_int_or_none(request.GET.get(key)) for key in ("a", "b")]
        if None in chosen:
            chosen = list(history.revisions_of(self.model, obj.pk).values_list("history_id", flat=True)[:2])
        if len(chosen) < 2:
            comparison = None  # a single revision: nothing to compare yet
        elif chosen[0] == chosen[1]:
            self.message_user(request, "Choose two different revisions to compare.", messages.WARNING)
            return HttpResponseRedirect(_history_url(self.opts, obj))
        else:
            comparison = history.compare(self.model, obj.pk, *chosen)
            if comparison is None:
                raise Http404("These are not revisions of this object.")
        context = self._history_context(
            request, obj, f"Compare revisions: {obj}", comparison=comparison,
            may_revert=self.may_revert(request, obj),
        )
        return TemplateResponse(request, "admin/profiles/history/compare.html", context)

    def history_revert_view(self, request, object_id, version_id):
        """Confirm, then revert through the services; a stale page or an invalid result saves nothing."""
        request.current_app = self.admin_site.name
        obj = self.get_object(request, unquote(object_id))  # out of scope: 403 (OutOfScopeIs403)
        if obj is None:
            raise Http404
        if not self.may_revert(request, obj):
            raise PermissionDenied("Only editors of this profile revert its history.")
        revision = history.revisions_of(self.model, obj.pk).filter(history_id=version_id).first()
        if revision is None:
            raise Http404
        errors = []
        if request.method == "POST":
            try:
                reverted = services.revert_to_revision(
                    revision=revision,
                    user=request.user,
                    seen_revision_id=_int_or_none(request.POST.get("seen_revision")) or 0,
                    form_version=_int_or_none(request.POST.get("form_version")),
                )
            except (services.StaleEdit, services.StaleRevision) as refusal:
                errors = [refusal.message]
                obj = self.get_object(request, unquote(object_id))
            except ValidationError as invalid:
                errors = invalid.messages
            else:
                return self._after_revert(request, reverted, revision)
        return TemplateResponse(
            request,
            "admin/profiles/history/revert.html",
            self._revert_context(request, obj, revision, errors),
        )

    def _revert_context(self, request, obj, revision, errors):
        latest = history.latest_revision(obj)
        fields = services.revertible_fields(self.model)
        names = {f.name for f in fields}
        changes = history.changes_between(self.model, obj, revision, only=names)
        kept = [str(f.verbose_name) for f in history.content_fields(self.model) if f.name not in names]
        return self._history_context(
            request, obj, f"Revert: {obj}",
            revision=history.Revision(revision, number=0),
            changes=changes,
            kept=kept,
            reviewed=hasattr(self.model, "review_owner_field"),
            seen_revision=latest.history_id if latest else 0,
            form_version=getattr(obj, "version", None) if isinstance(obj, Institution) else None,
            errors=errors,
        )

    def _after_revert(self, request, obj, revision):
        label = history.revision_label(revision)
        if hasattr(obj, "review_state") and obj.review_state == ReviewState.SUBMITTED:
            self.message_user(request, f"Reverted to the {label}. It is back in review: readers see it once a "
                              "moderator approves it.", messages.SUCCESS)
        else:
            self.message_user(request, f"Reverted to the {label}.", messages.SUCCESS)
        if isinstance(obj, Institution):
            warn_about_citations(request, obj, publication.cited_texts(obj))
        return HttpResponseRedirect(_history_url(self.opts, obj))


def unify_line_endings(obj) -> None:
    """Browsers post a textarea's line breaks as \\r\\n; text is stored with \\n, so a save that
    changes nothing differs in nothing (history, the public "last updated" date)."""
    for field in obj._meta.concrete_fields:
        if isinstance(field, (models.CharField, models.TextField)):
            value = getattr(obj, field.attname)
            if isinstance(value, str) and "\r" in value:
                setattr(obj, field.attname, history.unify_newlines(value))


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _page_number(value) -> int:
    return _int_or_none(value) or 1


def _history_url(opts, obj) -> str:
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[quote(obj.pk)])


def warn_about_citations(request, institution, texts) -> None:
    """Saving succeeds; the analyst is told which citations readers will never see, and why."""
    for problem in citation_problems(institution, texts):
        messages.warning(request, problem.message)


def cite_as(obj):
    """The marker an analyst types in profile text to cite this evidence item."""
    if obj is None or obj.pk is None:
        return "— (save first: the marker needs the item's number)"
    return format_html("<code>[^ev:{}]</code>", obj.pk)
