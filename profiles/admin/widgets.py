"""The analyst's Markdown text box: a textarea with a live preview and a "Cite evidence" picker.

The preview is rendered by the server (`editor.py`), by the same sanitiser and citation resolver
readers get, so what the analyst sees is what readers will see; the browser only sends the text
(`profiles/static/profiles/admin_markdown.js`, no inline script or style: the admin's
Content-Security-Policy stays strict). Without JavaScript the box is a plain textarea.

Markdown fields are recognised by their model help text (`MARKDOWN_HELP`, written once in
`profiles.models.fields`); `MarkdownFieldsMixin.formfield_for_dbfield` puts this widget on each of
them, keeping the size the admin gave the box.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminTextareaWidget, AutocompleteSelect
from django.db import models
from django.urls import reverse
from django.utils.html import format_html

from ..models import MARKDOWN_HELP

#: Fields whose text readers see one item per line (key points, caveats): previewed as bullets.
LINES_HINT = "per line"

#: The admin's change view of a profile: its inlines' Markdown cites that profile's evidence.
PROFILE_CHANGE_URL_NAME = "profiles_institution_change"


def is_markdown_field(db_field) -> bool:
    return isinstance(db_field, models.TextField) and MARKDOWN_HELP in str(db_field.help_text or "")


class MarkdownTextarea(AdminTextareaWidget):
    """A Markdown textarea inside an editor block that names where to preview and what to cite.

    `profile` is the profile whose evidence the text cites, when the page knows it (a profile's
    own form and its inlines); `profile_field` names the form field that holds it instead (a
    child's own page, where the analyst picks the profile). Neither: a profile not saved yet.
    """

    class Media:
        css = {"all": ["profiles/admin_markdown.css"]}
        js = ["profiles/admin_markdown.js"]

    def __init__(self, attrs=None, *, profile=None, profile_field: str = "", lines: bool = False):
        super().__init__(attrs)
        self.profile = profile
        self.profile_field = profile_field
        self.lines = lines

    def render(self, name, value, attrs=None, renderer=None):
        textarea = super().render(name, value, attrs, renderer)
        return format_html(
            '<div class="md-editor" data-preview-url="{}" data-evidence-url="{}" data-profile="{}" '
            'data-profile-field="{}" data-mode="{}">'
            '<div class="md-editor__toolbar">'
            '<button type="button" class="button md-editor__cite" aria-haspopup="dialog">Cite evidence</button>'
            "</div>{}"
            '<div class="md-editor__preview" aria-live="polite">'
            '<p class="md-editor__hint">Preview: click into the text or type; it shows what readers will see.</p>'
            "</div></div>",
            reverse("admin:profiles_evidenceitem_preview"),
            reverse("admin:profiles_evidenceitem_citable"),
            self.profile or "",
            self.profile_field,
            "lines" if self.lines else "text",
            textarea,
        )


def profile_in_url(request) -> str:
    """The profile whose change form this request shows (its inlines included), or ""."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.url_name != PROFILE_CHANGE_URL_NAME:
        return ""
    object_id = str(match.kwargs.get("object_id", ""))
    return object_id if object_id.isdigit() else ""


class MarkdownFieldsMixin:
    """Every Markdown field of an admin form or inline gets the previewing, citing text box.

    A child's own page names the field that holds its profile (`parent_field`); a profile's form
    and its inlines take the profile from the page's address.
    """

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is None or not is_markdown_field(db_field):
            return field
        on_own_page = getattr(self, "parent_field", None) and not hasattr(self, "parent_model")
        field.widget = MarkdownTextarea(
            attrs=field.widget.attrs,
            profile="" if on_own_page else profile_in_url(request),
            profile_field=self.parent_field if on_own_page else "",
            lines=LINES_HINT in str(db_field.help_text).lower(),
        )
        field.widget.is_required = field.required
        return field


# --- inputs with a name screen readers can announce ------------------------------------------------


class AccessibleNamesMixin:
    """Names (`aria-label`) for the inputs the admin shows without a <label> of their own: the date
    and the time box of a split date-time field, and — in a table row of a tabular inline, where
    the column heading is the only label — every input, named by its column. Without them
    axe-core finds unnamed inputs and selects on the profile's change form."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None:
            name_widget(field.widget, str(field.label or db_field.verbose_name),
                        every=isinstance(self, admin.TabularInline))
        return field


def name_widget(widget, name: str, *, every: bool) -> None:
    inner = getattr(widget, "widget", None)  # the admin wraps relation selects (add/change links)
    if inner is not None:
        name_widget(inner, name, every=every)
    if isinstance(widget, forms.MultiWidget):
        count = len(widget.widgets)
        parts = ["date", "time"] if count == 2 else [f"part {n}" for n in range(1, count + 1)]
        for part, subwidget in zip(parts, widget.widgets, strict=True):
            subwidget.attrs.setdefault("aria-label", f"{name}, {part}")
    elif every and inner is None:
        widget.attrs.setdefault("aria-label", name)


# --- inline rows at the cost of one query per column, not per row ----------------------------------


class PreloadedAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete select, labelling its selected option from objects loaded once for the
    whole inline (`preload_selected`) instead of one query per row; anything not preloaded (a row
    added in this submission) falls back to Django's own query."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: pk (as text) → object; shared by every row's copy of the widget (copies are shallow).
        self.preloaded: dict[str, object] = {}

    def optgroups(self, name, value, attr=None):
        selected = {str(v) for v in value if str(v) not in self.choices.field.empty_values}
        if not selected or not selected <= self.preloaded.keys():
            return super().optgroups(name, value, attr)
        options = []
        if not self.is_required and not self.allow_multiple_selected:
            options.append(self.create_option(name, "", "", False, 0))
        for key in sorted(selected):
            obj = self.preloaded[key]
            label = self.choices.field.label_from_instance(obj)
            options.append(self.create_option(name, obj.pk, label, selected, len(options)))
        return [(None, options, 0)]


def preload_selected(fields, rows) -> None:
    """Load, in one query per autocomplete column, the objects the inline's saved `rows` point at."""
    for field in fields.values():
        widget = getattr(field.widget, "widget", field.widget)  # inside the admin's "add/change" wrapper
        if isinstance(widget, PreloadedAutocompleteSelect):
            related = field.queryset.filter(pk__in=rows.values(widget.field.attname))
            widget.preloaded.update({str(obj.pk): obj for obj in related})
