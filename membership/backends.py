"""Authentication backends that load a signed-in user and their reader row in one query.

Every signed-in page needs both the user (Django's session authentication) and the reader's
level, e-mail state and open application (`membership.gating`). These backends are Django's and
allauth's own, except that `get_user` — called once per request to restore the session's user —
fetches the user row together with those reader columns, so the gate costs no query of its own.
Whatever a backend refuses (inactive users) it still refuses.
"""

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend

from .gating import reader_query, reader_row


def load_user_and_reader_row(user_id):
    """The user with `pk=user_id` (None if there is none), carrying its reader row."""
    User = get_user_model()
    try:
        pk = User._meta.pk.to_python(user_id)
    except Exception:  # a tampered session may hold anything
        return None
    sql, params = reader_query(pk, user_columns="u.*,")
    user = next(iter(User._default_manager.raw(sql, params)), None)
    if user is not None:
        user._btw_reader_row = reader_row(user.btw_level, user.btw_verified, user.btw_pending_since)
    return user


class ReaderRowMixin:
    def get_user(self, user_id):
        user = load_user_and_reader_row(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class ModelBackend(ReaderRowMixin, DjangoModelBackend):
    """Django's username/password backend (the admin's login form)."""


class AuthenticationBackend(ReaderRowMixin, AllauthBackend):
    """allauth's e-mail login backend."""
