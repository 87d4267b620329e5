"""Sources that stay true: approved evidence is captured (and, later, archived and re-checked).

- `addresses.py` the SSRF guard: which resolved addresses a fetch may connect to (public ones only).
- `text.py`      a page's readable text and title, and the hash later checks compare.
- `fetch.py`     one safe fetch (`fetch(url)` → `FetchResult`): http(s) only, timeouts and a deadline,
                 a size limit, redirects re-checked and recorded, one DNS lookup per hop pinned for
                 the connection; never raises for a bad source.
- `capture.py`   capture on approval: one `SourceCheck` per approval, made outside any transaction.
- `tasks.py`     the background jobs: `capture_source`, enqueued in the approval's transaction.

The rows they write are `profiles.models.SourceCheck` (staff-only); settings `BTW_FETCH_*`.
"""
