"""Authentication backends that load a signed-in user and their reader row in one query.

Every signed-in page needs both the user (Django's session authentication) and the reader's
level, e-mail state and open application (`membership.readers`). These backends are Django's and
allauth's own, except that `get_user` — called once per request to restore the session's user —
returns the user exactly as `readers.reader_users().get(pk=…)` would, its reader row as the
annotations named by `READER_COLUMNS`, so the gate costs no query of its own (`readers.reader_for`).
Staff get the same columns: until their session passes MFA they read at their membership level.
Whatever a backend refuses (inactive users) it still refuses. The query's SQL is compiled once per
process (`prepared.PreparedQuery`).
"""

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.core.exceptions import ValidationError
from django.db import connections, router

from .readers import USER_AND_READER_ROW, load_reader_row, set_reader_columns


def load_user_and_reader_row(user_id):
    """The user with `pk=user_id` (None if there is none), carrying its reader row as annotations."""
    User = get_user_model()
    try:
        pk = User._meta.pk.to_python(user_id)
    except ValidationError:  # a tampered session may hold anything
        return None
    if pk is None:
        return None
    connection = connections[router.db_for_read(User)]
    row = load_reader_row(connection, pk, query=USER_AND_READER_ROW)
    if row is None:
        return None
    fields = User._meta.concrete_fields
    user = User.from_db(connection.alias, [f.attname for f in fields], row[: len(fields)])
    set_reader_columns(user, row[len(fields) :])
    return user


class ReaderRowMixin:
    def get_user(self, user_id):
        user = load_user_and_reader_row(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class ModelBackend(ReaderRowMixin, DjangoModelBackend):
    """Django's username/password backend (the admin's login form)."""


class AuthenticationBackend(ReaderRowMixin, AllauthBackend):
    """allauth's e-mail login backend."""
