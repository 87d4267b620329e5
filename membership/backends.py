"""Authentication backends that load a signed-in user and their reader row in one query.

Every signed-in page needs both the user (Django's session authentication) and the reader's
level, e-mail state and open application (`membership.gating`). These backends are Django's and
allauth's own, except that `get_user` — called once per request to restore the session's user —
fetches the user row together with those reader columns, so the gate costs no query of its own.
Staff get the same columns: until their session passes MFA they read at their membership level.
Whatever a backend refuses (inactive users) it still refuses.
"""

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.core.exceptions import ValidationError
from django.db import connections, router

from .gating import db_value, reader_query, reader_row


def load_user_and_reader_row(user_id):
    """The user with `pk=user_id` (None if there is none), carrying its reader row."""
    User = get_user_model()
    try:
        pk = User._meta.pk.to_python(user_id)
    except ValidationError:  # a tampered session may hold anything
        return None
    if pk is None:
        return None
    connection = connections[router.db_for_read(User)]
    fields = User._meta.concrete_fields
    columns = "".join(f"u.{connection.ops.quote_name(f.column)}, " for f in fields)
    sql, params = reader_query(pk, user_columns=columns)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = [db_value(connection, f, value) for f, value in zip(fields, row, strict=False)]
    user = User.from_db(connection.alias, [f.attname for f in fields], values)
    user._btw_reader_row = reader_row(connection, *row[len(fields):])
    return user


class ReaderRowMixin:
    def get_user(self, user_id):
        user = load_user_and_reader_row(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class ModelBackend(ReaderRowMixin, DjangoModelBackend):
    """Django's username/password backend (the admin's login form)."""


class AuthenticationBackend(ReaderRowMixin, AllauthBackend):
    """allauth's e-mail login backend."""
