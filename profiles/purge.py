"""Telling a CDN in front to drop what changed, by surrogate key (the dependency tags of
`profiles.dependencies`, which anonymous responses name in `Surrogate-Key` / `Cache-Tag`).

Off unless a purger is configured. (Backends — Varnish with xkey, Fastly, Cloudflare — to come.)
"""

from __future__ import annotations


def after_commit(tags: tuple[str, ...]) -> None:
    """Purge `tags` once the change that retired them commits (nothing when no CDN is configured)."""
    return None
