"""Sources that stay true: approved evidence is captured, archived and re-checked.

- `addresses.py` the SSRF guard: which resolved addresses a fetch may connect to (public ones only).
- `text.py`      a page's readable text and title, and the hash later checks compare.
- `fetch.py`     one safe fetch (`fetch(url)` → `FetchResult`): http(s) only, timeouts and a deadline,
                 a size limit, redirects re-checked and recorded, one DNS lookup per hop pinned for
                 the connection; never raises for a bad source.
- `capture.py`   capture on approval: one `SourceCheck` per approval, made outside any transaction.
- `tasks.py`     the background jobs: `capture_source`, enqueued in the approval's transaction.
- `state.py`     the one place a fetch is judged against the verified one (ok / moved / changed / gone)
                 and the item's `source_state` moved (a history row); a moderator's "accept" and
                 "acknowledge".
- `recheck.py`   `check_sources`: due sources claimed for a lease, one request at a time per host,
                 conditional requests, `Retry-After` remembered per host, a budget per run.
- `archive.py`   the archive service (Save Page Now 2 compatible, off by default): one step per job,
                 every fault recorded and retried with backoff.
- `alerts.py`    the moderators' list of sources to re-verify and the word diff they read.

The rows they write: `SourceCheck` (each fetch), `TrackedSource` and `SourceHost` (bookkeeping), all
staff-only, and the evidence item's `source_state` / `source_verified_at` / `snapshot_url`, which
readers see. Settings `BTW_FETCH_*`, `BTW_SOURCE_*`, `BTW_ARCHIVE_*`.
"""
