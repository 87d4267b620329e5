"""An uploaded file between its preview and its confirmation, kept server-side under a token.

The confirmation posts only the token: the file never travels back in a hidden field, and the
confirmation re-runs the import (re-validating every row) on exactly the bytes that were previewed.
The file waits in the shared cache (Redis, or the database cache table) for an hour; a token opens
only the upload of the staff member who made it. A cache that lost it (evicted, restarted) means
"upload the file again", never a wrong import.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core.cache import cache

TIMEOUT = 60 * 60
PREFIX = "bulk-import-upload:"


@dataclass(frozen=True)
class Upload:
    user_id: int
    kind: str
    fmt: str
    filename: str
    content: bytes


def keep(upload: Upload) -> str:
    token = secrets.token_urlsafe(24)
    cache.set(PREFIX + token, upload.__dict__, TIMEOUT)
    return token


def find(token: str, user) -> Upload | None:
    """The upload behind `token`, if it is still kept and belongs to `user`."""
    if not token or len(token) > 64:
        return None
    data = cache.get(PREFIX + token)
    if not isinstance(data, dict) or data.get("user_id") != user.pk:
        return None
    return Upload(**data)


def discard(token: str) -> None:
    cache.delete(PREFIX + token)
