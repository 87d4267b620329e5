"""Querysets compiled to SQL once per process, then run with fresh values: the fast form of a rule
that runs on every signed-in page, generated from its readable queryset (never restated by hand)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from .models import Membership


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple
    #: (value name, model field that prepares it, its positions among `params`)
    slots: tuple[tuple[str, models.Field, tuple[int, ...]], ...]
    #: (column position, converters, expression): what the ORM would do to each value it reads
    converters: tuple[tuple[int, list, object], ...]
    columns: tuple[str, ...]


class PreparedQuery:
    """A queryset compiled to SQL once per process and database, then run with fresh values.

    The rules live in querysets. A few run on every signed-in page, where compiling the queryset
    cost more than running its SQL; so `build(**values)` builds the readable queryset once, with a
    sentinel for each value, and the positions of the sentinels among the compiled parameters are
    noted. Each call copies the parameters, puts its own values there (prepared by the model field
    they are compared with, as the ORM would) and runs the SQL; rows come back converted as the ORM
    converts them. `slots` name each value: ``name=(lambda: model field, sentinel)``.
    """

    def __init__(
        self,
        build: Callable[..., models.QuerySet],
        *,
        columns: Callable[[], list[str]] | None = None,
        **slots: tuple[Callable[[], models.Field], object],
    ):
        self._build = build
        self._expected_columns = columns
        self._slots = slots
        self._compiled: dict[str, _Compiled] = {}

    def compiled(self, connection) -> _Compiled:
        found = self._compiled.get(connection.alias)
        if found is None:
            found = self._compiled[connection.alias] = self._compile(connection)
        return found

    def _compile(self, connection) -> _Compiled:
        sentinels = {name: value() if callable(value) else value for name, (_, value) in self._slots.items()}
        compiler = self._build(**sentinels).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        slots = []
        for name, (get_field, _) in self._slots.items():
            prepared = get_field().get_db_prep_value(sentinels[name], connection, prepared=False)
            positions = tuple(i for i, p in enumerate(params) if type(p) is type(prepared) and p == prepared)
            if not positions:
                raise ImproperlyConfigured(f"{name!r} is not a parameter of the compiled query: {sql}")
            slots.append((name, get_field(), positions))
        expressions = [expression for expression, _, _ in compiler.select]
        columns = tuple(alias or expression.target.attname for expression, _, alias in compiler.select)
        if self._expected_columns is not None and list(columns) != list(self._expected_columns()):
            raise ImproperlyConfigured(f"Unexpected columns {columns} in {sql}")
        converters = tuple(
            (pos, convs, expression) for pos, (convs, expression) in compiler.get_converters(expressions).items()
        )
        return _Compiled(sql, tuple(params), tuple(slots), converters, columns)

    def rows(self, connection, **values) -> list[list]:
        compiled = self.compiled(connection)
        params = list(compiled.params)
        for name, model_field, positions in compiled.slots:
            value = model_field.get_db_prep_value(values[name], connection, prepared=False)
            for pos in positions:
                params[pos] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        out = []
        for row in map(list, rows):
            for pos, convs, expression in compiled.converters:
                value = row[pos]
                for converter in convs:
                    value = converter(value, expression, connection)
                row[pos] = value
            out.append(row)
        return out


#: Sentinels planted where a prepared query takes its per-call values: no row has a negative key,
#: and no rule compares with a moment of 1903.
_SENTINEL_PK = -7_340_021


def _sentinel_now() -> datetime.datetime:
    return datetime.datetime(1903, 2, 5, 7, 11, 13, 170_219, tzinfo=datetime.UTC if settings.USE_TZ else None)


def user_pk_slot():
    """The slot of a user's key (``user_pk=user_pk_slot()``)."""
    return (lambda: get_user_model()._meta.pk, _SENTINEL_PK)


def now_slot():
    """The slot of the moment a rule is asked at (``now=now_slot()``), prepared as membership dates are."""
    return (lambda: Membership._meta.get_field("ends_at"), _sentinel_now)
