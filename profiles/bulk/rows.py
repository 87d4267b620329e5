"""Raw rows into tables, as fast as the database takes them: for synthetic data at scale only.

`seed_scale` writes millions of rows (400,000 profiles, 4,000,000 evidence items). Built as model
instances and sent through `bulk_create`, nine tenths of its time went on Python: `Model.__init__`
and compiling each value of each row into SQL parameters. Here a row is a plain tuple of the
columns the caller names; every other column gets its field's default, computed once per call.

- On PostgreSQL the rows stream in with `COPY … FROM STDIN` (binary-free text protocol, adapted by
  psycopg), and ids come from the table's own sequence (`allocate_ids`), so children can point at
  parents before either is written and the sequence stays ahead of every id used.
- Elsewhere (SQLite: tests and `make run`) the same tuples go through `bulk_create`.

No signals are sent and no `save()` runs, exactly as with `bulk_create`: a caller that needs the
change log, the search vectors or the page caches brought up to date does it after (seed_scale does).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection
from django.utils import timezone

#: Field types whose Python values psycopg adapts as they are (no `get_db_prep_save` per value).
PLAIN_TYPES = frozenset(
    {
        "AutoField", "BigAutoField", "BigIntegerField", "BooleanField", "CharField", "DateField",
        "DateTimeField", "EmailField", "ForeignKey", "IntegerField", "OneToOneField",
        "PositiveIntegerField", "PositiveSmallIntegerField", "SlugField", "SmallIntegerField",
        "TextField", "URLField",
    }
)


def allocate_ids(model, count: int) -> list[int]:
    """`count` fresh primary keys for `model`, reserved before its rows are written."""
    if count <= 0:
        return []
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)", [table, pk, count]
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite has one writer at a time; inside the caller's transaction the range is ours.
        quote = connection.ops.quote_name
        cursor.execute(f"SELECT COALESCE(MAX({quote(pk)}), 0) FROM {quote(table)}")  # noqa: S608 (names, quoted)
        start = cursor.fetchone()[0] + 1
        return list(range(start, start + count))


def _defaults(model, given: Sequence[str]) -> dict[str, object]:
    """Every concrete column the caller does not give, with its field's default (Python form)."""
    now = timezone.now()
    values = {}
    for field in model._meta.concrete_fields:
        if field.attname in given or field.primary_key:
            continue
        auto = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        values[field.attname] = now if auto else field.get_default()
    return values


def write_rows(model, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Insert `rows` (tuples in the order of `columns`, which are field attnames) into `model`'s
    table; columns not named get their field's default. Returns how many rows were written."""
    defaults = _defaults(model, columns)
    if connection.vendor != "postgresql":
        objects = [model(**dict(zip(columns, row, strict=True)), **defaults) for row in rows]
        model.objects.bulk_create(objects, batch_size=500)
        return len(objects)
    fields = [model._meta.get_field(name) for name in columns]  # get_field knows attnames ("institution_id") too
    prepare = [None if f.get_internal_type() in PLAIN_TYPES else f for f in fields]
    tail = tuple(model._meta.get_field(name).get_db_prep_save(value, connection) for name, value in defaults.items())
    quote = connection.ops.quote_name
    names = ", ".join(quote(model._meta.get_field(name).column) for name in [*columns, *defaults])
    needs_prep, written = any(prepare), 0
    sql = f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            if needs_prep:
                row = [v if f is None else f.get_db_prep_save(v, connection) for v, f in zip(row, prepare, strict=True)]
            copy.write_row((*row, *tail))
            written += 1
    return written
