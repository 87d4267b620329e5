"""The admin's "Import and export" pages (issue 14): upload a CSV or JSON file of institutions,
evidence or relationships, read its dry-run preview row by row, confirm; or download what you work on.

- Import (`admin:profiles_bulk_import`): analysts, lead analysts and superusers (`bulk.importing.
  may_import`); moderators decide, they do not write text. The preview is a dry run of the whole
  file; the uploaded bytes wait server-side under a token (`bulk.pending`), and "Import" re-runs
  the same bytes for real, re-validating every row: all rows are saved or none.
- Export (`admin:profiles_bulk_export`): every staff member, scoped to the profiles they work on.

These pages belong to no model, so they join the admin site's own URLs (the same admin site, its
login, MFA and CSRF checks through `admin_view`); tests/test_admin_permission_matrix.py reads them
from `admin.site.get_urls()` like every other admin page.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from ..bulk import pending
from ..bulk.exporting import CONTENT_TYPES, export_file, filename_for
from ..bulk.importing import (
    ADMIN_MAX_ROWS,
    FORMATS,
    MAX_BYTES,
    BulkInputError,
    format_of,
    may_import,
    run_import,
)

KIND_CHOICES = [
    ("institutions", "Institutions (profiles)"),
    ("evidence", "Evidence items"),
    ("relationships", "Relationships"),
]
FORMAT_CHOICES = [(fmt, fmt.upper()) for fmt in FORMATS]


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label="What the file holds", choices=KIND_CHOICES)
    file = forms.FileField(
        help_text=(
            "CSV (a header line, then one row per line) or JSON (a list of objects), UTF-8, at most "
            f"{MAX_BYTES // (1024 * 1024)} MB and {ADMIN_MAX_ROWS:,} rows. Start from an export: it has every "
            "column the import reads."
        )
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it.")
        try:
            self.fmt = format_of(upload.name)
        except BulkInputError as error:
            raise forms.ValidationError(str(error)) from None
        return upload


class ExportForm(forms.Form):
    kind = forms.ChoiceField(label="What to export", choices=KIND_CHOICES)
    format = forms.ChoiceField(choices=FORMAT_CHOICES, initial="csv")


def _page(request, template, title, **context):
    return TemplateResponse(
        request,
        f"admin/profiles/bulk/{template}",
        {**admin.site.each_context(request), "title": title, "may_import": may_import(request.user), **context},
    )


def import_view(request):
    """Upload → dry-run preview → confirm (the same bytes, again validated) → saved or nothing."""
    if not may_import(request.user):
        raise PermissionDenied("Importing is for analysts and lead analysts; moderators decide, they do not write.")
    if request.method == "POST" and request.POST.get("token"):
        return _confirm(request, request.POST["token"])
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        kind = form.cleaned_data["kind"]
        content = upload.read()
        try:
            report = run_import(
                kind=kind, content=content, fmt=form.fmt, user=request.user, dry_run=True, max_rows=ADMIN_MAX_ROWS
            )
        except BulkInputError as error:
            form.add_error("file", str(error))
        else:
            token = ""
            if report.ok:
                token = pending.keep(
                    pending.Upload(user_id=request.user.pk, kind=kind, fmt=form.fmt, filename=upload.name,
                                   content=content)
                )
            return _page(request, "preview.html", f"Preview: {upload.name}", report=report, token=token,
                         filename=upload.name, form=ImportForm(initial={"kind": kind}))
    return _page(request, "import.html", "Import from CSV or JSON", form=form)


def _confirm(request, token):
    upload = pending.find(token, request.user)
    if upload is None:
        messages.error(request, "That upload is no longer kept (an hour at most): upload the file again.")
        return redirect("admin:profiles_bulk_import")
    try:
        report = run_import(kind=upload.kind, content=upload.content, fmt=upload.fmt, user=request.user,
                            dry_run=False, max_rows=ADMIN_MAX_ROWS)
    except BulkInputError as error:
        messages.error(request, str(error))
        return redirect("admin:profiles_bulk_import")
    pending.discard(token)
    if report.saved:
        review = " New and changed items await a moderator's review." if upload.kind != "institutions" else ""
        messages.success(request, f"Imported {upload.filename}: {report.summary}{review}")
        return redirect("admin:profiles_bulk_import")
    # Something changed since the preview (a colleague's edit, a lost assignment): nothing was saved.
    return _page(request, "preview.html", f"Not imported: {upload.filename}", report=report, token="",
                 filename=upload.filename, form=ImportForm(initial={"kind": upload.kind}))


def export_view(request):
    """The export form; with `kind` and `format` in the query, the file itself."""
    form = ExportForm(request.GET if "kind" in request.GET else None)
    if form.is_bound and form.is_valid():
        kind, fmt = form.cleaned_data["kind"], form.cleaned_data["format"]
        response = HttpResponse(export_file(kind=kind, fmt=fmt, user=request.user), content_type=CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{filename_for(kind, fmt, timezone.localdate())}"'
        return response
    return _page(request, "export.html", "Import and export", form=form)


def bulk_urls():
    return [
        path("profiles/bulk/", admin.site.admin_view(export_view), name="profiles_bulk_export"),
        path("profiles/bulk/import/", admin.site.admin_view(import_view), name="profiles_bulk_import"),
    ]


_site_get_urls = admin.site.get_urls


def _get_urls():
    """The admin site's URLs with these two pages first (before the admin's catch-all)."""
    return bulk_urls() + _site_get_urls()


admin.site.get_urls = _get_urls
