"""The public data layer: the read API (`/api/v1/`), its change stream and the bulk dumps.

- `visibility`: what each resource shows a reader — the one definition every output of the data
  layer (list, detail, change stream, dump) filters with, built on the gate's querysets.
- `serializers`: how a resource is written out; Markdown keeps only the citations its reader may see.
- `filters`, `pagination`, `conditional`, `errors`: the API's query parameters, cursor pages,
  ETag/304 and Cache-Control, and JSON error bodies.
- `views`, `urls`: the endpoints; `changes`: the change stream with tombstones; `docs`: the schema's
  readable page.

Readers are who `membership.readers.member_reader` says: anonymous, or a member through a token or
a session, at the level of their memberships — never with staff sight, so the data layer never
shows a draft, a pending item or anything above the reader's tier.
"""
