"""Several lists in one round trip: each queryset's rows come back as a JSON array built by the database.

A page that shows eight short lists of one parent would otherwise pay a round trip per list (one per
prefetch). `fetch_lists` compiles each queryset as the ORM would run it (filters, joins, order,
slice), wraps it in a scalar sub-select that aggregates its rows into one JSON array (PostgreSQL
`json_agg`, SQLite `json_group_array`) and runs them all as a single SELECT. The rows come back as
ordinary model instances (`Model.from_db`), the foreign keys named in `related` attached, so
templates and model methods work as they would after a prefetch.

Only the fields asked for are loaded: touching another one would cost a query per row, which the
pages' query-budget tests would catch. Each row carries its position in its queryset, so the order
is the queryset's own whatever the aggregate does.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections, models
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

#: JSON aggregate and row constructor per database vendor.
_JSON_SQL = {
    "postgresql": ("json_agg", "json_build_array"),
    "sqlite": ("json_group_array", "json_array"),
    "mysql": ("json_arrayagg", "json_array"),
}
_POSITION = "btw_pos"


@dataclass(frozen=True)
class Rows:
    """One list to fetch: a queryset, the fields of its model to load (None: every concrete
    field), and foreign keys to attach with the fields of their rows (None: every field)."""

    queryset: models.QuerySet
    fields: tuple[str, ...] | None = None
    related: dict[str, tuple[str, ...] | None] = field(default_factory=dict)

    def columns(self) -> list[tuple[str | None, models.Field]]:
        """(foreign key or None, field) for every column, the model's own first, in field order."""
        model = self.queryset.model
        out = [(None, f) for f in _concrete(model, self.fields)]
        for name, names in self.related.items():
            out += [(name, f) for f in _concrete(model._meta.get_field(name).related_model, names)]
        return out


def _concrete(model, names) -> list[models.Field]:
    """The model's concrete fields among `names` (every one when None), primary key included,
    in the model's field order (the order `Model.from_db` expects)."""
    wanted = None if names is None else {model._meta.get_field(n).attname for n in names}
    return [
        f for f in model._meta.concrete_fields
        if wanted is None or f.attname in wanted or f.primary_key
    ]


def fetch_lists(**lists: Rows) -> dict[str, list[models.Model]]:
    """Run every queryset in one SELECT; return each one's rows as model instances, in its order."""
    if not lists:
        return {}
    connection = connections[next(iter(lists.values())).queryset.db]
    try:
        aggregate, row = _JSON_SQL[connection.vendor]
    except KeyError:
        raise NotImplementedError(f"fetch_lists does not support {connection.vendor}") from None
    parts, params, plans = [], [], []
    for name, spec in lists.items():
        columns = spec.columns()
        sql, sub_params = _compiled(spec.queryset, columns)
        values = ", ".join(connection.ops.quote_name(a) for a in [_POSITION, *_aliases(columns)])
        # The sub-select is the ORM's own compiled SQL; the rest is fixed text and quoted aliases.
        parts.append(f"(SELECT {aggregate}({row}({values})) FROM ({sql}) btw_rows)")  # noqa: S608
        params.extend(sub_params)
        plans.append((name, spec, columns))
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        found = cursor.fetchone()
    return {
        name: _instances(spec, columns, _decoded(raw), connection.alias)
        for (name, spec, columns), raw in zip(plans, found, strict=True)
    }


def _aliases(columns) -> list[str]:
    return [f"btw_c{n}" for n in range(len(columns))]


def _compiled(queryset, columns):
    """The queryset's own SQL selecting just these columns (and each row's position in its order)."""
    query = queryset.query
    ordering = list(query.order_by) or (list(queryset.model._meta.ordering) if query.default_ordering else [])
    ordering = ordering or ["pk"]
    selected = {
        alias: F(f.attname if path is None else f"{path}__{f.attname}")
        for alias, (path, f) in zip(_aliases(columns), columns, strict=True)
    }
    selected[_POSITION] = Window(RowNumber(), order_by=ordering)
    return queryset.values(**selected).query.sql_with_params()


def _decoded(raw) -> list:
    if raw is None:  # PostgreSQL aggregates no rows to NULL
        return []
    return json.loads(raw) if isinstance(raw, str | bytes) else raw


def _to_python(f: models.Field, value):
    if value is None:
        return None
    value = f.to_python(value)
    if isinstance(f, models.DateTimeField) and settings.USE_TZ and timezone.is_naive(value):
        value = timezone.make_aware(value, datetime.UTC)  # SQLite keeps UTC datetimes as naive text
    return value


def _instances(spec: Rows, columns, rows: list, alias: str) -> list[models.Model]:
    rows = sorted(rows, key=lambda r: r[0])
    own = [f for path, f in columns if path is None]
    related = {
        name: (fk := spec.queryset.model._meta.get_field(name), [f for path, f in columns if path == name])
        for name in spec.related
    }
    out = []
    for row in rows:
        values = iter(row[1:])
        obj = spec.queryset.model.from_db(alias, [f.attname for f in own], [_to_python(f, next(values)) for f in own])
        for fk, fields in related.values():
            data = [_to_python(f, next(values)) for f in fields]
            pk = data[[f.primary_key for f in fields].index(True)]
            target = None if pk is None else fk.related_model.from_db(alias, [f.attname for f in fields], data)
            fk.set_cached_value(obj, target)
        out.append(obj)
    return out
