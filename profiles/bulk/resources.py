"""What a file of institutions, evidence or relationships holds, column by column, and how each
row is saved: django-import-export reads the rows, compares them with the database and rolls a
dry run back; every save goes through the admin's services (`services.save_institution`,
`services.save_reviewed_item`), never the library's own `save()`, so the optimistic lock, the
review workflow, history, the audit log and cache bumps happen exactly as for an edit in the admin.

Rules a row must keep (each broken one is a field error on that row):

- The staff member may change the profile it touches (`permissions.editable_institutions`):
  analysts their assigned profiles, lead analysts every one. A new profile is assigned to its importer.
- Import never publishes or unpublishes: a new profile is a draft, an existing one keeps its status.
  A `status` cell must be empty or say the status the profile already has, so the publication
  guard can never be skipped by a file (publish in the profile's form, where the checklist is).
- A `version` cell (exports carry one) must still be the profile's version: the optimistic lock.
- Evidence and relationships enter review as submitted; `review_state` cells are ignored. An
  unchanged row is left as it is (an approved item stays approved); a changed one goes back to review.

Every reference (a profile's slug, a tier, a sector, an evidence number) is looked up once per
file, in one query per kind, so the queries a row costs do not grow with the file.
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db.models import NOT_PROVIDED
from import_export import fields, resources, widgets
from import_export.instance_loaders import BaseInstanceLoader

from membership.models import Tier

from .. import history, permissions, publication, services
from ..models import EvidenceItem, Institution, Relationship, Sector

DATE_FORMAT = "%Y-%m-%d"
IMPORT_REASON = "Imported from a file"


# --- references resolved from one table per file --------------------------------------------------


def cell(value) -> str:
    """A cell as text: CSV gives strings, JSON may give numbers or null."""
    return "" if value is None else str(value).strip()


class LookupWidget(widgets.Widget):
    """A reference by its natural key (a profile's slug, a tier's slug, an evidence item's number),
    resolved from `table`, which the resource fills once per file."""

    def __init__(self, noun: str, key: str = "slug"):
        super().__init__()
        self.noun = noun
        self.key = key
        self.table: dict[str, object] = {}

    def clean(self, value, row=None, **kwargs):
        value = cell(value)
        if not value:
            return None
        try:
            return self.table[value]
        except KeyError:
            raise ValueError(f"No {self.noun} “{value}”.") from None

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(getattr(value, self.key))


class SectorsWidget(widgets.ManyToManyWidget):
    """Sectors as comma-separated slugs; an unknown slug is an error, not silently dropped."""

    def __init__(self):
        super().__init__(Sector, separator=",", field="slug")
        self.table: dict[str, Sector] = {}

    def clean(self, value, row=None, **kwargs):
        slugs = [part.strip() for part in cell(value).split(",") if part.strip()]
        unknown = [slug for slug in slugs if slug not in self.table]
        if unknown:
            raise ValueError("No sector " + ", ".join(f"“{slug}”" for slug in unknown) + ".")
        return [self.table[slug] for slug in dict.fromkeys(slugs)]

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else ",".join(sector.slug for sector in value.all())


class PrefetchedLoader(BaseInstanceLoader):
    """The existing rows a file names, fetched in one query (`resource.existing_instances`)."""

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        self.instances = resource.existing_instances(dataset)

    def get_instance(self, row):
        return self.instances.get(self.resource.instance_key(row))


def column_values(dataset, column: str) -> set[str]:
    if column not in (dataset.headers or ()):
        return set()
    return {cell(value) for value in dataset[column]} - {""}


def as_ids(values) -> set[int]:
    return {int(value) for value in values if value.isdigit()}


# --- the shared workflow ----------------------------------------------------------------------------


class BulkResource(resources.ModelResource):
    """One kind of row, imported by `user` through the services. Subclasses say how a row names an
    existing object (`instance_key`, `existing_instances`), what a row may not do
    (`row_problems`) and which service saves it (`save_through_service`)."""

    #: Columns that are exported but never imported.
    export_only: tuple[str, ...] = ()
    #: Columns without which no row can be matched or saved: refused for the whole file.
    required_columns: tuple[str, ...] = ()

    class Meta:
        skip_unchanged = True  # an unchanged row is reported "unchanged" and saved not at all
        report_skipped = True
        clean_model_instances = False  # the services run full_clean() before saving
        skip_html_diff = True  # the library's HTML diff carries inline styles (CSP)
        use_transactions = True
        instance_loader_class = PrefetchedLoader

    def __init__(self, *, user):
        super().__init__()
        self.user = user
        self.editable_ids: set[int] = set()
        self.changed: dict[int, list[str]] = {}  # row number → changed columns
        self._new = False  # the row being imported: new or existing (after_init_instance)
        self._changed_now: list[str] = []  # …and its changed columns (skip_row → after_import_row)

    # --- lookups, once per file

    def lookup(self, name: str) -> LookupWidget:
        return self.fields[name].widget

    def fill_institutions(self, dataset, *columns: str) -> None:
        slugs = set().union(*(column_values(dataset, column) for column in columns))
        rows = list(Institution.objects.filter(slug__in=slugs)) if slugs else []
        table = {institution.slug: institution for institution in rows}
        for column in columns:
            self.lookup(column).table = table
        if rows:
            named = Institution.objects.filter(pk__in=[institution.pk for institution in rows])
            editable = permissions.editable_institutions(self.user, named)
            self.editable_ids = set(editable.values_list("pk", flat=True))

    def fill_tiers(self, dataset, column: str) -> None:
        slugs = column_values(dataset, column)
        self.lookup(column).table = {t.slug: t for t in Tier.objects.filter(slug__in=slugs)} if slugs else {}

    # --- the library's hooks

    def after_init_instance(self, instance, new, row, **kwargs):
        self._new = new

    def import_instance(self, instance, row, **kwargs):
        errors: dict = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        for name, message in self.row_problems(instance, row, new=self._new).items():
            if name not in errors:
                errors[name] = [message]
        if errors:
            raise ValidationError(errors)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """A row that already has errors is checked in full, so it lists all of them at once; a clean
        row is validated by its service's full_clean() (once, not twice per row)."""
        errors = dict(import_validation_errors or {})
        if errors:
            try:
                instance.full_clean(exclude=list(errors), validate_unique=validate_unique)
            except ValidationError as error:
                errors = error.update_error_dict(errors)
            raise ValidationError(errors)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        skip = super().skip_row(instance, original, row, import_validation_errors)
        self._changed_now = [] if (skip or self._new) else self.changed_columns(instance, original, row)
        return skip

    def changed_columns(self, instance, original, row) -> list[str]:
        changed = []
        for field in self.get_import_fields():
            if field.column_name not in row:
                continue
            if isinstance(field.widget, widgets.ManyToManyWidget):
                try:
                    now = sorted(item.pk for item in field.clean(row))
                except ValueError:
                    continue
                if now != sorted(field.get_value(original).values_list("pk", flat=True)):
                    changed.append(field.column_name)
            elif field.get_value(instance) != field.get_value(original):
                changed.append(field.column_name)
        return changed

    def after_import_row(self, row, row_result, **kwargs):
        self.changed[kwargs["row_number"]] = self._changed_now
        self._changed_now = []

    def save_instance(self, instance, is_create, row, **kwargs):
        """Through the admin's services; their refusals become this row's field errors."""
        instance._history_user = self.user  # the admin's middleware sets it; a command has no request
        history.give_reason(instance, IMPORT_REASON)
        try:
            self.save_through_service(instance, is_create, row)
        except services.StaleEdit as stale:
            raise ValidationError({"version": stale.message}) from stale
        except publication.PublicationRefused as refused:
            raise ValidationError({"status": refused.message}) from refused
        except PermissionDenied as denied:
            raise ValidationError({NON_FIELD_ERRORS: str(denied)}) from denied

    def _check_import_id_fields(self, headers):
        """Missing key columns are checked before the import (`required_columns`): a file of new
        evidence has no `id` column, and that is fine."""

    def get_import_fields(self):
        return [field for field in super().get_import_fields() if field.column_name not in self.export_only]

    # --- what subclasses say

    def instance_key(self, row):
        raise NotImplementedError

    def existing_instances(self, dataset) -> dict:
        raise NotImplementedError

    def row_problems(self, instance, row, *, new: bool) -> dict[str, str]:
        return {}

    def save_through_service(self, instance, is_create, row) -> None:
        raise NotImplementedError

    def export_queryset(self):
        raise NotImplementedError

    def not_yours(self, institution) -> str:
        return f"“{institution.slug}” is not one of the profiles you edit: ask a lead analyst to assign it to you."


# --- institutions -----------------------------------------------------------------------------------


def model_default(model, name: str):
    """An empty cell of a field that may not be blank but has a default (a type, a kind, a horizon)
    takes that default, as an empty admin form would."""
    field = model._meta.get_field(name)
    return NOT_PROVIDED if field.blank else field.default


def text_field(name: str, model=None) -> fields.Field:
    default = model_default(model, name) if model else NOT_PROVIDED
    return fields.Field(attribute=name, column_name=name, widget=widgets.CharWidget(), default=default)


INSTITUTION_TEXT = (
    "name", "type", "base_region", "profile_focus", "dek", "key_points", "headline", "body", "domain_summary",
    "public_role", "operating_surface", "what_it_does", "why_it_matters", "criticality", "time_horizon",
    "what_to_watch", "public_view", "caveats",
)


class InstitutionResource(BulkResource):
    """Profiles, keyed by slug: new slugs are created as drafts, known ones edited under the lock."""

    slug = fields.Field(attribute="slug", column_name="slug", widget=widgets.CharWidget())
    name = text_field("name")
    type = text_field("type", Institution)
    base_region = text_field("base_region", Institution)
    profile_focus = text_field("profile_focus", Institution)
    dek = text_field("dek")
    key_points = text_field("key_points")
    headline = text_field("headline")
    body = text_field("body")
    domain_summary = text_field("domain_summary")
    public_role = text_field("public_role")
    operating_surface = text_field("operating_surface")
    what_it_does = text_field("what_it_does")
    why_it_matters = text_field("why_it_matters")
    criticality = text_field("criticality", Institution)
    time_horizon = text_field("time_horizon", Institution)
    what_to_watch = text_field("what_to_watch")
    public_view = text_field("public_view")
    caveats = text_field("caveats")
    sectors = fields.Field(attribute="sectors", column_name="sectors", widget=SectorsWidget())
    status = fields.Field(attribute="status", column_name="status", widget=widgets.CharWidget(), readonly=True)
    published_at = fields.Field(
        attribute="published_at", column_name="published_at", widget=widgets.DateTimeWidget(), readonly=True
    )
    version = fields.Field(attribute="version", column_name="version", widget=widgets.IntegerWidget(), readonly=True)

    export_only = ("status", "published_at", "version")
    required_columns = ("slug",)

    class Meta:
        model = Institution
        fields = ("slug", *INSTITUTION_TEXT, "sectors", "status", "published_at", "version")
        import_id_fields = ("slug",)

    def before_import(self, dataset, **kwargs):
        slugs = column_values(dataset, "slug")
        self.existing = {i.slug: i for i in Institution.objects.filter(slug__in=slugs)} if slugs else {}
        if self.existing:
            editable = permissions.editable_institutions(
                self.user, Institution.objects.filter(pk__in=[i.pk for i in self.existing.values()])
            )
            self.editable_ids = set(editable.values_list("pk", flat=True))
        sectors = set()
        for value in column_values(dataset, "sectors"):
            sectors.update(part.strip() for part in value.split(",") if part.strip())
        self.fields["sectors"].widget.table = (
            {sector.slug: sector for sector in Sector.objects.filter(slug__in=sectors)} if sectors else {}
        )

    def instance_key(self, row):
        return cell(row.get("slug"))

    def existing_instances(self, dataset) -> dict:
        return self.existing

    def row_problems(self, instance, row, *, new: bool) -> dict[str, str]:
        problems = {}
        if not new and instance.pk not in self.editable_ids:
            problems["slug"] = self.not_yours(instance)
        status = cell(row.get("status"))
        if new and status not in ("", Institution.Status.DRAFT):
            problems["status"] = (
                "An imported profile starts as a draft: leave status empty (or “draft”) and publish it "
                "from its form, where the publication checklist is."
            )
        elif not new and status and status != instance.status:
            problems["status"] = (
                f"Import never changes a profile's status (it is “{instance.status}”): publish, unpublish "
                "or archive it from its form, where the publication checklist is."
            )
        version = cell(row.get("version"))
        if not new and version and version != str(instance.version):
            stale = services.stale_edit_for(instance.pk)
            problems["version"] = (
                f"The file was made from version {version}, but the profile is at version {instance.version}: "
                f"{stale.editor_name if stale else 'someone'} saved it since. Export it again and redo your changes."
            )
        if "sectors" in row:
            try:
                self.fields["sectors"].clean(row)
            except ValueError as error:
                problems["sectors"] = str(error)
        return problems

    def save_through_service(self, instance, is_create, row) -> None:
        if is_create:
            instance.status = Institution.Status.DRAFT
            instance.published_at = None
            services.save_institution(institution=instance, user=self.user)
        else:
            services.save_institution(institution=instance, user=self.user, form_version=instance.version)

    def export_queryset(self):
        return permissions.institutions_for_staff(self.user).prefetch_related("sectors").order_by("pk")


# --- evidence ---------------------------------------------------------------------------------------


class EvidenceResource(BulkResource):
    """Evidence items: an empty `id` adds one (submitted for review), a known id edits it."""

    id = fields.Field(attribute="id", column_name="id", widget=widgets.IntegerWidget(), readonly=True)
    institution = fields.Field(attribute="institution", column_name="institution", widget=LookupWidget("profile"))
    url = text_field("url")
    publisher = text_field("publisher")
    title = text_field("title")
    source_date = fields.Field(
        attribute="source_date", column_name="source_date", widget=widgets.DateWidget(DATE_FORMAT)
    )
    retrieved_at = fields.Field(
        attribute="retrieved_at",
        column_name="retrieved_at",
        widget=widgets.DateWidget(DATE_FORMAT),
        default=model_default(EvidenceItem, "retrieved_at"),
    )
    claim = text_field("claim")
    quote = text_field("quote")
    archive_url = text_field("archive_url")
    kind = text_field("kind", EvidenceItem)
    required_tier = fields.Field(
        attribute="required_tier", column_name="required_tier", widget=LookupWidget("membership tier")
    )
    review_state = fields.Field(
        attribute="review_state", column_name="review_state", widget=widgets.CharWidget(), readonly=True
    )

    export_only = ("id", "review_state")
    required_columns = ("institution",)

    class Meta:
        model = EvidenceItem
        fields = (
            "id", "institution", "url", "publisher", "title", "source_date", "retrieved_at", "claim", "quote",
            "archive_url", "kind", "required_tier", "review_state",
        )
        import_id_fields = ("id",)

    def before_import(self, dataset, **kwargs):
        self.fill_institutions(dataset, "institution")
        self.fill_tiers(dataset, "required_tier")

    def instance_key(self, row):
        return cell(row.get("id"))

    def existing_instances(self, dataset) -> dict:
        ids = as_ids(column_values(dataset, "id"))
        if not ids:
            return {}
        mine = EvidenceItem.objects.filter(pk__in=ids, institution__in=permissions.editable_institutions(self.user))
        return {str(item.pk): item for item in mine.select_related("institution", "required_tier")}

    def row_problems(self, instance, row, *, new: bool) -> dict[str, str]:
        problems = {}
        number = cell(row.get("id"))
        if new and number:
            problems["id"] = (
                f"No evidence item #{number} among the profiles you edit: leave id empty to add a new item."
            )
        if instance.institution_id is not None and instance.institution_id not in self.editable_ids:
            problems.setdefault("institution", self.not_yours(instance.institution))
        return problems

    def save_through_service(self, instance, is_create, row) -> None:
        services.save_reviewed_item(item=instance, user=self.user)

    def export_queryset(self):
        items = EvidenceItem.objects.select_related("institution", "required_tier").order_by("pk")
        return items.filter(institution__in=permissions.institutions_for_staff(self.user))


# --- relationships ----------------------------------------------------------------------------------


class RelationshipResource(BulkResource):
    """Ties between profiles, keyed by (source, target, kind): new ones are submitted for review."""

    source = fields.Field(attribute="source", column_name="source", widget=LookupWidget("profile"))
    target = fields.Field(attribute="target", column_name="target", widget=LookupWidget("profile"))
    kind = text_field("kind")
    description = text_field("description")
    since = fields.Field(attribute="since", column_name="since", widget=widgets.DateWidget(DATE_FORMAT))
    evidence = fields.Field(
        attribute="evidence", column_name="evidence", widget=LookupWidget("evidence item of yours", key="pk")
    )
    review_state = fields.Field(
        attribute="review_state", column_name="review_state", widget=widgets.CharWidget(), readonly=True
    )

    export_only = ("review_state",)
    required_columns = ("source", "target", "kind")

    class Meta:
        model = Relationship
        fields = ("source", "target", "kind", "description", "since", "evidence", "review_state")
        import_id_fields = ("source", "target", "kind")

    def before_import(self, dataset, **kwargs):
        self.fill_institutions(dataset, "source", "target")
        ids = as_ids(column_values(dataset, "evidence"))
        mine = EvidenceItem.objects.filter(pk__in=ids, institution__in=permissions.editable_institutions(self.user))
        self.lookup("evidence").table = {str(item.pk): item for item in mine} if ids else {}

    def instance_key(self, row):
        return (cell(row.get("source")), cell(row.get("target")), cell(row.get("kind")))

    def existing_instances(self, dataset) -> dict:
        named = column_values(dataset, "source")
        sources = [i.pk for slug, i in self.lookup("source").table.items() if slug in named]
        if not sources:
            return {}
        ties = Relationship.objects.filter(source_id__in=sources).select_related("source", "target", "evidence")
        return {(tie.source.slug, tie.target.slug, tie.kind): tie for tie in ties}

    def row_problems(self, instance, row, *, new: bool) -> dict[str, str]:
        if instance.source_id is not None and instance.source_id not in self.editable_ids:
            return {"source": self.not_yours(instance.source)}
        return {}

    def save_through_service(self, instance, is_create, row) -> None:
        services.save_reviewed_item(item=instance, user=self.user)

    def export_queryset(self):
        ties = Relationship.objects.select_related("source", "target", "evidence").order_by("pk")
        return ties.filter(source__in=permissions.institutions_for_staff(self.user))


RESOURCES = {
    "institutions": InstitutionResource,
    "evidence": EvidenceResource,
    "relationships": RelationshipResource,
}
